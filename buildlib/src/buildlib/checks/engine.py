"""The Docker side of doctor: the engine answers, which builder the client has, whether
pushes get attestations and annotations, free disk space. It only reads what
:mod:`buildlib.docker` asks and never runs docker itself, nor changes anything."""

from __future__ import annotations

import os
import shutil
from functools import partial
from typing import Any

from buildlib.checks import CheckResult
from buildlib.checks.project import Project, per_project
from buildlib.config import PYPROJECT, Locator
from buildlib.engine import engine_endpoint
from buildlib.errors import BuildlibError
from buildlib.tags import annotations_unsupported

GIB = 1024**3
DISK_WARN_GIB = 10  # a CUDA base image alone is several GiB
DISK_FAIL_GIB = 2


@per_project
def engine_info(project: Project) -> Any:
    """EngineInfo, or the BuildlibError that stopped it."""
    return _ask("engine_info")


def _ask(probe: str) -> Any:
    """What ``docker.<probe>()`` returns, or the BuildlibError that stopped it."""
    from buildlib import docker

    try:
        return getattr(docker, probe)()
    except BuildlibError as exc:
        return exc


def check_docker_engine(project: Project) -> CheckResult:
    info = engine_info(project)
    if isinstance(info, BuildlibError):
        hint = info.hint or "start the Docker engine, then run `invoke doctor` again"
        return CheckResult("docker-engine", "fail", info.message, hint=hint)
    endpoint = engine_endpoint()
    engine = f"Docker Engine {info.version} (API {info.api_version}, {info.os}/{info.arch})"
    where = f"{endpoint.address} ({endpoint.source})"
    return CheckResult("docker-engine", "ok", f"{engine} answers at {where}")


# Docker's own packages name it docker-buildx-plugin; distributions differ (Debian 12 has
# none), and the buildx README's manual install works everywhere.
_INSTALL_BUILDX = (
    "install the buildx plugin: docker-buildx-plugin from Docker's package repository, or a "
    "docker-buildx binary from the docker/buildx releases as ~/.docker/cli-plugins/docker-buildx"
)


def check_docker_builder(project: Project, for_: str | None = None) -> CheckResult:
    result = partial(CheckResult, "docker-builder")
    caps = _ask("detect")
    if isinstance(caps, BuildlibError):
        return result("fail", caps.message, hint=caps.hint or "install the docker CLI")
    described = f"{caps.docker}: {caps.describe()}"
    if caps.builder == "buildx":
        return result("ok", described)
    # push and release build every platform an image lists, which only buildx can (plan.py)
    first = next((i for i in project.settings.images if len(i.platforms) > 1), None)
    if first is not None:
        line = Locator(project.text or "", PYPROJECT).key_line(
            f"tool.buildlib.images.{first.name}", "platforms"
        )
        built = f"{first.name} is built for {', '.join(first.platforms)}"
        return result(
            "fail" if for_ in ("push", "release") else "warn",
            f"{described}: {built} by push and release, which needs docker buildx",
            file=PYPROJECT,
            line=line,
            hint=f"{_INSTALL_BUILDX}; or pass one --platform to push and release",
        )
    if caps.builder == "buildkit":
        return result("ok", f"{described}; no multi-platform builds or cache export without buildx")
    return result(
        "warn",
        f"{described}: no BuildKit, so no --secret, no cache export, no multi-platform builds",
        hint=f"{_INSTALL_BUILDX}; or point BUILDLIB_DOCKER at a client older than 23.0",
    )


def check_attestations(project: Project) -> CheckResult:
    """Whether pushes and releases get the provenance and SBOM ``[tool.buildlib]`` asks for
    (on by default): only buildx with a builder outside the engine makes them."""
    from buildlib import attest

    result = partial(CheckResult, "attestations")
    wanted = attest.wanted(project.settings)
    if not wanted:
        return result("ok", "off in [tool.buildlib] (provenance = false, sbom = false)")
    caps = _ask("detect")
    if isinstance(caps, BuildlibError):
        return result("skipped", f"no docker client: {caps.message}")
    driver, reason = attest.builder_support(caps)
    if reason is not None:
        message = f"pushes and releases would carry no {wanted}: {reason}"
        return result("warn", message, hint=attest.HOW)
    on = f"buildx builder with the {driver} driver" if driver else "buildx"
    message = f"pushes carry {wanted} (provenance mode=min; releases mode=max), made by the {on}"
    return result("ok", message)


def check_annotations(project: Project) -> CheckResult:
    """Whether a push's OCI annotations (its labels, on the index and manifests) are
    written: buildx 0.12 or later, on images it pushes itself (multi-platform or attested)."""
    result = partial(CheckResult, "annotations")
    caps = _ask("detect")
    if isinstance(caps, BuildlibError):
        return result("skipped", f"no docker client: {caps.message}")
    reason = annotations_unsupported(caps.builder, caps.describe(), caps.buildx_version)
    if reason is not None:
        return result(
            "warn",
            f"pushed images would carry labels but no OCI annotations: {reason}",
            hint="install buildx 0.12 or later (docker-buildx-plugin, or a docker-buildx "
            "binary from the docker/buildx releases in ~/.docker/cli-plugins)",
        )
    return result(
        "ok",
        f"{caps.describe()} writes OCI annotations on the images it pushes "
        "(multi-platform or attested); images pushed by docker push carry labels only",
    )


def check_docker_disk(project: Project) -> CheckResult:
    result = partial(CheckResult, "docker-disk")
    info = engine_info(project)
    if isinstance(info, BuildlibError):
        return result("skipped", "the Docker engine does not answer (see docker-engine)")
    root_dir = info.root_dir
    address = engine_endpoint().address
    if not root_dir:
        return result("skipped", "the engine did not say where it keeps images (DockerRootDir)")
    if not address.startswith("unix://") or not os.path.isdir(root_dir):
        return result(
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
        return result("fail", message, hint=hint)
    if free < DISK_WARN_GIB:
        return result("warn", f"{message}: builds of large images may fail", hint=hint)
    return result("ok", message)
