"""Attestations of pushes and releases: provenance (min on pushes, max on releases) and an
SBOM with buildx, switchable in [tool.buildlib], said to be missing on builders that cannot
make them. This machine has no buildx: the command lines are checked with a stand-in
docker client that answers buildx's questions."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from buildlib import attest
from buildlib import config as config_module
from buildlib.bake import bake_target
from buildlib.docker import build_command
from buildlib.engine import Capabilities
from buildlib.errors import ConfigError
from buildlib.flags import ImageFlags
from buildlib.options import options_for
from buildlib.plan import make_plan
from tests.conftest import invoke
from tests.support.config_repo import write_repo
from tests.support.ports import free_port

DOCKER = "/usr/bin/docker"
BUILDX = Capabilities(DOCKER, "buildx", "27.3.1", buildx_version="v0.17.1", server_version="27")
BUILDKIT = Capabilities(DOCKER, "buildkit", "20.10.24", server_version="20.10.24")
LEGACY = Capabilities(DOCKER, "legacy", "28.2.2", server_version="20.10.24")


def load(root: Path, old: str | None = None, new: str = "") -> config_module.Config:
    write_repo(root, old, new)
    return config_module.load(root)


def with_driver(monkeypatch: pytest.MonkeyPatch, driver: str | None) -> None:
    monkeypatch.setattr(attest, "buildx_driver", lambda docker, builder=None: driver)


# --- [tool.buildlib] provenance / sbom -------------------------------------------------------


def test_attestations_are_on_by_default(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert (config.provenance, config.sbom) == (True, True)


def test_they_can_be_turned_off(tmp_path: Path) -> None:
    config = load(
        tmp_path, 'default-tag = "local"\n', 'default-tag = "local"\nprovenance = false\n'
    )
    assert (config.provenance, config.sbom) == (False, True)


@pytest.mark.parametrize("key", ["provenance", "sbom"])
def test_a_non_boolean_points_at_its_key(tmp_path: Path, key: str) -> None:
    path = write_repo(
        tmp_path, 'default-tag = "local"\n', f'default-tag = "local"\n{key} = "yes"\n'
    )
    with pytest.raises(ConfigError) as caught:
        config_module.load(tmp_path)
    line = path.read_text().splitlines().index(f'{key} = "yes"') + 1
    assert caught.value.location == f"pyproject.toml:{line}"
    assert caught.value.message == f"tool.buildlib.{key} must be a boolean, not string"
    assert caught.value.hint == f"write true or false, without quotes: {key} = true"


def test_a_misspelt_key_is_suggested(tmp_path: Path) -> None:
    write_repo(tmp_path, 'default-tag = "local"\n', 'default-tag = "local"\nsbom_ = true\n')
    with pytest.raises(ConfigError, match=r"did you mean 'sbom'\?"):
        config_module.load(tmp_path)


# --- which builder can --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caps", "driver", "why"),
    [
        (LEGACY, None, "the legacy builder (client 28.2.2, no buildx) cannot"),
        (BUILDKIT, None, "BuildKit built into the engine (client 20.10.24) cannot"),
        (BUILDX, "docker", "uses the docker driver, which cannot"),
    ],
)
def test_builders_that_cannot_attest_say_so(monkeypatch, tmp_path, caps, driver, why) -> None:
    with_driver(monkeypatch, driver)
    found = attest.for_publishing(load(tmp_path), caps, "max")
    assert not found.any and found.provenance is None
    assert found.note is not None and why in found.note
    assert "provenance and SBOM" in found.note
    assert "docker buildx create --use --driver docker-container" in found.note


@pytest.mark.parametrize("driver", ["docker-container", "kubernetes", "remote", None])
def test_buildx_outside_the_engine_attests(monkeypatch, tmp_path, driver) -> None:
    with_driver(monkeypatch, driver)
    config = load(tmp_path)
    assert attest.for_publishing(config, BUILDX, "min") == attest.Attestations("mode=min", True)
    assert attest.for_publishing(config, BUILDX, "max") == attest.Attestations("mode=max", True)


def test_switched_off_in_the_config(monkeypatch, tmp_path) -> None:
    with_driver(monkeypatch, "docker-container")
    off = 'default-tag = "local"\nprovenance = false\nsbom = false\n'
    assert attest.for_publishing(load(tmp_path, 'default-tag = "local"\n', off), LEGACY, "max") == (
        attest.Attestations()
    ), "nothing wanted: nothing to warn about"
    no_sbom = 'default-tag = "local"\nsbom = false\n'
    found = attest.for_publishing(load(tmp_path, 'default-tag = "local"\n', no_sbom), BUILDX, "max")
    assert found == attest.Attestations("mode=max", False)
    no_provenance = 'default-tag = "local"\nprovenance = false\n'
    found = attest.for_publishing(
        load(tmp_path, 'default-tag = "local"\n', no_provenance), BUILDX, "min"
    )
    assert found == attest.Attestations("false", True), "buildx's default provenance is off too"


# --- the command lines ----------------------------------------------------------------------


def plan(tmp_path: Path, caps: Capabilities, attestations: attest.Attestations, output="push"):
    config = load(tmp_path)
    options = options_for(config, ImageFlags(), tag="main", environ={})
    return make_plan(
        config, config.select(["cpu"]), options, caps, output=output, attestations=attestations
    )


def test_an_attested_push_is_pushed_by_the_build(tmp_path: Path) -> None:
    built = plan(tmp_path, BUILDX, attest.Attestations("mode=max", True))
    (build,) = built.builds
    assert build.output == "push", "the classic image store cannot hold the attestations"
    argv, _ = build_command(build, BUILDX)
    assert "--push" in argv and "--load" not in argv
    assert "--provenance=mode=max" in argv and "--sbom=true" in argv
    assert bake_target(build)["attest"] == ["type=provenance,mode=max", "type=sbom"]
    assert bake_target(build)["output"] == ["type=registry"]


def test_no_attestations_keep_load_then_push(tmp_path: Path) -> None:
    note = "images are published without provenance and SBOM: ..."
    built = plan(tmp_path, LEGACY, attest.Attestations(note=note))
    (build,) = built.builds
    assert build.output == "load"
    argv, _ = build_command(build, LEGACY)
    assert not any(arg.startswith(("--provenance", "--sbom")) for arg in argv)
    assert built.notes == (note,)


def test_a_local_build_gets_no_attestations(tmp_path: Path) -> None:
    built = plan(tmp_path, BUILDX, attest.Attestations("mode=max", True), output="load")
    (build,) = built.builds
    argv, _ = build_command(build, BUILDX)
    assert "--load" in argv and not any(a.startswith(("--provenance", "--sbom")) for a in argv)


# --- by command line: `invoke push|release --dry-run` with a buildx that answers ------------

FAKE_DOCKER = """\
#!{python}
import json, os, sys
args = sys.argv[1:]
if args[:2] == ["buildx", "version"]:
    print("github.com/docker/buildx v0.17.1 fake")
elif args[:2] == ["buildx", "inspect"]:
    print("Name: ci\\nDriver: " + os.environ["FAKE_BUILDX_DRIVER"])
elif args[:1] == ["version"]:
    print(json.dumps({{"Client": {{"Version": "27.3.1"}}, "Server": {{"Version": "27.3.1"}}}}))
else:
    sys.exit("the fake docker runs nothing else: " + " ".join(args))
"""


def dry_run(root: Path, tmp_path: Path, driver: str, *argv: str) -> str:
    fake = tmp_path / "docker"
    fake.write_text(FAKE_DOCKER.format(python=sys.executable), encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCKERHUB_", "GITHUB_", "BUILDLIB_", "DOCKER_"))
    }
    env.update(
        BUILDLIB_DOCKER=str(fake),
        FAKE_BUILDX_DRIVER=driver,
        BUILDLIB_REGISTRY=f"127.0.0.1:{port}",  # nobody listens: nothing leaves the machine
        NO_COLOR="1",
    )
    proc = invoke(*argv, "--dry-run", cwd=root, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


REPO = Path(__file__).resolve().parents[2]


def build_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " buildx build " in line]


def test_push_adds_min_provenance_and_an_sbom(tmp_path: Path) -> None:
    out = dry_run(REPO, tmp_path, "docker-container", "push", "--tag", "main", "--image", "cpu")
    (line,) = build_lines(out)
    assert "--push --provenance=mode=min --sbom=true" in line
    assert "pushed by the build, with provenance mode=min, SBOM" in out
    assert "without provenance" not in out


def test_release_adds_max_provenance_and_an_sbom(tmp_path: Path) -> None:
    out = dry_run(REPO, tmp_path, "docker-container", "release", "--image", "cpu")
    (line,) = build_lines(out)
    assert "--push --provenance=mode=max --sbom=true" in line


def test_the_docker_driver_is_said_to_make_none(tmp_path: Path) -> None:
    out = dry_run(REPO, tmp_path, "docker", "push", "--tag", "main", "--image", "cpu")
    (line,) = build_lines(out)
    assert "--load" in line and "--provenance" not in line and "--sbom" not in line
    assert (
        "warning: images are published without provenance and SBOM: the buildx builder uses "
        "the docker driver" in out
    )


def test_the_doctor_says_whether_pushes_get_them(monkeypatch) -> None:
    from buildlib.checks.engine import check_attestations
    from buildlib.checks.project import Project

    monkeypatch.setattr("buildlib.docker.detect", lambda docker=None: BUILDX)
    with_driver(monkeypatch, "docker")
    result = check_attestations(Project.load(REPO))
    assert (result.id, result.status) == ("attestations", "warn")
    assert "no provenance and SBOM" in result.message and "docker driver" in result.message
    assert "docker-container" in (result.hint or "")
    with_driver(monkeypatch, "docker-container")
    result = check_attestations(Project.load(REPO))
    assert result.status == "ok" and "mode=min" in result.message, result


def test_the_doctor_asks_no_docker_when_they_are_off_and_skips_without_a_client(
    tmp_path: Path, monkeypatch
) -> None:
    from buildlib.checks.engine import check_attestations
    from buildlib.checks.project import Project
    from buildlib.errors import DockerUnavailable

    def no_client(docker=None):
        raise DockerUnavailable("docker client 'docker' not found (looked in PATH)")

    monkeypatch.setattr("buildlib.docker.detect", no_client)
    write_repo(tmp_path)
    result = check_attestations(Project.load(tmp_path))
    assert result.status == "skipped"
    assert result.message == "no docker client: docker client 'docker' not found (looked in PATH)"
    off = 'default-tag = "local"\nprovenance = false\nsbom = false\n'
    write_repo(tmp_path, 'default-tag = "local"\n', off)
    result = check_attestations(Project.load(tmp_path))
    assert result.status == "ok" and result.message.startswith("off in [tool.buildlib]")


def test_json_plan_is_unchanged_by_the_warning(tmp_path: Path) -> None:
    out = dry_run(REPO, tmp_path, "docker", "push", "--tag", "main", "--image", "cpu", "--json")
    start = out.index("{")
    document, _ = json.JSONDecoder().raw_decode(out[start:])
    assert [image["tags"] for image in document["images"]] == [["main"]]
