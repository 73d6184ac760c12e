"""The build core on a real engine: the real Dockerfiles, built by `invoke`, then run."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request

import pytest

from buildlib import config as config_module
from buildlib.git import Git
from tests.conftest import REPO, invoke

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stand_ins", "uv_lock")]

CONFIG = config_module.load(REPO)


def labels(docker_bin: str, reference: str) -> dict[str, str]:
    out = subprocess.run(
        [docker_bin, "image", "inspect", "--format", "{{json .Config.Labels}}", reference],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def exists(docker_bin: str, reference: str) -> bool:
    return (
        subprocess.run([docker_bin, "image", "inspect", reference], capture_output=True).returncode
        == 0
    )


@pytest.mark.parametrize("name", ["gpu", "cpu", "lb"])
def test_build_each_image_with_labels(name, docker_bin, task_env, unique_tag, cleanup_images):
    image = CONFIG.image(name)
    reference = f"{image.repository}:{unique_tag}"
    cleanup_images.append(reference)

    result = invoke(f"build-{name}", "--tag", unique_tag, env=task_env)

    assert result.returncode == 0, result.stderr[-2000:]
    assert exists(docker_bin, reference)
    found = labels(docker_bin, reference)
    # a local build is no release: its version label is its tag, not the pyproject version
    assert found["org.opencontainers.image.version"] == unique_tag
    assert found["org.opencontainers.image.title"] == image.title
    assert found["org.opencontainers.image.source"] == CONFIG.source
    head = Git(REPO).head()
    assert found["org.opencontainers.image.revision"] == (head or "unknown")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", found["org.opencontainers.image.created"]
    )
    assert f"built {name}: {reference}" in result.stderr


def test_build_default_group_leaves_lb_out(docker_bin, task_env, unique_tag, cleanup_images):
    cleanup_images.extend(f"{i.repository}:{unique_tag}" for i in CONFIG.images)

    result = invoke("build", "--tag", unique_tag, env=task_env)

    assert result.returncode == 0, result.stderr[-2000:]
    assert exists(docker_bin, f"runpod/tetra-rp:{unique_tag}")
    assert exists(docker_bin, f"runpod/tetra-rp-cpu:{unique_tag}")
    assert not exists(docker_bin, f"runpod/tetra-rp-lb:{unique_tag}")


def test_build_all_and_tag_from_environment(docker_bin, task_env, unique_tag, cleanup_images):
    cleanup_images.extend(f"{i.repository}:{unique_tag}" for i in CONFIG.images)

    result = invoke("build", "--all", env={**task_env, "TETRA_IMAGE_TAG": unique_tag})

    assert result.returncode == 0, result.stderr[-2000:]
    for image in CONFIG.images:
        assert exists(docker_bin, f"{image.repository}:{unique_tag}")


def test_cpu_handler_answers_a_test_job(docker_bin, task_env, unique_tag, cleanup_images):
    reference = f"runpod/tetra-rp-cpu:{unique_tag}"
    cleanup_images.append(reference)
    assert invoke("build-cpu", "--tag", unique_tag, env=task_env).returncode == 0
    job = {
        "id": "t1",
        "input": {
            "function_name": "square",
            "function_code": "def square(x):\n    return x * x\n",
            "args": [12],
        },
    }

    run = subprocess.run(
        [
            docker_bin,
            "run",
            "--rm",
            reference,
            "python",
            "-m",
            "worker.handler",
            "--test-input",
            json.dumps(job),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["success"] is True
    assert answer["result"] == 144


def test_lb_container_answers_ping(docker_bin, task_env, unique_tag, cleanup_images):
    reference = f"runpod/tetra-rp-lb:{unique_tag}"
    cleanup_images.append(reference)
    assert invoke("build-lb", "--tag", unique_tag, env=task_env).returncode == 0
    container = subprocess.run(
        [docker_bin, "run", "-d", "--rm", "-p", "127.0.0.1::80", reference],
        capture_output=True,
        text=True,
        check=True,
    )
    container_id = container.stdout.strip()
    try:
        port = subprocess.run(
            [docker_bin, "port", container_id, "80/tcp"], capture_output=True, text=True, check=True
        )
        address = port.stdout.strip().splitlines()[0]
        url = f"http://{address}"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        body = None
        for _ in range(50):
            try:
                with opener.open(f"{url}/ping", timeout=2) as response:
                    body = json.loads(response.read())
                    status = response.status
                break
            except OSError:
                time.sleep(0.2)
        assert body == {"status": "healthy"} and status == 200
        job = json.dumps(
            {
                "input": {
                    "function_name": "add",
                    "args": [2, 3],
                    "function_code": "def add(a, b):\n    return a + b\n",
                }
            }
        )
        request = urllib.request.Request(
            f"{url}/execute", data=job.encode(), headers={"Content-Type": "application/json"}
        )
        with opener.open(request, timeout=10) as response:
            assert json.loads(response.read())["result"] == 5
    finally:
        subprocess.run([docker_bin, "rm", "--force", container_id], capture_output=True)


def test_dry_run_prints_commands_and_builds_nothing(docker_bin, task_env, unique_tag):
    result = invoke("build", "--all", "--tag", unique_tag, "--dry-run", env=task_env)

    assert result.returncode == 0, result.stderr
    assert result.stderr.count(" build --file ") == 3
    assert f"--tag runpod/tetra-rp-lb:{unique_tag}" in result.stderr
    for image in CONFIG.images:
        assert not exists(docker_bin, f"{image.repository}:{unique_tag}")


def test_code_change_rebuilds_only_the_last_layers(
    docker_bin, task_env, unique_tag, cleanup_images, tmp_path
):
    """A one-line change in worker/ reuses the dependency layer from cache."""
    reference = f"runpod/tetra-rp-cpu:{unique_tag}"
    cleanup_images.append(reference)
    assert invoke("build-cpu", "--tag", unique_tag, env=task_env).returncode == 0
    marker = REPO / "worker" / "_cache_probe.py"
    marker.write_text(f"PROBE = {unique_tag!r}\n")
    try:
        result = invoke("build-cpu", "--tag", unique_tag, env=task_env)
    finally:
        marker.unlink()
    assert result.returncode == 0, result.stderr[-2000:]
    log = result.stderr
    if "DOCKER_BUILDKIT=1" not in log:
        pytest.skip("layer-level cache report needs BuildKit's plain progress output")
    install = re.search(r"^#(\d+) \[[^\]]*\] RUN uv export", log, re.M)
    code = re.search(r"^#(\d+) \[[^\]]*\] COPY worker/", log, re.M)
    assert install and code, log[-3000:]
    assert f"#{install.group(1)} CACHED" in log, "the dependency layer was rebuilt"
    assert f"#{code.group(1)} CACHED" not in log, "the code layer was not rebuilt"
    rebuilt = [
        step
        for step in re.findall(r"^#(\d+) \[stage", log, re.M)
        if f"#{step} CACHED" not in log and f"#{step} DONE" in log
    ]
    assert rebuilt == [code.group(1)] or len(rebuilt) <= 2, rebuilt


def test_multi_platform_load_is_a_clear_error(task_env):
    result = invoke("build-lb", "--platform", "linux/amd64,linux/arm64", env=task_env)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "cannot load a multi-platform image" in result.stderr
    assert "invoke push" in result.stderr


def test_legacy_builder_fallback_warns_and_builds(docker_bin, task_env, unique_tag, cleanup_images):
    from buildlib.docker import detect

    legacy = [
        c
        for c in ("/usr/local/bin/docker", "/usr/bin/docker")
        if __import__("os").path.exists(c) and detect(c).builder == "legacy"
    ]
    if not legacy:
        pytest.skip("every docker client here can use BuildKit; no legacy client to test")
    reference = f"runpod/tetra-rp-cpu:{unique_tag}"
    cleanup_images.append(reference)

    env = {**task_env, "BUILDLIB_DOCKER": legacy[0]}
    result = invoke("build-cpu", "--tag", unique_tag, env=env)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "legacy builder" in result.stderr
    assert "DOCKER_BUILDKIT=0" in result.stderr
    assert exists(docker_bin, reference)
