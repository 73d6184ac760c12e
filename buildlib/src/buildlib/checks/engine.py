"""The Docker side of doctor: the engine answers, which builder the client has, whether
pushes get attestations and annotations, free disk space. It only reads what
:mod:`buildlib.docker` asks and never runs docker itself, nor changes anything."""

from __future__ import annotations

import os
import shutil
from typing import Any

from buildlib.checks import CheckResult
from buildlib.checks.project import Project
from buildlib.errors import BuildlibError

GIB = 1024**3
DISK_WARN_GIB = 10  # a CUDA base image alone is several GiB
DISK_FAIL_GIB = 2


def engine_info(project: Project) -> Any:
    """EngineInfo, or the BuildlibError that stopped it (memoized per project)."""

    def compute() -> Any:
        from buildlib import docker

        try:
            return docker.engine_info()
        except BuildlibError as exc:
            return exc

    return project.cached("engine-info", compute)


def check_docker_engine(project: Project) -> CheckResult:
    from buildlib.engine import engine_endpoint

    info = engine_info(project)
    if isinstance(info, BuildlibError):
        hint = info.hint or "start the Docker engine, then run `invoke doctor` again"
        return CheckResult("docker-engine", "fail", info.message, hint=hint)
    endpoint = engine_endpoint()
    return CheckResult(
        "docker-engine",
        "ok",
        f"Docker Engine {info.version} (API {info.api_version}, {info.os}/{info.arch}) answers "
        f"at {endpoint.address} ({endpoint.source})",
    )


def check_docker_builder(project: Project) -> CheckResult:
    from buildlib.docker import detect

    try:
        capabilities = detect()
    except BuildlibError as exc:
        return CheckResult(
            "docker-builder", "fail", exc.message, hint=exc.hint or "install the docker CLI"
        )
    described = f"{capabilities.docker}: {capabilities.describe()}"
    if capabilities.builder == "buildx":
        return CheckResult("docker-builder", "ok", described)
    if capabilities.builder == "buildkit":
        return CheckResult(
            "docker-builder",
            "ok",
            f"{described}; no multi-platform builds or cache export without buildx",
        )
    return CheckResult(
        "docker-builder",
        "warn",
        f"{described}: no BuildKit, so no --secret, no cache export, no multi-platform builds",
        # Docker's own packages name it docker-buildx-plugin; distributions differ (Debian
        # 12 has none), and the buildx README's manual install works everywhere.
        hint="install the buildx plugin: docker-buildx-plugin from Docker's package "
        "repository, or a docker-buildx binary from the docker/buildx releases as "
        "~/.docker/cli-plugins/docker-buildx; or point BUILDLIB_DOCKER at a client older "
        "than 23.0",
    )


def check_attestations(project: Project) -> CheckResult:
    """Whether pushes and releases get the provenance and SBOM ``[tool.buildlib]`` asks for
    (on by default): only buildx with a builder outside the engine makes them."""
    from buildlib import attest
    from buildlib.docker import detect

    wanted = attest.wanted(project.settings)
    if not wanted:
        return CheckResult(
            "attestations", "ok", "off in [tool.buildlib] (provenance = false, sbom = false)"
        )
    try:
        capabilities = detect()
    except BuildlibError as exc:
        return CheckResult("attestations", "skipped", f"no docker client: {exc.message}")
    driver, reason = attest.builder_support(capabilities)
    if reason is not None:
        return CheckResult(
            "attestations",
            "warn",
            f"pushes and releases would carry no {wanted}: {reason}",
            hint=attest.HOW,
        )
    on = f"buildx builder with the {driver} driver" if driver else "buildx"
    return CheckResult(
        "attestations",
        "ok",
        f"pushes carry {wanted} (provenance mode=min; releases mode=max), made by the {on}",
    )


def check_annotations(project: Project) -> CheckResult:
    """Whether a push's OCI annotations (its labels, on the index and manifests) are
    written: buildx 0.12 or later, on images it pushes itself (multi-platform or attested)."""
    from buildlib import tags
    from buildlib.docker import detect

    try:
        capabilities = detect()
    except BuildlibError as exc:
        return CheckResult("annotations", "skipped", f"no docker client: {exc.message}")
    reason = tags.annotations_unsupported(
        capabilities.builder, capabilities.describe(), capabilities.buildx_version
    )
    if reason is not None:
        return CheckResult(
            "annotations",
            "warn",
            f"pushed images would carry labels but no OCI annotations: {reason}",
            hint="install buildx 0.12 or later (docker-buildx-plugin, or a docker-buildx "
            "binary from the docker/buildx releases in ~/.docker/cli-plugins)",
        )
    return CheckResult(
        "annotations",
        "ok",
        f"{capabilities.describe()} writes OCI annotations on the images it pushes "
        "(multi-platform or attested); images pushed by docker push carry labels only",
    )


def check_docker_disk(project: Project) -> CheckResult:
    from buildlib.engine import engine_endpoint

    info = engine_info(project)
    if isinstance(info, BuildlibError):
        return CheckResult(
            "docker-disk", "skipped", "the Docker engine does not answer (see docker-engine)"
        )
    root_dir = info.root_dir
    address = engine_endpoint().address
    if not root_dir:
        return CheckResult(
            "docker-disk", "skipped", "the engine did not say where it keeps images (DockerRootDir)"
        )
    if not address.startswith("unix://") or not os.path.isdir(root_dir):
        return CheckResult(
            "docker-disk",
            "skipped",
            f"the engine at {address} keeps images in {root_dir}, which is not on "
            "this machine's file system: check its disk there",
        )
    usage = shutil.disk_usage(root_dir)
    free = usage.free / GIB
    message = (
        f"{free:.1f} GiB free of {usage.total / GIB:.0f} GiB where the engine keeps "
        f"images ({root_dir})"
    )
    hint = (
        "free space: `docker system df` shows what uses it; `docker builder prune` "
        "removes the build cache, `docker image prune` dangling images"
    )
    if free < DISK_FAIL_GIB:
        return CheckResult("docker-disk", "fail", message, hint=hint)
    if free < DISK_WARN_GIB:
        return CheckResult(
            "docker-disk", "warn", f"{message}: builds of large images may fail", hint=hint
        )
    return CheckResult("docker-disk", "ok", message)
