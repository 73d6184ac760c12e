"""Malformed configuration and flags through the real CLI (``python -m invoke``) in a
repository made in ``tmp_path``: a non-zero exit, no traceback, and exactly one ``error:``
line that names the location and the fix."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import invoke as run_invoke
from tests.conftest import unavailable
from tests.support.config_repo import write_repo

REPO = Path(__file__).resolve().parents[2]


def make_repo(root: Path, old: str | None = None, new: str = "") -> Path:
    return write_repo(root, old, new, with_tasks=True)


def cli_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BUILDLIB_", "TETRA_", "GITHUB_", "DOCKERHUB_", "FORCE_COLOR"))
        and k not in ("HF_TOKEN", "UNSET_VAR")
    }
    env.update(PYTHONPATH=str(REPO), NO_COLOR="1", **extra)
    return env


def invoke(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_invoke(*args, cwd=cwd, env=cli_env(**env), timeout=120)


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The only ``error:`` line, after checking the exit code and the absence of a traceback."""
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def at_line(path: Path, needle: str) -> str:
    numbers = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(numbers) == 1, (needle, numbers)
    return f"pyproject.toml:{numbers[0]}: "


# (old, new, needle for the location line, message, fix, build-<name> tasks to try too)
CASES = {
    "unknown-key": (
        'default-tag = "local"',
        'default-tag = "local"\ndefualt-group = ["gpu"]',
        "defualt-group",
        "unknown key tool.buildlib.defualt-group (did you mean 'default-group'?)",
        "(fix: valid keys: registry, default-group,",
        (),
    ),
    "unknown-image-key": (
        'dockerfile = "Dockerfile"\n',
        'dockerfile = "Dockerfile"\nplatfroms = ["linux/amd64"]\n',
        "platfroms",
        "unknown key tool.buildlib.images.gpu.platfroms (did you mean 'platforms'?)",
        "(fix: valid keys: repository, dockerfile,",
        ("gpu",),
    ),
    "missing-dockerfile": (
        'dockerfile = "Dockerfile-cpu"',
        'dockerfile = "Dockerfile-gpu"',
        "Dockerfile-gpu",
        "tool.buildlib.images.cpu.dockerfile 'Dockerfile-gpu' does not exist (did you mean "
        "'Dockerfile-cpu'?)",
        "(fix: create Dockerfile-gpu or fix the path (found: Dockerfile, Dockerfile-cpu))",
        ("cpu", "gpu"),
    ),
    "repository-uppercase": (
        '"runpod/tetra-rp-cpu"',
        '"RunPod/tetra-rp-cpu"',
        "RunPod",
        "tool.buildlib.images.cpu.repository 'RunPod/tetra-rp-cpu': it must be lowercase",
        "(fix: use 'runpod/tetra-rp-cpu')",
        ("cpu",),
    ),
    "repository-double-slash": (
        '"runpod/tetra-rp-cpu"',
        '"runpod//x"',
        "runpod//x",
        "tool.buildlib.images.cpu.repository 'runpod//x': it has an empty path component",
        "(fix: use 'runpod/x')",
        (),
    ),
    "repository-leading-dash": (
        '"runpod/tetra-rp-cpu"',
        '"runpod/-x"',
        "runpod/-x",
        "tool.buildlib.images.cpu.repository 'runpod/-x': path component '-x' starts with '-'",
        "(fix: use 'runpod/x')",
        (),
    ),
    "repository-mixed-separator": (
        '"runpod/tetra-rp-cpu"',
        '"runpod/x_-y"',
        "runpod/x_-y",
        "tool.buildlib.images.cpu.repository 'runpod/x_-y': path component 'x_-y' has the "
        "separator '_-'",
        "(fix: use 'runpod/x_y')",
        (),
    ),
    "registry-with-a-path": (
        'registry = "docker.io"',
        'registry = "ghcr.io/org"',
        "registry =",
        "tool.buildlib.registry 'ghcr.io/org': not a registry host[:port] (no scheme, no path)",
        "; the repository part comes from [tool.buildlib.images.*].repository)",
        (),
    ),
    "default-tag": (
        'default-tag = "local"',
        'default-tag = "-local"',
        "default-tag",
        "tool.buildlib.default-tag: invalid Docker tag '-local': it starts with '-'",
        "(fix: use 'local'; a tag is",
        (),
    ),
    "version": (
        'version = "1.2.3"',
        'version = "1.2.x"',
        "version =",
        "invalid PEP 440 version '1.2.x'",
        "(fix: use a version such as '1.2.3'",
        (),
    ),
    "default-group": (
        'default-group = ["gpu", "cpu"]',
        'default-group = ["gpu", "cpuu"]',
        "default-group",
        "tool.buildlib.default-group names unknown image 'cpuu' (did you mean 'cpu'?)",
        "(fix: use names from [tool.buildlib.images]: gpu, cpu)",
        (),
    ),
    "platforms-not-a-list": (
        'platforms = ["linux/amd64"]',
        'platforms = "linux/amd64"',
        "platforms",
        "tool.buildlib.images.gpu.platforms must be a list, not string",
        '(fix: write a list: platforms = ["linux/amd64"])',
        ("gpu",),
    ),
    "platform-string": (
        'platforms = ["linux/amd64"]',
        'platforms = ["linux-amd64"]',
        "platforms",
        "tool.buildlib.images.gpu.platforms: 'linux-amd64' is not os/arch[/variant]",
        '(fix: e.g. platforms = ["linux/amd64", "linux/arm64"])',
        ("gpu",),
    ),
    "git-tag": (
        'git-tag = "v{version}"',
        'git-tag = "release"',
        "git-tag",
        "tool.buildlib.release.git-tag 'release' has no {version} placeholder",
        '(fix: e.g. git-tag = "v{version}"',
        (),
    ),
    "floating-tag": (
        '"major", "latest"]',
        '"majr", "latest"]',
        "floating-tags",
        "tool.buildlib.release.floating-tags: unknown tag pattern 'majr'",
        "(fix: did you mean 'major'? valid patterns:",
        (),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_pyproject(tmp_path: Path, case: str) -> None:
    old, new, needle, message, fix, images = CASES[case]
    path = make_repo(tmp_path, old, new)
    for task in ("build", *(f"build-{name}" for name in images)):
        line = one_error(invoke(tmp_path, task, "--dry-run"))
        assert line.startswith(f"error: {at_line(path, needle)}"), (task, line)
        assert message in line, (task, line)
        assert fix in line, (task, line)
        assert line.endswith(")"), line


def test_toml_syntax_error(tmp_path: Path) -> None:
    make_repo(tmp_path, 'tag-env = "TETRA_IMAGE_TAG"', 'tag-env "TETRA_IMAGE_TAG"')
    for task in ("build", "build-gpu", "build-cpu"):
        proc = invoke(tmp_path, task, "--dry-run")
        line = one_error(proc)
        assert line == (
            "error: pyproject.toml:8:9: invalid TOML: Expected '=' after a key "
            "in a key/value pair (fix: fix the syntax at that position)"
        ), task
        assert proc.returncode == 2


def test_list_works_with_a_toml_error_and_the_task_reports_it(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        'floating-tags = ["major.minor", "major", "latest"]',
        'floating-tags = ["major.minor", ',
    )
    listing = invoke(tmp_path, "--list")
    assert listing.returncode == 0, listing.stderr
    assert "Traceback" not in listing.stderr
    names = set(re.findall(r"^  ([a-z][\w-]*)", listing.stdout, re.MULTILINE))
    assert {"build", "build-gpu", "build-cpu", "push", "release"} <= names
    assert "error:" not in listing.stderr
    line = one_error(invoke(tmp_path, "build-cpu", "--dry-run"))
    assert "invalid TOML" in line and "(fix: fix the syntax at that position)" in line


def test_list_works_with_a_semantic_error(tmp_path: Path) -> None:
    make_repo(tmp_path, '"runpod/tetra-rp-cpu"', '"RunPod/tetra-rp-cpu"')
    listing = invoke(tmp_path, "--list")
    assert listing.returncode == 0, listing.stderr
    assert "build-cpu" in listing.stdout and "build-gpu" in listing.stdout


# --- bad flags and environment on a good pyproject ----------------------------------------


def test_bad_tag_flag(tmp_path: Path) -> None:
    make_repo(tmp_path)
    for task in ("build", "build-cpu"):
        line = one_error(invoke(tmp_path, task, "--dry-run", "--tag", "bad tag"))
        assert line.startswith(
            "error: --tag: invalid Docker tag 'bad tag': character ' ' "
            "is not allowed (fix: use 'bad-tag'"
        ), line


def test_bad_tag_from_the_environment(tmp_path: Path) -> None:
    make_repo(tmp_path)
    line = one_error(invoke(tmp_path, "build", "--dry-run", TETRA_IMAGE_TAG="-bad"))
    assert line.startswith(
        "error: $TETRA_IMAGE_TAG: invalid Docker tag '-bad': it starts with '-' (fix: use 'bad'"
    ), line


def test_a_registry_with_a_token_but_no_host_never_shows_the_token(tmp_path: Path) -> None:
    make_repo(tmp_path)
    flag = invoke(tmp_path, "push", "--tag", "topic", "--registry", "https://ci:s3cr3t-t0ken")
    from_env = invoke(tmp_path, "push", "--tag", "topic", BUILDLIB_REGISTRY="ci:s3cr3t/t0ken")
    for proc, shown in (
        (flag, "--registry https://ci:***"),
        (from_env, "BUILDLIB_REGISTRY=ci:***"),
    ):
        line = one_error(proc)
        assert proc.returncode == 2
        assert (
            "s3cr3t" not in proc.stdout + proc.stderr and "t0ken" not in proc.stdout + proc.stderr
        )
        assert line.startswith(f"error: {shown}: not a registry host[:port]"), line
        assert "(fix: a registry is a host name or address with an optional port" in line


def test_secret_looking_build_arg_is_refused(tmp_path: Path) -> None:
    make_repo(tmp_path)
    line = one_error(invoke(tmp_path, "build-gpu", "--dry-run", "--build-arg", "HF_TOKEN=x"))
    assert line == (
        "error: --build-arg HF_TOKEN looks like a secret (the word TOKEN): build args are "
        "stored in the image history (fix: pass it as a BuildKit secret: "
        "--secret id=hf_token,env=HF_TOKEN; if it holds no secret, allow it: "
        '[tool.buildlib] allow-build-args = ["HF_TOKEN"])'
    )


def test_secret_from_an_unset_variable(tmp_path: Path) -> None:
    make_repo(tmp_path)
    line = one_error(invoke(tmp_path, "build", "--dry-run", "--secret", "id=x,env=UNSET_VAR"))
    assert line == (
        "error: --secret x reads $UNSET_VAR, which is not set "
        "(fix: export UNSET_VAR=... before building)"
    )


def test_bad_build_arg_and_jobs(tmp_path: Path) -> None:
    make_repo(tmp_path)
    line = one_error(invoke(tmp_path, "build", "--dry-run", "--build-arg", "=x"))
    assert line == (
        "error: --build-arg number 1 is not KEY=VALUE with a KEY of letters, digits and _ "
        "(the value is not shown) (fix: e.g. --build-arg BASE_IMAGE=...)"
    )
    line = one_error(invoke(tmp_path, "build", "--dry-run", "--jobs", "0"))
    assert line == "error: --jobs must be at least 1 (fix: --jobs 1 (or --sequential))"
    for task in (["build"], ["push", "--tag", "main"], ["release"]):
        proc = invoke(tmp_path, *task, "--dry-run", "--sequential", "--jobs", "3")
        assert proc.returncode == 2
        assert one_error(proc) == (
            "error: --sequential and --jobs 3 both say how many images to build at once "
            "(fix: pass one of them: --jobs 3 or --sequential)"
        )


def test_unknown_image_name(tmp_path: Path) -> None:
    make_repo(tmp_path)
    line = one_error(invoke(tmp_path, "build", "--dry-run", "--image", "gpu,cpuu"))
    assert line == "error: unknown image 'cpuu' (did you mean 'cpu'?) (fix: use one of: gpu, cpu)"


def test_multi_platform_without_push(tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        unavailable("the docker client (not the engine) is needed to detect the builder")
    make_repo(tmp_path)
    for task in ("build", "build-cpu"):
        proc = invoke(tmp_path, task, "--dry-run", "--platform", "linux/amd64,linux/arm64")
        line = one_error(proc)
        assert re.fullmatch(
            r"error: (gpu|cpu): cannot load a multi-platform image \(linux/amd64, linux/arm64\) "
            r"into the local engine \(fix: build one platform \(--platform linux/amd64\) or "
            r"push it \(invoke push\)\)",
            line,
        ), line
        assert "$ " not in proc.stderr  # nothing was run, not even printed


def test_good_dry_run_prints_commands_and_exits_zero(tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        unavailable("the docker client (not the engine) is needed to detect the builder")
    make_repo(tmp_path)
    proc = invoke(tmp_path, "build-cpu", "--dry-run", "--tag", "t1")
    assert proc.returncode == 0, proc.stderr
    assert "error:" not in proc.stderr
    commands = [line for line in proc.stderr.splitlines() if line.startswith("$ ")]
    assert len(commands) == 1
    assert "--tag runpod/tetra-rp-cpu:t1" in commands[0]
    assert "--file Dockerfile-cpu" in commands[0]


def test_an_unreadable_dockerfile_with_a_target_is_one_error_line(tmp_path: Path) -> None:
    # the target's stages come from the Dockerfile; a file that fails to read even as root
    # (is_file() is true for /proc/self/mem, reading it from offset 0 is an I/O error)
    path = make_repo(
        tmp_path, 'dockerfile = "Dockerfile-cpu"', 'dockerfile = "Dockerfile-cpu"\ntarget = "x"'
    )
    (tmp_path / "Dockerfile-cpu").unlink()
    (tmp_path / "Dockerfile-cpu").symlink_to("/proc/self/mem")
    listing = invoke(tmp_path, "--list")
    assert listing.returncode == 0, listing.stderr
    assert "Traceback" not in listing.stderr and "build-cpu" in listing.stdout
    line = one_error(invoke(tmp_path, "build-cpu", "--dry-run"))
    assert line.startswith(f"error: {at_line(path, 'target =')}"), line
    assert "tool.buildlib.images.cpu.target needs the stages of Dockerfile-cpu" in line
    assert "(fix: make Dockerfile-cpu a readable file, or remove target)" in line


@pytest.mark.parametrize(
    ("task", "env", "present", "missing"),
    [
        ("push", {"DOCKERHUB_USERNAME": "alice"}, "DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN"),
        (
            "push",
            {"DOCKERHUB_USERNAME": "", "DOCKERHUB_TOKEN": "dckr_pat_half-set-token"},
            "DOCKERHUB_TOKEN",
            "DOCKERHUB_USERNAME",
        ),
        (
            "release",
            {"DOCKERHUB_USERNAME": "alice", "DOCKERHUB_TOKEN": " "},
            "DOCKERHUB_USERNAME",
            "DOCKERHUB_TOKEN",
        ),
    ],
)
def test_half_set_credentials_fail_the_credentials_check_with_exit_5(
    tmp_path: Path, task: str, env: dict[str, str], present: str, missing: str
) -> None:
    # README's exit codes: a missing credential fails a pre-flight check (5); so does half of one
    make_repo(tmp_path)
    proc = invoke(tmp_path, task, *(["--tag", "main"] if task == "push" else []), **env)
    assert one_error(proc) == (
        f"error: {present} is set but {missing} is not (or is empty) "
        "(fix: set both DOCKERHUB_USERNAME and DOCKERHUB_TOKEN, or neither)"
    )
    assert proc.returncode == 5
    assert "dckr_pat" not in proc.stdout + proc.stderr
