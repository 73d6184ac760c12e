"""What each docker command of :class:`buildlib.docker.Docker` does when it runs through the
real runner against a stand-in ``docker`` program (a shell script): which failures are
errors and which are answers, what is shown and with what label, what runs under dry-run,
and how a failed build is reported."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from buildlib.config import ImageSpec
from buildlib.docker import Docker, build_failed
from buildlib.engine import Capabilities
from buildlib.errors import CommandFailed
from buildlib.plan import ImageBuild
from buildlib.runner import Runner

IMAGE_ID = "sha256:" + "ab" * 32

# Answers like docker: `image inspect --format {{.Id}} NAME` prints the id of a known name
# (only with exactly that format); `tag` of an unknown source fails; `image rm`, `push` and
# `buildx bake` say something on stdout and stderr and exit with $EXIT (default 0).
SCRIPT = f"""#!/bin/sh
echo "$PWD" > "$0.cwd"
echo "$*" >> "$0.calls"
case "$1 $2" in
  "image inspect")
    if [ "$3 $4" = "--format {{{{.Id}}}}" ] && [ "$5" = "acme/known:1" ]; then
      echo "{IMAGE_ID}"; exit 0
    fi
    echo "Error: No such image: $5" >&2; exit 1 ;;
  "tag unknown"*) echo "Error: No such image: unknown" >&2; exit 1 ;;
esac
echo "out of $1"
echo "err of $1" >&2
exit ${{EXIT:-0}}
"""


def stand_in(tmp_path: Path, script: str = SCRIPT) -> str:
    path = tmp_path / "docker"
    path.write_text(script, encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def client(tmp_path: Path, *, dry_run: bool = False, script: str = SCRIPT) -> Docker:
    caps = Capabilities(stand_in(tmp_path, script), "buildx", "27.3.1", buildx_version="v0.17.1")
    return Docker(Runner(dry_run=dry_run), caps)


def unstartable(tmp_path: Path) -> Docker:
    """A docker that is on disk and executable, but whose interpreter does not exist."""
    return client(tmp_path, script="#!/nonexistent/interpreter\n")


def calls(tmp_path: Path) -> list[str]:
    path = tmp_path / "docker.calls"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


# --- image_id ---------------------------------------------------------------------------


def test_the_image_id_is_what_inspect_prints_with_the_id_format(tmp_path: Path) -> None:
    assert client(tmp_path).image_id("acme/known:1") == IMAGE_ID
    assert calls(tmp_path) == ["image inspect --format {{.Id}} acme/known:1"]


def test_an_image_that_is_not_there_has_no_id_and_is_no_error(tmp_path: Path) -> None:
    assert client(tmp_path).image_id("acme/unknown:1") is None


def test_the_image_id_is_asked_even_under_dry_run(tmp_path: Path) -> None:
    assert client(tmp_path, dry_run=True).image_id("acme/known:1") == IMAGE_ID


def test_a_failed_inspect_gives_no_id_whatever_it_printed(tmp_path: Path) -> None:
    docker = client(tmp_path, script=f"#!/bin/sh\necho {IMAGE_ID}\nexit 1\n")
    assert docker.image_id("acme/known:1") is None


def test_an_answer_that_is_not_an_image_id_is_no_id(tmp_path: Path) -> None:
    docker = client(tmp_path, script="#!/bin/sh\necho '[]'\n")
    assert docker.image_id("acme/known:1") is None


# --- push -------------------------------------------------------------------------------


def test_a_failed_push_is_an_answer_not_an_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EXIT", "1")
    result = client(tmp_path).push("acme/demo:1")
    assert not result.ok
    assert "err of push" in result.stderr
    assert calls(tmp_path) == ["push acme/demo:1"]


def test_the_push_output_is_shown(tmp_path: Path, capsys) -> None:
    client(tmp_path).push("acme/demo:1")
    err = capsys.readouterr().err.splitlines()
    assert "out of push" in err
    assert "err of push" in err


def test_a_push_that_cannot_start_names_the_push(tmp_path: Path) -> None:
    with pytest.raises(CommandFailed, match="could not start push of acme/demo:1"):
        unstartable(tmp_path).push("acme/demo:1")


# --- tag and untag ----------------------------------------------------------------------


def test_tag_names_the_source_as_the_target(tmp_path: Path) -> None:
    assert client(tmp_path).tag(IMAGE_ID, "acme/demo:2").ok
    assert calls(tmp_path) == [f"tag {IMAGE_ID} acme/demo:2"]


def test_a_failed_tag_is_an_error_that_names_the_target(tmp_path: Path) -> None:
    with pytest.raises(CommandFailed, match=r"docker tag acme/demo:2 failed \(exit 1\)"):
        client(tmp_path).tag("unknown", "acme/demo:2")


def test_a_failed_untag_is_no_error_and_prints_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EXIT", "1")
    result = client(tmp_path).untag("acme/demo:2")
    assert not result.ok
    assert result.stderr.strip() == "err of image"
    out, err = capsys.readouterr()
    assert "of image" not in out + err
    assert calls(tmp_path) == ["image rm acme/demo:2"]


def test_an_untag_that_cannot_start_names_the_untag(tmp_path: Path) -> None:
    with pytest.raises(CommandFailed, match="could not start untag acme/demo:2"):
        unstartable(tmp_path).untag("acme/demo:2")


def test_a_tag_that_cannot_start_names_the_tag(tmp_path: Path) -> None:
    with pytest.raises(CommandFailed, match="could not start docker tag acme/demo:2"):
        unstartable(tmp_path).tag(IMAGE_ID, "acme/demo:2")


# --- bake -------------------------------------------------------------------------------


def test_bake_runs_in_the_given_directory_and_shows_its_lines(tmp_path: Path) -> None:
    docker = client(tmp_path)
    workdir = tmp_path / "work"
    workdir.mkdir()
    shown: list[str] = []
    result = docker.bake([docker.caps.docker, "buildx", "bake"], ["a"], workdir, shown.append)
    assert result.ok
    assert (tmp_path / "docker.cwd").read_text(encoding="utf-8").strip() == str(workdir)
    assert "out of buildx" in shown and "err of buildx" in shown


def test_bake_without_a_directory_runs_where_buildlib_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    docker = client(tmp_path)
    assert docker.bake([docker.caps.docker, "buildx", "bake"], ["a"], None, lambda _: None).ok
    assert (tmp_path / "docker.cwd").read_text(encoding="utf-8").strip() == str(tmp_path)


def test_a_failed_bake_is_an_answer_for_the_caller(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EXIT", "2")
    docker = client(tmp_path)
    result = docker.bake([docker.caps.docker, "buildx", "bake"], ["a"], None, lambda _: None)
    assert result.returncode == 2


def test_a_bake_that_cannot_start_names_its_images(tmp_path: Path) -> None:
    docker = unstartable(tmp_path)
    with pytest.raises(CommandFailed, match="could not start bake of a, b"):
        docker.bake([docker.caps.docker, "buildx", "bake"], ["a", "b"], None, lambda _: None)


# --- a failed build ---------------------------------------------------------------------


def a_build(tmp_path: Path, name: str = "gpu", path: str = "Dockerfile") -> ImageBuild:
    dockerfile = tmp_path / path
    dockerfile.parent.mkdir(parents=True, exist_ok=True)
    dockerfile.write_text("FROM scratch\nCOPY missing /\n", encoding="utf-8")
    return ImageBuild(
        image=ImageSpec(name, f"acme/{name}", path, "."),
        references=(f"acme/{name}:t",),
        dockerfile=dockerfile,
        context=tmp_path,
        platforms=("linux/amd64",),
        build_args=(),
        labels=(),
        workdir=tmp_path,
    )


def test_a_failed_build_is_located_at_its_dockerfile_line_with_a_hint(tmp_path: Path) -> None:
    script = (
        "#!/bin/sh\necho '#5 [2/2] COPY missing /'\n"
        "echo 'ERROR: failed to solve: \"/missing\": not found'\n"
        "echo 'Dockerfile:2'\nexit 1\n"
    )
    with pytest.raises(CommandFailed) as failed:
        client(tmp_path, script=script).build(a_build(tmp_path))
    assert failed.value.location == "Dockerfile:2"
    assert failed.value.hint is not None
    assert "invoke build-gpu" in failed.value.hint
    # the Dockerfile once: the location names it
    assert str(failed.value).startswith('Dockerfile:2: build of gpu failed (exit 1): "/missing"')


def test_a_failed_build_names_its_dockerfile_by_its_path_in_the_repository(
    tmp_path: Path,
) -> None:
    # an adopter's docker/Dockerfile.app: its bare name is no file at the repository's root
    build = a_build(tmp_path, "app", "docker/Dockerfile.app")
    error = build_failed(build, 1, ["#3 ERROR: failed to do request: no such host"])
    assert error.message == (
        "build of app (docker/Dockerfile.app) failed (exit 1): failed to do request: no such host"
    )


def test_a_failed_build_without_a_line_has_no_location_but_a_hint(tmp_path: Path) -> None:
    script = "#!/bin/sh\necho 'something went wrong'\nexit 3\n"
    with pytest.raises(CommandFailed) as failed:
        client(tmp_path, script=script).build(a_build(tmp_path, "cpu"))
    assert failed.value.location is None
    assert failed.value.hint is not None
    assert "`invoke build-cpu`" in failed.value.hint
    assert "exit 3" in failed.value.message


# --- the temporary login's config -------------------------------------------------------


def test_the_login_config_ignores_a_user_config_that_is_not_an_object(
    tmp_path: Path, monkeypatch
) -> None:
    user = tmp_path / "user"
    user.mkdir()
    (user / "config.json").write_text('"just a string"', encoding="utf-8")
    monkeypatch.setenv("DOCKER_CONFIG", str(user))
    runner = Runner(quiet=True)
    docker_bin = stand_in(tmp_path)
    docker = Docker.client(docker_bin, runner)
    with docker.login("registry.example", _creds()):
        written = json.loads(Path(docker.env["DOCKER_CONFIG"], "config.json").read_text("utf-8"))
    assert written == {"auths": {"registry.example": {}}}


def test_the_login_config_keeps_non_ascii_user_settings(
    tmp_path: Path, monkeypatch, ascii_locale: None
) -> None:
    # the user's config.json is UTF-8 whatever the locale says
    user = tmp_path / "user"
    user.mkdir()
    (user / "config.json").write_bytes(
        json.dumps(
            {"proxies": {"default": {"noProxy": "café.example"}}}, ensure_ascii=False
        ).encode("utf-8")
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(user))
    docker = Docker.client(stand_in(tmp_path))
    with docker.login("r.example", _creds()):
        written = json.loads(Path(docker.env["DOCKER_CONFIG"], "config.json").read_text("utf-8"))
    assert written["proxies"] == {"default": {"noProxy": "café.example"}}


def _creds():  # type: ignore[no-untyped-def]
    from buildlib.credentials import Credentials

    return Credentials("someone", "a-long-enough-token-123")


# --- the questions asked of the client --------------------------------------------------

# Answers only the exact questions a docker client understands.
QUESTIONS = """#!/bin/sh
case "$*" in
  "buildx version") echo "github.com/docker/buildx v0.17.1 abc" ;;
  "version --format {{json .}}")
    echo '{"Client":{"Version":"27.3.1"},"Server":{"Version":"27.4.0"}}' ;;
  "buildx inspect") printf 'Name: default\\nDriver: docker\\n' ;;
  "buildx inspect remote-one") printf 'Name: remote-one\\nDriver: docker-container\\n' ;;
  "info --format {{json .DockerRootDir}}") echo '"/var/lib/docker"' ;;
  *) echo "unknown command: $*" >&2; exit 1 ;;
esac
"""


def test_the_probe_reads_the_versions_of_client_engine_and_buildx(tmp_path: Path) -> None:
    caps = client(tmp_path, script=QUESTIONS).probe()
    assert caps.builder == "buildx"
    assert caps.buildx_version == "v0.17.1"
    assert caps.client_version == "27.3.1"
    assert caps.server_version == "27.4.0"


def test_the_driver_is_asked_of_buildx_for_the_current_or_a_named_builder(
    tmp_path: Path,
) -> None:
    docker = client(tmp_path, script=QUESTIONS)
    assert docker.driver() == "docker"
    assert docker.driver("remote-one") == "docker-container"


def test_the_root_dir_is_what_docker_info_answers(tmp_path: Path) -> None:
    assert client(tmp_path, script=QUESTIONS).root_dir() == '"/var/lib/docker"\n'


def test_a_client_that_cannot_answer_has_no_driver_and_no_root_dir(tmp_path: Path) -> None:
    docker = client(tmp_path, script="#!/bin/sh\nexit 1\n")
    assert docker.driver() is None
    assert docker.root_dir() is None


def test_a_build_that_cannot_start_points_at_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CommandFailed) as failed:
        unstartable(tmp_path).build(a_build(tmp_path))
    assert "could not start build of gpu (Dockerfile)" in failed.value.message
    assert failed.value.hint is not None and "invoke build-gpu" in failed.value.hint


def test_a_build_without_a_workdir_runs_where_buildlib_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    build = dataclasses.replace(a_build(tmp_path), workdir=None)
    assert client(tmp_path, script=SCRIPT).build(build).ok
    assert (tmp_path / "docker.cwd").read_text(encoding="utf-8").strip() == str(tmp_path)


# Prints what the build's environment says of BuildKit, as `docker build` would read it.
SAYS_BUILDKIT = '#!/bin/sh\necho "$*" >> "$0.calls"\necho "DOCKER_BUILDKIT=$DOCKER_BUILDKIT"\n'


def test_a_build_gets_its_environment_and_gives_each_line_to_both_sinks(tmp_path: Path) -> None:
    caps = Capabilities(stand_in(tmp_path, SAYS_BUILDKIT), "buildkit", "20.10.24")
    seen: list[str] = []
    shown: list[str] = []

    Docker(Runner(), caps).build(a_build(tmp_path), on_line=seen.append, show=shown.append)

    assert seen == shown == ["DOCKER_BUILDKIT=1"]


def test_a_build_goes_to_the_buildx_builder_it_is_given(tmp_path: Path) -> None:
    client(tmp_path, script=SAYS_BUILDKIT).build(a_build(tmp_path), "remote")
    [call] = calls(tmp_path)
    assert call.startswith("buildx build --builder remote ")
