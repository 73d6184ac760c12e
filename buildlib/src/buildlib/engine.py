"""What the docker client can build with and which engine it talks to, read from what
docker answered. It must never run a command itself: that is :mod:`buildlib.docker`'s.

Builders, best first: ``buildx`` (multi-platform, bake, remote builders); ``buildkit``,
``DOCKER_BUILDKIT=1 docker build`` from clients older than 23.0 (newer ones refuse it
without the buildx plugin); ``legacy`` (``DOCKER_BUILDKIT=0``), with a warning: no secrets,
no cache export, no multi-platform.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from buildlib.errors import DockerUnavailable
from buildlib.options import docker_client, docker_selection

BuilderKind = Literal["buildx", "buildkit", "legacy"]
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def docker_binary() -> str:
    """The docker client to run: ``$BUILDLIB_DOCKER`` or ``docker`` on PATH."""
    chosen, where = docker_client()
    if found := shutil.which(chosen):
        return found
    raise DockerUnavailable(
        f"docker client {chosen!r} not found (looked in {where})",
        hint="install the docker CLI, or set BUILDLIB_DOCKER=/path/to/docker",
    )


# platform.machine()'s names that docker spells otherwise (amd64, arm64 are alike)
_ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}


def host_platform() -> str:
    machine = platform.machine().lower()
    return f"linux/{_ARCHES.get(machine, machine)}"


@dataclass(frozen=True)
class Capabilities:
    docker: str
    builder: BuilderKind
    client_version: str | None
    buildx_version: str | None = None
    server_version: str | None = None
    # Why the engine did not answer `docker version` (its first line), when it did not.
    server_error: str | None = None
    # Doctor's details of the engine, left out of comparisons: the probe's answer is the same
    # builder and versions whatever the engine's API and platform.
    server_api: str | None = field(default=None, compare=False)
    server_platform: str | None = field(default=None, compare=False)  # "linux/amd64"

    @property
    def buildkit(self) -> bool:
        return self.builder != "legacy"

    def describe(self) -> str:
        if self.builder == "buildx":
            return f"buildx ({self.buildx_version})"
        if self.builder == "buildkit":
            return f"BuildKit built into the engine (client {self.client_version})"
        return f"legacy builder (client {self.client_version}, no buildx)"

    def require_engine(self) -> None:
        if self.server_version is None:
            raise engine_unreachable(self.server_error or "no answer to `docker version`")


@dataclass(frozen=True)
class Endpoint:
    """The engine the docker client talks to, and what picked it, as the client decides:
    ``DOCKER_HOST``, else the context ``DOCKER_CONTEXT`` names, else the current context of
    the docker config (``docker context use``), else the default socket."""

    address: str
    source: str  # "DOCKER_HOST", "DOCKER_CONTEXT=NAME", "docker context NAME", "default socket"


def engine_endpoint() -> Endpoint:
    selected = docker_selection()
    if selected.host:
        return Endpoint(selected.host, "DOCKER_HOST")
    name = selected.context
    source = f"DOCKER_CONTEXT={name}"
    if not name:
        current = user_config().get("currentContext")
        name = current if isinstance(current, str) else None
        source = f"docker context {name}"
    if not name or name == "default":
        return Endpoint(DEFAULT_SOCKET, "default socket")
    return Endpoint(_context_host(name) or f"the endpoint of context {name}", source)


def user_config() -> dict[str, Any]:
    """The user's docker ``config.json``; empty when it is missing or not a JSON object."""
    try:
        data = json.loads(
            (Path(docker_selection().config_dir()) / "config.json").read_text(encoding="utf-8")
        )
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _context_host(name: str) -> str | None:
    # the docker CLI keeps a context's meta.json under the sha256 of its name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta_file = Path(docker_selection().config_dir()) / "contexts" / "meta" / digest / "meta.json"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        host = meta["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return host if isinstance(host, str) and host else None


# What an engine failure says (lower case), and the short reason the one-line error shows.
_REASONS = {
    **{said: said for said in ("connection refused", "no such file or directory", "timed out")},
    "permission denied": "permission denied",
    "cannot connect to the docker daemon": "no engine answers there",
}
_ANSWERED = "error response from daemon"
_ENGINE_ERROR = re.compile(
    "|".join(re.escape(marker) for marker in [*_REASONS, "error during connect", _ANSWERED]),
    re.IGNORECASE,
)
_DAEMON_AT = re.compile(r"docker daemon(?: socket)? at (\S+?)\.?(?::\s|\s|$)", re.IGNORECASE)
# How to start the engine, by what picked it (Endpoint.source, up to its "=")
_START_HINTS = {
    "DOCKER_HOST": "start the engine DOCKER_HOST points at, or unset DOCKER_HOST to use the "
    "local socket",
    "default socket": "start the engine: `sudo systemctl start docker` (or `sudo dockerd &`), "
    "then `invoke doctor`",
    "DOCKER_CONTEXT": "start the engine of that context, or pick another (`docker context "
    "ls`), or unset DOCKER_CONTEXT",
    "docker context": "start the engine of that context, or pick another: `docker context ls`",
}


def engine_unreachable(reason: str) -> DockerUnavailable:
    """One line naming the address tried, where it came from, and the short reason."""
    reason = reason.strip().split("\n")[0]
    named = _DAEMON_AT.search(reason)
    endpoint = engine_endpoint()
    address = named.group(1) if named else endpoint.address
    source = endpoint.source
    if source == "default socket" and address != DEFAULT_SOCKET:
        source = "docker's current context"
    lowered = reason.lower()
    if _ANSWERED in lowered:
        detail = reason[lowered.index(_ANSWERED) :].split(":", 1)[-1].strip()
        return DockerUnavailable(
            f"Docker engine at {address} ({source}) answered with an error: {detail}",
            hint="`docker version` shows the client and engine versions; an engine older "
            "than the client needs DOCKER_API_VERSION set to its API version",
        )
    reason = next((short for marker, short in _REASONS.items() if marker in lowered), reason)
    hint = _START_HINTS.get(source.partition("=")[0], _START_HINTS["docker context"])
    if reason == "permission denied":
        hint = "let this user use the engine: `sudo usermod -aG docker $USER`, then log in again"
    return DockerUnavailable(
        f"Docker engine not reachable at {address} ({source}): {reason}", hint=hint
    )


@dataclass(frozen=True)
class EngineInfo:
    version: str
    api_version: str
    os: str
    arch: str
    root_dir: str | None


@dataclass(frozen=True)
class Attestations:
    """What the builds of a push or release carry: ``provenance`` is the value of
    ``--provenance`` (``mode=min``, ``mode=max``, ``false``) or ``None`` for none asked;
    ``note`` says why there are none where some were wanted. (Here, not in
    :mod:`buildlib.attest`, so the plan needs no module that runs docker.)"""

    provenance: str | None = None
    sbom: bool = False
    note: str | None = None

    @property
    def any(self) -> bool:
        return self.sbom or (self.provenance not in (None, "false"))


def read_capabilities(
    docker: str, version: tuple[str, str, int], buildx_version: str | None
) -> Capabilities:
    """The capabilities from ``docker version --format '{{json .}}'`` (stdout, stderr, exit
    status) and the output of ``docker buildx version`` (``None`` when it failed)."""
    found = _version(*version)
    if parts := (buildx_version or "").split():
        answer = parts[1] if len(parts) > 1 else parts[0]
        return Capabilities(docker, "buildx", buildx_version=answer, **found)
    client_version = found["client_version"]
    kind: BuilderKind = "buildkit" if client_version and _major(client_version) < 23 else "legacy"
    return Capabilities(docker, kind, **found)


def _version(stdout: str, stderr: str, returncode: int) -> dict[str, str | None]:
    # `docker version` exits 1 when the engine is down but still prints the client part.
    client: dict[str, Any] = {}
    server: dict[str, Any] = {}
    for line in stdout.splitlines():
        with suppress(ValueError):
            data = json.loads(line)
            if isinstance(data, dict):
                client, server = data.get("Client") or {}, data.get("Server") or {}
                break
    found: dict[str, str | None] = {
        "client_version": _text(client.get("Version")),
        "server_version": _text(server.get("Version")),
        "server_api": _text(server.get("ApiVersion")),
        "server_platform": f"{server['Os']}/{server['Arch']}"
        if server.get("Os") and server.get("Arch")
        else None,
    }
    if found["server_version"] is None:
        # The client may warn first (a context overridden by DOCKER_HOST, a bad config file).
        lines = [
            line.strip()
            for line in stderr.splitlines()
            if line.strip() and not line.lstrip().lower().startswith("warning")
        ]
        known = [line for line in lines if _ENGINE_ERROR.search(line)]
        found["server_error"] = (known or lines or [f"`docker version` exited {returncode}"])[0]
    return found


def _text(value: object) -> str | None:
    return str(value) if value else None


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def read_engine_info(caps: Capabilities, root_dir_json: str | None) -> EngineInfo:
    """The engine facts of an answered probe, with ``docker info``'s DockerRootDir (JSON)."""
    try:
        root_dir = json.loads(root_dir_json) if root_dir_json is not None else None
    except ValueError:
        root_dir = None
    os_name, _, arch = (caps.server_platform or "?/?").partition("/")
    return EngineInfo(
        version=caps.server_version or "?",
        api_version=caps.server_api or "?",
        os=os_name,
        arch=arch,
        root_dir=root_dir if isinstance(root_dir, str) and root_dir else None,
    )


def read_driver(inspect_stdout: str) -> str | None:
    found = re.search(r"^Driver:\s*(\S+)", inspect_stdout, re.MULTILINE)
    return found.group(1) if found else None
