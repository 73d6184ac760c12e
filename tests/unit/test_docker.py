"""``build_command`` argv per builder kind, ``make_plan``'s refusals, and the scheduling of
images that share their first Dockerfile steps. Plans are made on real repositories in
``tmp_path`` (and on this one)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest

from buildlib import config as config_module
from buildlib.config import Config
from buildlib.docker import build_command
from buildlib.engine import Capabilities, host_platform
from buildlib.errors import UsageError
from buildlib.flags import ImageFlags
from buildlib.options import BuildOptions, options_for
from buildlib.plan import (
    BuildPlan,
    ImageBuild,
    dockerfile_steps,
    image_reference,
    make_plan,
)

REPO = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker"
BUILDX = Capabilities(
    docker=DOCKER, builder="buildx", client_version="27.3.1", buildx_version="v0.17.1"
)
BUILDKIT = Capabilities(docker=DOCKER, builder="buildkit", client_version="20.10.24")
LEGACY = Capabilities(docker=DOCKER, builder="legacy", client_version="28.2.2")
SECRET_VALUE = "hf_never_in_argv_0123"

PYPROJECT = """\
[project]
name = "demo"
version = "2.0.1"

[tool.buildlib]
default-group = ["gpu", "cpu"]
source = "https://github.com/acme/demo"

[tool.buildlib.images.gpu]
repository = "acme/demo-gpu"
dockerfile = "docker/Dockerfile.gpu"
context = "ctx"
platforms = ["linux/amd64", "linux/arm64"]
title = "Demo (GPU)"
build-args = { BASE_IMAGE = "nvidia/cuda:12.4", EXTRA = "1" }

[tool.buildlib.images.cpu]
repository = "acme/demo-cpu"
dockerfile = "docker/Dockerfile.cpu"
context = "ctx"
target = "runtime"
"""

GPU_DOCKERFILE = """\
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
WORKDIR /app
COPY . .
ARG EXTRA
"""

CPU_DOCKERFILE = """\
ARG BASE_IMAGE=python:3.12-slim
FROM $BASE_IMAGE
WORKDIR /app
COPY . .
FROM scratch AS runtime
COPY --from=0 /app /app
"""


def git(root: Path, *args: str, date: str = "2021-02-03T04:05:06Z") -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    proc = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def make_repo(
    root: Path,
    pyproject: str = PYPROJECT,
    *,
    gpu: str = GPU_DOCKERFILE,
    cpu: str = CPU_DOCKERFILE,
    commit: bool = False,
) -> Config:
    (root / "docker").mkdir(exist_ok=True)
    (root / "ctx").mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    (root / "docker" / "Dockerfile.gpu").write_text(gpu, encoding="utf-8")
    (root / "docker" / "Dockerfile.cpu").write_text(cpu, encoding="utf-8")
    if commit:
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "feat: initial")
    return config_module.load(root)


def options(config: Config, **flags: object) -> BuildOptions:
    environ = flags.pop("environ", {"HF_TOKEN": SECRET_VALUE})
    tag, registry = flags.pop("tag", "t1"), flags.pop("registry", None)
    return options_for(
        config,
        ImageFlags(**flags),  # type: ignore[arg-type]
        tag=tag,  # type: ignore[arg-type]
        registry=registry,  # type: ignore[arg-type]
        environ=environ,  # type: ignore[arg-type]
    )


def plan_for(
    config: Config,
    caps: Capabilities = BUILDX,
    *,
    output: str = "load",
    names: tuple[str, ...] = ("gpu", "cpu"),
    **flags: object,
) -> BuildPlan:
    return make_plan(
        config, config.select(list(names)), options(config, **flags), caps, output=output
    )  # type: ignore[arg-type]


def build_of(plan: BuildPlan, name: str) -> ImageBuild:
    return next(b for b in plan.builds if b.name == name)


def value_after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def values_of(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


# --- build_command per builder ------------------------------------------------------------


def test_buildx_loads_by_default(tmp_path: Path) -> None:
    build = build_of(plan_for(make_repo(tmp_path)), "cpu")
    argv, env = build_command(build, BUILDX)
    assert argv[:3] == [DOCKER, "buildx", "build"]
    assert env == {}
    assert "--load" in argv and "--push" not in argv
    assert value_after(argv, "--platform") == host_platform()
    assert value_after(argv, "--progress") == "plain"
    assert "--builder" not in argv
    assert values_of(argv, "--tag") == ["acme/demo-cpu:t1"]


def test_buildx_pushes_a_multi_platform_image(tmp_path: Path) -> None:
    plan = plan_for(make_repo(tmp_path), output="push", names=("gpu",))
    build = build_of(plan, "gpu")
    assert build.output == "push"
    argv, _ = build_command(build, BUILDX)
    assert "--push" in argv and "--load" not in argv
    assert value_after(argv, "--platform") == "linux/amd64,linux/arm64"


def test_single_platform_push_plan_loads_then_pushes(tmp_path: Path) -> None:
    plan = plan_for(make_repo(tmp_path), output="push", names=("cpu",))
    assert build_of(plan, "cpu").platforms == (host_platform(),)
    assert build_of(plan, "cpu").output == "load"
    assert "--load" in build_command(build_of(plan, "cpu"), BUILDX)[0]


def test_buildx_builder_and_cache_flags(tmp_path: Path) -> None:
    plan = plan_for(
        make_repo(tmp_path),
        builder="remote-kube",
        cache_from=["type=registry,ref=acme/demo:cache"],
        cache_to=["type=registry,ref=acme/demo:cache,mode=max"],
    )
    assert plan.builder == "remote-kube"
    argv, _ = build_command(build_of(plan, "cpu"), BUILDX, plan.builder)
    assert argv[:5] == [DOCKER, "buildx", "build", "--builder", "remote-kube"]
    assert values_of(argv, "--cache-from") == ["type=registry,ref=acme/demo:cache"]
    assert values_of(argv, "--cache-to") == ["type=registry,ref=acme/demo:cache,mode=max"]


def test_buildkit_sets_the_environment_and_platform(tmp_path: Path) -> None:
    build = build_of(plan_for(make_repo(tmp_path), BUILDKIT), "cpu")
    argv, env = build_command(build, BUILDKIT)
    assert argv[:2] == [DOCKER, "build"]
    assert "buildx" not in argv
    assert env == {"DOCKER_BUILDKIT": "1"}
    assert value_after(argv, "--progress") == "plain"
    assert value_after(argv, "--platform") == host_platform()
    assert "--load" not in argv and "--push" not in argv


def test_legacy_sets_buildkit_off_and_has_no_platform_or_secret(tmp_path: Path) -> None:
    build = build_of(plan_for(make_repo(tmp_path), LEGACY), "cpu")
    argv, env = build_command(build, LEGACY)
    assert argv[:2] == [DOCKER, "build"]
    assert env == {"DOCKER_BUILDKIT": "0"}
    for flag in ("--platform", "--progress", "--secret", "--load", "--push", "buildx"):
        assert flag not in argv
    assert values_of(argv, "--tag") == ["acme/demo-cpu:t1"]


def test_legacy_builds_another_platform_than_the_host_s_when_asked(tmp_path: Path) -> None:
    # without --platform the legacy builder builds the host's: the plan said linux/s390x, the
    # image would have been the host's, tagged as asked
    other = "linux/s390x" if host_platform() != "linux/s390x" else "linux/amd64"
    build = build_of(plan_for(make_repo(tmp_path), LEGACY, platform=other), "cpu")
    argv, env = build_command(build, LEGACY)
    assert build.platforms == (other,)
    # the flag is added to the legacy command line, which keeps its program, file and tags
    assert argv[:2] == [DOCKER, "build"]
    assert env == {"DOCKER_BUILDKIT": "0"}
    assert "--file" in argv
    assert values_of(argv, "--tag") == ["acme/demo-cpu:t1"]
    assert value_after(argv, "--platform") == other
    assert "--progress" not in argv


@pytest.mark.parametrize("caps", [BUILDKIT, LEGACY], ids=["buildkit", "legacy"])
def test_only_buildx_gets_the_annotations(tmp_path: Path, caps: Capabilities) -> None:
    # `docker build` without buildx knows no --annotation: it would refuse the whole build
    build = build_of(plan_for(make_repo(tmp_path), caps), "cpu")
    annotated = dataclasses.replace(build, annotations=("index:org.example.title=demo",))
    assert "--annotation" not in build_command(annotated, caps)[0]
    assert values_of(build_command(annotated, BUILDX)[0], "--annotation") == [
        "index:org.example.title=demo"
    ]


@pytest.mark.parametrize("caps", [BUILDX, BUILDKIT], ids=["buildx", "buildkit"])
def test_secrets_only_as_references(tmp_path: Path, caps: Capabilities) -> None:
    key = tmp_path / "id_rsa"
    key.write_text("private\n")
    plan = plan_for(
        make_repo(tmp_path), caps, secret=["id=hf_token,env=HF_TOKEN", f"id=ssh,src={key}"]
    )
    argv, env = build_command(build_of(plan, "gpu"), caps)
    assert values_of(argv, "--secret") == ["id=hf_token,env=HF_TOKEN", f"id=ssh,src={key}"]
    everything = " ".join(argv) + " " + " ".join(f"{k}={v}" for k, v in env.items())
    assert SECRET_VALUE not in everything
    assert "private" not in everything


def test_oci_labels_from_git(tmp_path: Path) -> None:
    config = make_repo(tmp_path, commit=True)
    head = git(tmp_path, "rev-parse", "HEAD")
    argv, _ = build_command(build_of(plan_for(config), "gpu"), BUILDX)
    assert values_of(argv, "--label") == [
        "org.opencontainers.image.title=Demo (GPU)",
        "org.opencontainers.image.version=2.0.1",
        f"org.opencontainers.image.revision={head}",
        "org.opencontainers.image.created=2021-02-03T04:05:06Z",
        "org.opencontainers.image.source=https://github.com/acme/demo",
    ]


def test_oci_labels_outside_git(tmp_path: Path) -> None:
    argv, _ = build_command(build_of(plan_for(make_repo(tmp_path)), "cpu"), BUILDX)
    labels = dict(label.split("=", 1) for label in values_of(argv, "--label"))
    assert sorted(labels) == sorted(
        f"org.opencontainers.image.{k}"
        for k in ("title", "version", "revision", "created", "source")
    )
    assert labels["org.opencontainers.image.title"] == "acme/demo-cpu"
    assert labels["org.opencontainers.image.revision"] == "unknown"
    assert labels["org.opencontainers.image.created"].endswith("Z")


def test_paths_are_relative_to_the_workdir(tmp_path: Path) -> None:
    plan = plan_for(make_repo(tmp_path))
    build = build_of(plan, "gpu")
    assert build.workdir == tmp_path.resolve()
    argv, _ = build_command(build, BUILDX)
    assert value_after(argv, "--file") == "docker/Dockerfile.gpu"
    assert argv[-1] == "ctx"
    assert str(tmp_path) not in " ".join(argv)


def test_context_at_the_root_is_a_dot(tmp_path: Path) -> None:
    config = make_repo(tmp_path, PYPROJECT.replace('context = "ctx"\ntarget', "target"))
    argv, _ = build_command(build_of(plan_for(config), "cpu"), BUILDX)
    assert argv[-1] == "."


def test_build_args_no_cache_and_target(tmp_path: Path) -> None:
    plan = plan_for(make_repo(tmp_path), no_cache=True, build_arg=["EXTRA=2", "NEW=x"])
    gpu, _ = build_command(build_of(plan, "gpu"), BUILDX)
    cpu, _ = build_command(build_of(plan, "cpu"), BUILDX)
    # pyproject's build-args, overridden and extended by --build-arg
    assert values_of(gpu, "--build-arg") == ["BASE_IMAGE=nvidia/cuda:12.4", "EXTRA=2", "NEW=x"]
    assert "--no-cache" in gpu
    assert "--target" not in gpu
    assert value_after(cpu, "--target") == "runtime"
    plain, _ = build_command(build_of(plan_for(make_repo(tmp_path)), "cpu"), BUILDX)
    assert "--no-cache" not in plain


def test_registry_prefix_on_references(tmp_path: Path) -> None:
    plan = plan_for(make_repo(tmp_path), registry="127.0.0.1:5000")
    argv, _ = build_command(build_of(plan, "cpu"), BUILDX)
    assert values_of(argv, "--tag") == ["127.0.0.1:5000/acme/demo-cpu:t1"]
    assert image_reference("docker.io", "a/b", "x") == "a/b:x"
    assert image_reference("index.docker.io", "a/b", "x") == "a/b:x"
    assert image_reference("ghcr.io", "a/b", "x") == "ghcr.io/a/b:x"


# --- make_plan refusals -------------------------------------------------------------------


def refusal(config: Config, caps: Capabilities, **kwargs: object) -> UsageError:
    with pytest.raises(UsageError) as caught:
        plan_for(config, caps, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_refuses_to_load_a_multi_platform_image(tmp_path: Path) -> None:
    error = refusal(make_repo(tmp_path), BUILDX, platform="linux/amd64,linux/arm64")
    assert error.message == (
        "gpu: cannot load a multi-platform image (linux/amd64, linux/arm64) into the local engine"
    )
    assert error.hint == "build one platform (--platform linux/amd64) or push it (invoke push)"


@pytest.mark.parametrize("caps", [BUILDKIT, LEGACY], ids=["buildkit", "legacy"])
def test_refuses_multi_platform_without_buildx(tmp_path: Path, caps: Capabilities) -> None:
    error = refusal(make_repo(tmp_path), caps, output="push", names=("gpu",))
    assert error.message.startswith(
        "gpu: building linux/amd64, linux/arm64 at once needs docker buildx (this client has the "
    )
    assert caps.describe() in error.message
    assert error.hint == "install the buildx plugin, or pass one --platform"


@pytest.mark.parametrize("caps", [BUILDKIT, LEGACY], ids=["buildkit", "legacy"])
def test_refuses_builder_without_buildx(tmp_path: Path, caps: Capabilities) -> None:
    error = refusal(make_repo(tmp_path), caps, builder="remote")
    assert error.message.startswith("--builder remote needs docker buildx")
    assert error.hint is not None and "drop --builder" in error.hint


def test_refuses_secret_with_the_legacy_builder(tmp_path: Path) -> None:
    error = refusal(make_repo(tmp_path), LEGACY, secret=["id=hf,env=HF_TOKEN"])
    assert error.message.startswith("--secret needs BuildKit")
    assert error.hint == (
        "install docker buildx, or use a docker client older than 23 with BUILDLIB_DOCKER"
    )
    # BuildKit without buildx is fine
    assert plan_for(make_repo(tmp_path), BUILDKIT, secret=["id=hf,env=HF_TOKEN"]).builds


@pytest.mark.parametrize(
    ("caps", "message"),
    [
        (LEGACY, "--cache-to type=local,dest=/tmp/c: the legacy builder cannot export a cache"),
        (
            BUILDKIT,
            "--cache-to type=local,dest=/tmp/c: built-in BuildKit exports only the inline cache "
            "(--cache-to type=inline)",
        ),
    ],
    ids=["legacy", "buildkit"],
)
def test_refuses_cache_to_without_buildx(tmp_path: Path, caps: Capabilities, message: str) -> None:
    error = refusal(make_repo(tmp_path), caps, cache_to=["type=local,dest=/tmp/c"])
    assert error.message == message
    assert error.hint is not None and "install the buildx plugin" in error.hint


@pytest.mark.parametrize("caps", [BUILDKIT, LEGACY], ids=["buildkit", "legacy"])
def test_refuses_a_cache_source_other_than_an_image_without_buildx(
    tmp_path: Path, caps: Capabilities
) -> None:
    error = refusal(make_repo(tmp_path), caps, cache_from=["type=local,src=/tmp/c"])
    assert error.message.startswith("--cache-from type=local,src=/tmp/c: the ")
    assert "reads only image references" in error.message
    assert error.hint is not None and "buildx" in error.hint


def test_builtin_buildkit_gets_the_plain_reference_it_honours(tmp_path: Path) -> None:
    # `docker build --cache-from type=registry,ref=X` (no buildx) ignores the cache silently.
    plan = plan_for(
        make_repo(tmp_path),
        BUILDKIT,
        cache_from=["type=registry,ref=acme/demo:cache", "acme/demo:main"],
        cache_to=["type=inline"],
    )
    argv, _ = build_command(build_of(plan, "cpu"), BUILDKIT)
    assert values_of(argv, "--cache-from") == ["acme/demo:cache", "acme/demo:main"]
    assert "--cache-to" not in argv
    assert "BUILDKIT_INLINE_CACHE=1" in values_of(argv, "--build-arg")


def test_buildx_keeps_the_cache_specs_as_written(tmp_path: Path) -> None:
    plan = plan_for(
        make_repo(tmp_path),
        cache_from=["type=local,src=/tmp/c", "ref=acme/demo:cache"],
        cache_to=["type=inline"],
    )
    argv, _ = build_command(build_of(plan, "cpu"), BUILDX)
    assert values_of(argv, "--cache-from") == ["type=local,src=/tmp/c", "ref=acme/demo:cache"]
    assert values_of(argv, "--cache-to") == ["type=inline"]
    assert "BUILDKIT_INLINE_CACHE=1" not in values_of(argv, "--build-arg")


def test_image_placeholder_gives_each_image_its_own_cache(tmp_path: Path) -> None:
    from buildlib.bake import bake_definition

    plan = plan_for(
        make_repo(tmp_path),
        cache_from=["type=gha,scope=image-{image}"],
        cache_to=["type=gha,scope=image-{image},mode=max,ignore-error=true"],
    )
    for name in ("gpu", "cpu"):
        argv, _ = build_command(build_of(plan, name), BUILDX)
        assert values_of(argv, "--cache-from") == [f"type=gha,scope=image-{name}"]
        assert values_of(argv, "--cache-to") == [
            f"type=gha,scope=image-{name},mode=max,ignore-error=true"
        ]
    targets = bake_definition(plan.builds)["target"]
    assert targets["cpu"]["cache-from"] == ["type=gha,scope=image-cpu"]
    assert targets["gpu"]["cache-to"] == ["type=gha,scope=image-gpu,mode=max,ignore-error=true"]


def test_legacy_reads_a_local_image_as_cache(tmp_path: Path) -> None:
    plan = plan_for(make_repo(tmp_path), LEGACY, cache_from=["type=registry,ref=acme/demo:1"])
    argv, _ = build_command(build_of(plan, "cpu"), LEGACY)
    assert values_of(argv, "--cache-from") == ["acme/demo:1"]


@pytest.mark.parametrize("spec", ["type=registry,oops", "mode=max", "=x"])
def test_malformed_cache_specs_are_refused_before_building(tmp_path: Path, spec: str) -> None:
    error = refusal(make_repo(tmp_path), BUILDX, cache_to=[spec])
    assert error.message.startswith(f"cache spec {spec!r}")
    assert error.hint == "write it as type=registry,ref=REPO:buildcache"


def test_an_iidfile_is_passed_before_the_context(tmp_path: Path) -> None:
    build = build_of(plan_for(make_repo(tmp_path), BUILDKIT), "cpu")
    argv, _ = build_command(build, BUILDKIT, iidfile=tmp_path / "cpu.iid")
    assert value_after(argv, "--iidfile") == str(tmp_path / "cpu.iid")
    assert argv[-1] == build_command(build, BUILDKIT)[0][-1]  # the context stays last
    assert "--iidfile" not in build_command(build, BUILDKIT)[0]


def test_no_cache_drops_the_shared_steps_ordering(tmp_path: Path) -> None:
    same = make_repo(
        tmp_path,
        PYPROJECT.replace('build-args = { BASE_IMAGE = "nvidia/cuda:12.4", EXTRA = "1" }', ""),
    )
    assert [b.after for b in plan_for(same).builds] == [None, "gpu"]
    plan = plan_for(same, no_cache=True)
    assert [b.after for b in plan.builds] == [None, None]
    assert plan.jobs == 2


# --- scheduling ---------------------------------------------------------------------------


def test_shared_base_and_next_step_gives_an_after_edge(tmp_path: Path) -> None:
    plan = plan_for(make_repo(tmp_path))  # gpu's BASE_IMAGE overridden: different bases
    assert [b.after for b in plan.builds] == [None, None]
    assert plan.jobs == 2
    same = make_repo(
        tmp_path,
        PYPROJECT.replace('build-args = { BASE_IMAGE = "nvidia/cuda:12.4", EXTRA = "1" }', ""),
    )
    plan = plan_for(same)
    assert [(b.name, b.after) for b in plan.builds] == [("gpu", None), ("cpu", "gpu")]
    # cpu starts once gpu's 3rd BuildKit step (FROM, WORKDIR, COPY . .) is done
    assert build_of(plan, "cpu").after_step == ("stage-0", 3, "COPY")
    assert plan.jobs == 2


def test_the_legacy_builder_waits_for_the_whole_earlier_build(tmp_path: Path) -> None:
    same = make_repo(
        tmp_path,
        PYPROJECT.replace('build-args = { BASE_IMAGE = "nvidia/cuda:12.4", EXTRA = "1" }', ""),
    )
    plan = plan_for(same, LEGACY)
    assert [(b.after, b.after_step) for b in plan.builds] == [(None, None), ("gpu", None)]


@pytest.mark.parametrize(
    ("shared", "step"),
    [
        (["FROM base", "RUN a"], ("stage-0", 2, "RUN")),
        (
            ["FROM base AS Builder", "ENV X=1", "WORKDIR /app", "ARG Y", "COPY . ."],
            ("builder", 3, "COPY"),
        ),
        (["FROM --platform=linux/amd64 base as deps", "RUN a", "ADD x y"], ("deps", 3, "ADD")),
        (["FROM --platform=$BUILDPLATFORM scratch AS Out", "COPY a /a"], ("out", 1, "COPY")),
        (["FROM base", "RUN a", "ENV X=1"], ("stage-0", 2, "RUN")),  # ENV is no step
        (["FROM scratch", "COPY a /a", "COPY b /b"], ("stage-0", 2, "COPY")),  # no FROM step
        (["FROM base", "WORKDIR /", "RUN a"], ("stage-0", 2, "RUN")),  # WORKDIR / is no step
        (["FROM base", "RUN a", "WORKDIR /"], ("stage-0", 2, "RUN")),  # named by its last step
        (["FROM base", "RUN <<EOF", "set -e", "EOF"], None),  # heredoc lines are not steps
        (["FROM base", "RUN a", "FROM other", "RUN b"], None),  # past the first stage
        (["RUN a"], None),
        ([], None),
    ],
)
def test_last_shared_step_is_named_as_buildkit_numbers_it(shared, step) -> None:
    from buildlib.plan import last_shared_step

    assert last_shared_step(shared) == step


def test_only_a_shared_base_gives_no_edge(tmp_path: Path) -> None:
    config = make_repo(
        tmp_path,
        PYPROJECT.replace('build-args = { BASE_IMAGE = "nvidia/cuda:12.4", EXTRA = "1" }', ""),
        cpu="FROM python:3.12-slim AS runtime\nWORKDIR /srv\n",
    )
    plan = plan_for(config)
    assert [b.after for b in plan.builds] == [None, None]


def test_build_arg_override_can_join_or_split_bases(tmp_path: Path) -> None:
    config = make_repo(tmp_path)
    # --build-arg applies to both images, so both now start from the same base
    plan = plan_for(config, build_arg=["BASE_IMAGE=python:3.13"])
    assert build_of(plan, "cpu").after == "gpu"


def test_different_contexts_give_no_edge(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    config = make_repo(
        tmp_path,
        PYPROJECT.replace(
            'build-args = { BASE_IMAGE = "nvidia/cuda:12.4", EXTRA = "1" }', ""
        ).replace('context = "ctx"\ntarget', 'context = "other"\ntarget'),
    )
    assert [b.after for b in plan_for(config).builds] == [None, None]


def test_explicit_jobs_win(tmp_path: Path) -> None:
    assert plan_for(make_repo(tmp_path), jobs="1").jobs == 1


def test_dockerfile_steps_substitutes_arg_defaults(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "# comment\n"
        "ARG BASE=alpine\n"
        "ARG BASE_IMAGE=python:3.12\n"
        "\n"
        "from ${BASE_IMAGE} AS build\n"
        "RUN echo $BASE_IMAGE $BASE ${BASE}-x \\\n"
        "    &&   true\n"
        "ARG LATE=1\n"
        "COPY   a   b\n",
        encoding="utf-8",
    )
    assert dockerfile_steps(dockerfile, {}) == [
        "FROM python:3.12 AS build",
        "RUN echo python:3.12 alpine alpine-x && true",
        "ARG LATE=1",
        "COPY a b",
    ]
    assert dockerfile_steps(dockerfile, {"BASE_IMAGE": "nvidia/cuda:12", "BASE": "b"})[:2] == [
        "FROM nvidia/cuda:12 AS build",
        "RUN echo nvidia/cuda:12 b b-x && true",
    ]


def test_dockerfile_steps_follow_the_escape_directive_and_heredocs(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "# escape=`\n"
        "ARG BASE=alpine\n"
        "FROM $BASE\n"
        "RUN a `\n"
        "    # not part of the step\n"
        "    && b\n"
        "RUN <<EOF\n"
        "echo $BASE\n"
        "EOF\n",
        encoding="utf-8",
    )
    assert dockerfile_steps(dockerfile, {}) == [
        "FROM alpine",
        "RUN a && b",
        "RUN <<EOF\necho alpine",
    ]


def test_this_repository_plan_orders_lb_after_gpu() -> None:
    config = config_module.load(REPO)
    plan = make_plan(config, config.images, options_for(config, ImageFlags(), environ={}), BUILDX)
    assert [(b.name, b.after) for b in plan.builds] == [("gpu", None), ("cpu", None), ("lb", "gpu")]
    # gpu and lb share every step up to `COPY worker/` (BuildKit's 6th): lb starts when it is done
    assert build_of(plan, "lb").after_step == ("stage-0", 6, "COPY")
    assert plan.jobs == 3
    for build in plan.builds:
        argv, _ = build_command(build, BUILDX)
        assert value_after(argv, "--file") == build.image.dockerfile
        assert argv[-1] == "."


def test_image_build_name_and_primary(tmp_path: Path) -> None:
    build: ImageBuild = build_of(plan_for(make_repo(tmp_path)), "cpu")
    assert build.name == "cpu"
    assert build.primary == "acme/demo-cpu:t1"


def test_source_label_from_a_remote_carries_no_credential(tmp_path: Path) -> None:
    """A CI clone's origin holds its token (``https://gitlab-ci-token:TOKEN@...``): the label
    and the echoed command line get the repository's address only."""
    token = "glcbt-" + "s3cr3t" * 4
    pyproject = PYPROJECT.replace('source = "https://github.com/acme/demo"\n', "")
    config = make_repo(tmp_path, pyproject, commit=True)
    git(tmp_path, "remote", "add", "origin", f"https://gitlab-ci-token:{token}@gitlab.com/o/r.git")
    argv, _ = build_command(build_of(plan_for(config), "gpu"), BUILDX)
    assert "org.opencontainers.image.source=https://gitlab.com/o/r.git" in argv
    assert token not in " ".join(argv)
    git(tmp_path, "remote", "set-url", "origin", "git@github.com:acme/demo.git")
    argv, _ = build_command(build_of(plan_for(config), "gpu"), BUILDX)
    assert "org.opencontainers.image.source=https://github.com/acme/demo.git" in argv


def test_a_configured_source_is_published_without_its_userinfo(tmp_path: Path) -> None:
    pyproject = PYPROJECT.replace(
        "https://github.com/acme/demo", "https://robot:hunter2hunter2@github.com/acme/demo"
    )
    argv, _ = build_command(build_of(plan_for(make_repo(tmp_path, pyproject)), "gpu"), BUILDX)
    assert "org.opencontainers.image.source=https://github.com/acme/demo" in argv
    assert "hunter2" not in " ".join(argv)


def test_the_image_id_is_asked_even_in_a_dry_run(tmp_path: Path) -> None:
    """``docker image inspect`` changes nothing, so a dry run still asks it: the dry-run
    plan of a push names the image ids it would push."""
    from buildlib.docker import Docker
    from buildlib.runner import Runner

    image_id = "sha256:" + "ab" * 32
    stand_in = tmp_path / "docker"
    stand_in.write_text(
        f'#!/bin/sh\n[ "$1 $2" = "image inspect" ] && echo {image_id} && exit 0\nexit 1\n',
        encoding="utf-8",
    )
    stand_in.chmod(0o755)
    cli = Docker(Runner(dry_run=True, quiet=True), Capabilities(str(stand_in), "buildkit", "20.10"))
    assert cli.image_id("acme/app:local") == image_id
    assert (
        Docker(Runner(quiet=True), Capabilities(str(stand_in), "buildkit", "20.10")).image_id(
            "acme/app:local"
        )
        == image_id
    )


def test_a_build_arg_flag_no_dockerfile_declares_is_said_to_be_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # docker ignores it (BuildKit silently): a misspelt --build-arg would change nothing
    # the plan says it; build and push warn of it (test_build_execute, test_publish_decisions)
    config = make_repo(tmp_path)
    assert plan_for(config, build_arg=["EXTRA=2", "BASE_IMAGE=x", "HTTP_PROXY=p"]).warnings == ()
    assert plan_for(config, build_arg=["EXTRAS=2"]).warnings == (
        "--build-arg EXTRAS is ignored: no ARG EXTRAS in docker/Dockerfile.cpu, "
        "docker/Dockerfile.gpu (did you mean 'EXTRA'?)",
    )
    assert capsys.readouterr().err == ""


def test_each_dockerfile_is_parsed_once_by_the_config_the_plan_and_the_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build-args and target checks of the config, the plan's --build-arg warning and
    shared steps, and the pre-flight's secret check all need the same instructions."""
    from buildlib import dockerfile
    from buildlib.checks.project import Project
    from buildlib.checks.secrets import check_secret_build_args

    parsed: list[str] = []

    def counting(text: str) -> list[dockerfile.Instruction]:
        parsed.append(text)
        return original(text)

    original = dockerfile.parse
    monkeypatch.setattr(dockerfile, "parse", counting)
    # text no earlier test parsed: what the process already knows cannot hide a second parse
    unique = f"# {tmp_path}\n"
    config = make_repo(tmp_path, gpu=GPU_DOCKERFILE + unique, cpu=CPU_DOCKERFILE + unique)
    plan_for(config, build_arg=["EXTRAS=2"])
    check_secret_build_args(Project.load(tmp_path))
    times = {
        "gpu": parsed.count(GPU_DOCKERFILE + unique),
        "cpu": parsed.count(CPU_DOCKERFILE + unique),
    }
    assert (times, len(parsed)) == ({"gpu": 1, "cpu": 1}, 2)


@pytest.mark.parametrize("caps", [BUILDX, BUILDKIT, LEGACY], ids=["buildx", "buildkit", "legacy"])
def test_an_empty_cache_spec_is_skipped_as_buildx_skips_it(
    tmp_path: Path, caps: Capabilities
) -> None:
    # docker/buildx util/buildflags/cache.go (ParseCacheEntry, at 461836b) skips a value
    # that is "" before parsing it (`--cache-from "$UNSET"` of a CI matrix), for both flags
    plan = plan_for(make_repo(tmp_path), caps, cache_from=["", "acme/demo:main", ""], cache_to=[""])
    argv, _ = build_command(build_of(plan, "cpu"), caps)
    assert values_of(argv, "--cache-from") == ["acme/demo:main"]
    assert "--cache-to" not in argv
    assert "BUILDKIT_INLINE_CACHE=1" not in values_of(argv, "--build-arg")


@pytest.mark.parametrize(
    ("flag", "spec", "problem", "hint"),
    [
        ("cache_from", " ", "is blank", "pass it empty to skip it"),
        ("cache_to", "\t", "is blank", "pass it empty to skip it"),
        ("cache_from", " acme/demo:main", "has white space around it", "'acme/demo:main'"),
        ("cache_to", "type=inline ", "has white space around it", "'type=inline'"),
    ],
)
def test_a_cache_spec_padded_with_white_space_is_refused(
    tmp_path: Path, flag: str, spec: str, problem: str, hint: str
) -> None:
    # buildx skips only "" and keeps the spaces of the rest (util/buildflags/cache.go at
    # 461836b): " " is the image reference " ", " type=gha" has the key " type", no type
    error = refusal(make_repo(tmp_path), BUILDX, **{flag: [spec]})
    name = "--" + flag.replace("_", "-")
    assert error.message.startswith(f"{name} {spec!r} {problem}: buildx ")
    assert error.hint is not None and hint in error.hint
