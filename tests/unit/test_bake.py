"""The bake path without docker: the definition made from a plan, the argv, the waves that
keep images sharing first steps in order, the error that names the failed image, and that
bake gets exactly the tags, labels, args and caches `docker buildx build` would."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from buildlib import config as config_module
from buildlib.bake import (
    bake_command,
    bake_definition,
    bake_target,
    bake_waves,
    error_detail,
    failed_target,
    image_ids,
    target_name,
)
from buildlib.build import execute_bake
from buildlib.config import ImageSpec
from buildlib.digests import read_metadata
from buildlib.docker import build_command
from buildlib.engine import Capabilities, host_platform
from buildlib.errors import CommandFailed, UsageError
from buildlib.flags import ImageFlags
from buildlib.options import options_for
from buildlib.plan import BuildPlan, ImageBuild, make_plan
from buildlib.runner import Result, Runner
from tests.conftest import invoke
from tests.support.shown import commands

ROOT = Path(__file__).resolve().parents[2]
BUILDX = Capabilities("docker", "buildx", "28.0.1", "v0.19.3")
BUILDKIT = Capabilities("docker", "buildkit", "20.10.24")


class FakeGit:
    def head(self) -> str:
        return "0123456789abcdef0123456789abcdef01234567"

    def head_commit_time(self) -> int:
        return 1_767_225_600  # 2026-01-01T00:00:00Z

    def remote_url(self) -> None:
        return None


class RecordingRunner(Runner):
    """Records each argv and the bake file it names (read while it still exists)."""

    def __init__(
        self,
        fail_with: tuple[int, str] | None = None,
        metadata: bool = True,
        in_engine: tuple[str, ...] = (),
        **kwargs,
    ):
        super().__init__(quiet=True, **kwargs)
        self.calls: list[dict] = []
        self.fail_with = fail_with
        self.metadata = metadata
        self.in_engine = in_engine
        self.inspected: list[str] = []

    def run(self, argv, **kwargs):  # type: ignore[override]
        argv = [str(a) for a in argv]
        if argv[1:3] == ["image", "inspect"]:
            self.inspected.append(argv[-1])
            if argv[-1] in self.in_engine:
                return Result(argv, 0, f"sha256:{'f' * 64}\n")
            return Result(argv, 1, "", "Error: No such image")
        path = Path(argv[argv.index("--file") + 1])
        self.calls.append(
            {
                "argv": argv,
                "definition": json.loads(path.read_text()),
                "cwd": kwargs.get("cwd"),
                "env": kwargs.get("env"),
            }
        )
        if self.fail_with:
            code, output = self.fail_with
            return Result(argv, code, "", output)
        if "--metadata-file" in argv and self.metadata:  # what buildx writes per target
            targets = argv[argv.index("--load") + 1 :] if "--load" in argv else []
            metadata = {
                name: {"containerimage.config.digest": f"sha256:{name:0>64}"} for name in targets
            }
            Path(argv[argv.index("--metadata-file") + 1]).write_text(json.dumps(metadata))
        return Result(argv, 0)


def repo_plan(caps: Capabilities = BUILDX, all_images: bool = True, **flags) -> BuildPlan:
    config = config_module.load(ROOT)
    registry, environ = flags.pop("registry", None), {"HF_TOKEN": "not-used-here"}
    options = options_for(config, ImageFlags(**flags), tag="t1", registry=registry, environ=environ)
    images = config.images if all_images else config.select(None)
    return make_plan(config, images, options, caps, git=FakeGit())  # type: ignore[arg-type]


def a_build(tmp_path: Path, name: str = "app", **changes) -> ImageBuild:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    build = ImageBuild(
        image=ImageSpec(name, f"acme/{name}", "Dockerfile", "."),
        references=(f"acme/{name}:1.0",),
        dockerfile=tmp_path / "Dockerfile",
        context=tmp_path,
        platforms=("linux/amd64",),
        build_args=(),
        labels=(("org.opencontainers.image.title", name),),
        workdir=tmp_path,
    )
    return replace(build, **changes)


# --- the definition -----------------------------------------------------------------------


def test_definition_of_this_repository() -> None:
    plan = repo_plan()

    definition = bake_definition(plan.builds)

    assert definition["group"] == {"default": {"targets": ["gpu", "cpu", "lb"]}}
    assert set(definition["target"]) == {"gpu", "cpu", "lb"}
    gpu = definition["target"]["gpu"]
    assert gpu["context"] == str(ROOT)
    assert gpu["dockerfile"] == "Dockerfile"
    assert definition["target"]["lb"]["dockerfile"] == "Dockerfile-lb"
    assert gpu["tags"] == ["runpod/tetra-rp:t1"]
    assert gpu["platforms"] == [host_platform()]
    assert gpu["output"] == ["type=docker"]
    assert gpu["args"] == {}
    assert gpu["labels"]["org.opencontainers.image.revision"] == FakeGit().head()
    assert gpu["labels"]["org.opencontainers.image.created"] == "2026-01-01T00:00:00Z"
    assert gpu["labels"]["org.opencontainers.image.title"] == "Tetra worker (GPU)"
    for absent in ("secret", "cache-from", "cache-to", "no-cache", "target"):
        assert absent not in gpu
    json.dumps(definition)  # a docker-bake.json document


def test_flags_reach_every_target() -> None:
    plan = repo_plan(
        build_arg=["BASE_IMAGE=python:3.12-slim"],
        secret=["id=hf,env=HF_TOKEN"],
        cache_from=["type=registry,ref=127.0.0.1:5000/cache:gpu"],
        cache_to=["type=registry,ref=127.0.0.1:5000/cache:gpu,mode=max"],
        no_cache=True,
        platform="linux/arm64",
        registry="127.0.0.1:5000",
    )

    for target in bake_definition(plan.builds)["target"].values():
        assert target["args"] == {"BASE_IMAGE": "python:3.12-slim"}
        assert target["secret"] == ["id=hf,env=HF_TOKEN"]
        assert target["cache-from"] == ["type=registry,ref=127.0.0.1:5000/cache:gpu"]
        assert target["cache-to"] == ["type=registry,ref=127.0.0.1:5000/cache:gpu,mode=max"]
        assert target["no-cache"] is True
        assert target["platforms"] == ["linux/arm64"]
        assert target["tags"][0].startswith("127.0.0.1:5000/runpod/")
    assert "not-used-here" not in json.dumps(bake_definition(plan.builds))


def test_same_tags_labels_args_and_caches_as_buildx_build() -> None:
    """The plan and the tags do not depend on the path taken (bake or one build each)."""
    plan = repo_plan(
        build_arg=["A=1"],
        secret=["id=hf,env=HF_TOKEN"],
        cache_from=["type=registry,ref=r/c:1"],
        cache_to=["type=inline"],
    )
    for build in plan.builds:
        argv, _ = build_command(build, BUILDX, "remote")
        target = bake_target(build)

        def values(flag: str, argv: list[str] = argv) -> list[str]:
            return [argv[i + 1] for i, a in enumerate(argv) if a == flag]

        assert values("--tag") == target["tags"]
        assert values("--label") == [f"{k}={v}" for k, v in target["labels"].items()]
        assert values("--build-arg") == [f"{k}={v}" for k, v in target["args"].items()]
        assert values("--secret") == target["secret"]
        assert values("--cache-from") == target["cache-from"]
        assert values("--cache-to") == target["cache-to"]
        assert values("--platform") == [",".join(target["platforms"])]


def test_push_output_target_stage_and_a_dockerfile_outside_the_context(tmp_path) -> None:
    elsewhere = tmp_path / "docker" / "app.Dockerfile"
    elsewhere.parent.mkdir()
    elsewhere.write_text("FROM scratch\n")
    context = tmp_path / "src"
    context.mkdir()
    build = a_build(
        tmp_path,
        output="push",
        platforms=("linux/amd64", "linux/arm64"),
        dockerfile=elsewhere,
        context=context,
        image=ImageSpec("app", "acme/app", "x", ".", target="runtime"),
    )

    target = bake_target(build)

    assert target["output"] == ["type=registry"]
    assert target["platforms"] == ["linux/amd64", "linux/arm64"]
    assert target["target"] == "runtime"
    assert target["dockerfile"] == str(elsewhere)  # absolute: outside the context
    assert target["context"] == str(context)


def test_target_names_are_what_bake_accepts(tmp_path) -> None:
    build = a_build(tmp_path, image=ImageSpec("api.v2", "acme/api", "Dockerfile", "."))
    assert target_name(build) == "api_v2"
    twin = a_build(tmp_path, image=ImageSpec("api_v2", "acme/api2", "Dockerfile", "."))
    with pytest.raises(UsageError, match="same bake target"):
        bake_definition([build, twin])


# --- the command --------------------------------------------------------------------------


def test_bake_command() -> None:
    argv = bake_command(
        "docker", "/tmp/x/docker-bake.json", ["gpu", "cpu"], outputs=["load", "load"]
    )
    assert argv == [
        "docker",
        "buildx",
        "bake",
        "--file",
        "/tmp/x/docker-bake.json",
        "--progress",
        "plain",
        "--load",
        "gpu",
        "cpu",
    ]


def test_bake_command_with_a_builder_and_push() -> None:
    argv = bake_command("/usr/bin/docker", Path("f.json"), ["gpu"], builder="k8s", outputs=["push"])
    assert argv[:3] == ["/usr/bin/docker", "buildx", "bake"]
    assert argv[argv.index("--builder") + 1] == "k8s"
    assert "--push" in argv and "--load" not in argv
    assert argv[-1] == "gpu"


def test_mixed_outputs_leave_it_to_each_target() -> None:
    argv = bake_command("docker", "f.json", ["a", "b"], outputs=["load", "push"])
    assert "--load" not in argv and "--push" not in argv


# --- waves: images sharing first steps stay in order ----------------------------------------


def names(waves: list[tuple[ImageBuild, ...]]) -> list[list[str]]:
    return [[b.name for b in wave] for wave in waves]


def test_waves_of_this_repository() -> None:
    plan = repo_plan()
    assert next(b for b in plan.builds if b.name == "lb").after == "gpu"
    assert names(bake_waves(plan.builds, plan.jobs)) == [["gpu", "cpu"], ["lb"]]
    assert names(bake_waves(plan.builds, 3)) == [["gpu", "cpu"], ["lb"]]
    assert names(bake_waves(plan.builds, 1)) == [["gpu"], ["cpu"], ["lb"]]


def test_independent_images_are_one_bake(tmp_path) -> None:
    builds = [a_build(tmp_path, n) for n in ("a", "b", "c")]
    assert names(bake_waves(builds, 3)) == [["a", "b", "c"]]
    assert names(bake_waves(builds, 2)) == [["a", "b"], ["c"]]


def test_an_after_outside_the_selection_does_not_wait(tmp_path) -> None:
    builds = [a_build(tmp_path, "lb", after="gpu"), a_build(tmp_path, "cpu")]
    assert names(bake_waves(builds, 2)) == [["lb", "cpu"]]


# --- running it ---------------------------------------------------------------------------


def test_execute_runs_one_bake_per_wave_with_the_definition() -> None:
    plan = repo_plan()
    runner = RecordingRunner()

    built = execute_bake(plan, runner)

    assert [b.name for b in built] == ["gpu", "cpu", "lb"]
    assert [b.references for b in built] == [b.references for b in plan.builds]
    first, second = runner.calls
    assert first["argv"][-2:] == ["gpu", "cpu"] and "--load" in first["argv"]
    assert first["definition"] == bake_definition(plan.builds[:2])
    assert second["argv"][-1:] == ["lb"]
    assert second["definition"]["group"]["default"]["targets"] == ["lb"]
    assert first["cwd"] == ROOT
    assert "--builder" not in first["argv"]
    assert [b.image_id for b in built] == [f"sha256:{n:0>64}" for n in ("gpu", "cpu", "lb")]


def test_without_metadata_the_engine_is_asked_for_loaded_images() -> None:
    plan = repo_plan(all_images=False)  # gpu, cpu: one bake
    refs = tuple(b.primary for b in plan.builds)
    runner = RecordingRunner(metadata=False, in_engine=refs)

    built = execute_bake(plan, runner)

    assert runner.inspected == list(refs)
    assert [b.image_id for b in built] == ["sha256:" + "f" * 64] * 2


def test_every_loaded_image_missing_from_the_engine_is_named(tmp_path) -> None:
    builds = tuple(a_build(tmp_path, name) for name in ("a", "b", "c"))
    runner = RecordingRunner(metadata=False, in_engine=("acme/b:1.0",))

    with pytest.raises(CommandFailed) as caught:
        execute_bake(BuildPlan(BUILDX, builds, jobs=3), runner)

    assert runner.inspected == ["acme/a:1.0", "acme/b:1.0", "acme/c:1.0"]
    assert caught.value.message == (
        "a, c: docker buildx bake reported success but acme/a:1.0, acme/c:1.0 are not in the engine"
    )
    assert caught.value.hint == (
        "check the builder: a loaded image needs the docker driver or --load support"
    )


def test_ctrl_c_during_a_bake_says_which_images_it_stopped(capsys) -> None:
    class Interrupted(RecordingRunner):
        def run(self, argv, **kwargs):  # type: ignore[override]
            if self.calls:  # the second bake, of lb: Ctrl-C while it runs
                raise KeyboardInterrupt
            return super().run(argv, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        execute_bake(repo_plan(), Interrupted())

    said = [line for line in capsys.readouterr().err.splitlines() if "stopped" in line]
    assert said == ["warning: builds stopped: lb; finished: gpu, cpu"]


def test_image_ids_from_the_metadata_file(tmp_path) -> None:
    metadata = tmp_path / "m.json"
    metadata.write_text(
        json.dumps(
            {
                "gpu": {"containerimage.config.digest": "sha256:aa", "containerimage.digest": "x"},
                "lb": {"containerimage.digest": "sha256:bb"},  # pushed: no config digest
                "buildx.build.ref": "default/default/xyz",
            }
        )
    )
    assert image_ids(read_metadata(metadata)) == {"gpu": "sha256:aa", "lb": "sha256:bb"}
    assert image_ids(read_metadata(tmp_path / "missing.json")) == {}
    metadata.write_text("not json")
    assert image_ids(read_metadata(metadata)) == {}


def test_a_dry_run_names_no_metadata_file() -> None:
    runner = RecordingRunner(dry_run=True)
    execute_bake(repo_plan(dry_run=True), runner)
    assert all("--metadata-file" not in call["argv"] for call in runner.calls)


def test_execute_passes_the_builder_and_the_login_environment() -> None:
    from buildlib.docker import Docker

    plan = replace(repo_plan(all_images=False), builder="remote")
    runner = RecordingRunner()
    cli = Docker(runner, BUILDX, {"DOCKER_CONFIG": "/tmp/login"})

    execute_bake(plan, runner, cli)

    (call,) = runner.calls
    assert call["argv"][call["argv"].index("--builder") + 1] == "remote"
    assert call["env"] == {"DOCKER_CONFIG": "/tmp/login"}


NEW_BUILDX_FAILURE = """\
#9 [broken 2/2] RUN exit 3
#9 ERROR: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3
#10 [slow 2/2] RUN sleep 60
#10 CANCELED
------
 > [broken 2/2] RUN exit 3:
------
Dockerfile-broken:2
ERROR: target broken: failed to solve: process "/bin/sh -c exit 3" did not complete successfully
"""

OLD_BUILDX_FAILURE = """\
#7 [slow 2/2] RUN sleep 60
#8 [broken 2/2] RUN exit 3
#8 ERROR: executor failed running [/bin/sh -c exit 3]: exit code: 3
#7 CANCELED
error: failed to solve: executor failed running [/bin/sh -c exit 3]: exit code: 3
"""


@pytest.mark.parametrize("output", [NEW_BUILDX_FAILURE, OLD_BUILDX_FAILURE])
def test_the_failed_target_is_found(output) -> None:
    assert failed_target(output.splitlines(), ["slow", "broken"]) == "broken"


def test_error_detail_is_the_last_error_line() -> None:
    assert error_detail(NEW_BUILDX_FAILURE.splitlines()).startswith("ERROR: target broken:")
    assert error_detail(["nothing", "telling", "here", "at all"]) == "telling | here | at all"


def test_a_failure_names_the_image_and_what_was_stopped(tmp_path) -> None:
    builds = (a_build(tmp_path, "slow"), a_build(tmp_path, "broken"), a_build(tmp_path, "later"))
    plan = BuildPlan(BUILDX, builds, jobs=2)
    runner = RecordingRunner(fail_with=(1, NEW_BUILDX_FAILURE))

    with pytest.raises(CommandFailed) as caught:
        execute_bake(plan, runner)

    message = caught.value.message
    assert message.startswith(
        "build of broken (Dockerfile) failed (exit 1): RUN exit 3: process "
        '"/bin/sh -c exit 3" did not complete successfully'
    )
    assert message.endswith("; stopped: slow, later")
    assert "invoke build-broken" in (caught.value.hint or "")
    assert len(runner.calls) == 1  # the second wave never started


def test_an_unattributable_failure_names_the_bake(tmp_path) -> None:
    plan = BuildPlan(BUILDX, (a_build(tmp_path, "a"), a_build(tmp_path, "b")), jobs=2)
    runner = RecordingRunner(fail_with=(1, 'ERROR: no builder "gone" found\n'))

    with pytest.raises(
        CommandFailed,
        match=r"docker buildx bake of a, b failed \(exit 1\): "
        r"ERROR: no builder \"gone\" found; stopped: a, b",
    ):
        execute_bake(plan, runner)


def test_builder_flag_without_buildx_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match="--builder remote needs docker buildx") as caught:
        repo_plan(caps=BUILDKIT, builder="remote")
    assert "install the buildx plugin" in (caught.value.hint or "")


def test_dry_run_prints_the_definition_and_the_command(capsys) -> None:
    plan = replace(repo_plan(), dry_run=True)

    built = execute_bake(plan, Runner(dry_run=True))

    assert [b.name for b in built] == ["gpu", "cpu", "lb"]
    shown = capsys.readouterr()
    lines = commands(shown.err)
    assert len(lines) == 2 and all(" buildx bake --file " in line for line in lines)
    assert lines[0].endswith("--load gpu cpu") and lines[1].endswith("--load lb")
    assert '"runpod/tetra-rp:t1"' in shown.out + shown.err


# --- the command line, with a stand-in docker client (no engine needed) ---------------------

FAKE_DOCKER = """#!/bin/sh
case "$1 $2" in
  "version --format") echo '{{"Version":"{client}"}}' ;;
  "buildx version") {buildx} ;;
  *) exit 0 ;;
esac
"""


def fake_docker(tmp_path: Path, *, buildx: bool) -> Path:
    script = tmp_path / ("docker-buildx" if buildx else "docker-no-buildx")
    answer = "echo 'github.com/docker/buildx v0.19.3 abcdef'" if buildx else "exit 1"
    script.write_text(FAKE_DOCKER.format(client="28.0.1", buildx=answer))
    script.chmod(0o755)
    return script


def invoke_dry_run(tmp_path: Path, docker: Path, *args: str):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILDLIB_", "TETRA_"))}
    env.update(BUILDLIB_DOCKER=str(docker), NO_COLOR="1")
    return invoke("build", "--all", "--dry-run", *args, cwd=ROOT, env=env, timeout=120)


def test_the_builder_flag_reaches_the_command_line(tmp_path) -> None:
    result = invoke_dry_run(tmp_path, fake_docker(tmp_path, buildx=True), "--builder", "remote")

    assert result.returncode == 0, result.stderr
    assert "buildx builder remote" in result.stderr
    commands = [line for line in result.stderr.splitlines() if line.startswith("$ ")]
    assert all(" buildx " in line for line in commands)
    assert commands and all("--builder remote" in line for line in commands)
    for tag in ("runpod/tetra-rp:local", "runpod/tetra-rp-cpu:local", "runpod/tetra-rp-lb:local"):
        assert tag in result.stderr


def test_the_builder_flag_without_buildx_fails_in_one_line(tmp_path) -> None:
    result = invoke_dry_run(tmp_path, fake_docker(tmp_path, buildx=False), "--builder", "remote")

    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--builder remote needs docker buildx" in errors[0]
    assert "install the buildx plugin" in errors[0]
    assert "Traceback" not in result.stderr
