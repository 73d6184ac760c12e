"""The docker CLI: the only place buildlib runs docker. Every docker command goes through
:class:`Docker` and so through the one runner, which logs the argv, redacts secrets and
honours dry-run (queries run under dry-run too, quietly).

It must never decide what to build or publish, nor read what docker answered beyond
handing it to :mod:`buildlib.engine`; no argv here ever holds a secret's value: secrets go
by id, environment variable or stdin.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial, partialmethod
from pathlib import Path
from typing import Any

from buildlib import buildlog, cache, console, engine
from buildlib.credentials import DOCKER_HUB_AUTH_KEY, Credentials, last_line
from buildlib.engine import Capabilities
from buildlib.errors import AuthError, CommandFailed, RegistryError
from buildlib.options import docker_selection
from buildlib.plan import ImageBuild, shown_path
from buildlib.references import is_docker_hub
from buildlib.runner import Result, Runner
from buildlib.signals import first_at_stop, signals_deferred


def build_command(
    build: ImageBuild,
    caps: Capabilities,
    builder: str | None = None,
    iidfile: Path | None = None,
    metadata_file: Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The docker command line and the environment it needs, for one image;
    ``metadata_file`` (buildx): where it writes the digest of what it pushed."""
    buildx = caps.builder == "buildx"
    if buildx:
        argv = [caps.docker, "buildx", "build", *_repeat("--builder", [builder] if builder else [])]
        env: dict[str, str] = {}
    else:
        argv = [caps.docker, "build"]
        env = {"DOCKER_BUILDKIT": "1" if caps.buildkit else "0"}
    argv += ["--file", shown_path(build.dockerfile, build.workdir)]
    if caps.buildkit:
        argv += ["--progress", "plain", "--platform", ",".join(build.platforms)]
    elif build.platforms != (engine.host_platform(),):
        # the legacy builder takes one platform too (engine API 1.38); without the flag it
        # builds the host's, whatever the plan said
        argv += ["--platform", ",".join(build.platforms)]
    if buildx:
        argv.append("--push" if build.output == "push" else "--load")
        argv += [f"--provenance={build.provenance}"] if build.provenance else []
        argv += ["--sbom=true"] if build.sbom else []
    build_args = build.build_args + cache.destination_build_args(build.cache_to, caps.builder)
    argv += _repeat("--tag", build.references)
    argv += _repeat("--label", [f"{key}={value}" for key, value in build.labels])
    argv += _repeat("--annotation", build.annotations if buildx else [])
    argv += _repeat("--build-arg", [f"{key}={value}" for key, value in build_args])
    argv += _repeat("--secret", [secret.flag() for secret in build.secrets])
    argv += _repeat("--target", [build.image.target] if build.image.target else [])
    argv += ["--no-cache"] if build.no_cache else []
    argv += _repeat("--cache-from", [cache.source_flag(s, caps.builder) for s in build.cache_from])
    argv += _repeat("--cache-to", build.cache_to if buildx else [])
    argv += _repeat("--iidfile", [str(iidfile)] if iidfile is not None else [])
    argv += _repeat("--metadata-file", [str(metadata_file)] if metadata_file and buildx else [])
    return [*argv, shown_path(build.context, build.workdir)], env


def _repeat(flag: str, values: Iterable[str]) -> list[str]:
    """``flag`` before each of ``values``: ``--tag a --tag b``."""
    return [word for value in values for word in (flag, value)]


def build_title(build: ImageBuild) -> str:
    return f"build of {build.name} ({shown_path(build.dockerfile, build.workdir)})"


BUILD_HINT = (
    "fix the error above, then `invoke build-{name}`; `invoke doctor` checks the usual causes"
)


class ImageIdLost(CommandFailed):
    """A build that succeeded, but whose image id docker did not get from the engine
    (:func:`buildlib.buildlog.lost_image_id`). Shown only when lost again on the retry."""


# docker/cli#2971's thread gives two workarounds: no parallel builds ("disable the --parallel
# build"), which the retry alone already was, and buildx ("`docker buildx install` helped
# me"), which buildlib uses once `docker buildx version` answers (engine.read_capabilities).
LOST_ID_HINT = (
    "install the buildx plugin (`docker buildx version` must answer): buildlib then builds "
    "with buildx, the other workaround in docker/cli#2971"
)


def build_failed(
    build: ImageBuild, returncode: int, lines: list[str], iidfile: Path | None = None
) -> CommandFailed:
    """The error of a failed build: where in its Dockerfile and why, in one short line (the
    whole output is in the log above it)."""
    found = buildlog.failure(lines, build.dockerfile)
    dockerfile = shown_path(build.dockerfile, build.workdir)
    lost = iidfile is not None and buildlog.lost_image_id(lines, iidfile)
    # the Dockerfile once: a location names it
    title = f"build of {build.name}" if found.line else build_title(build)
    return (ImageIdLost if lost else CommandFailed)(
        f"{title} failed (exit {returncode}): " + found.describe(),
        location=f"{dockerfile}:{found.line}" if found.line else None,
        hint=LOST_ID_HINT if lost else BUILD_HINT.format(name=build.name),
    )


@dataclass
class Docker:
    """One docker client binary (``caps.docker``) run through ``runner``, with ``env``
    (e.g. a temporary ``DOCKER_CONFIG``) on every command."""

    runner: Runner
    caps: Capabilities
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def client(cls, binary: str, runner: Runner | None = None) -> Docker:
        """For the commands that need only the binary (the probe, a login); without
        ``runner``, a quiet one."""
        return cls(runner or Runner(quiet=True), Capabilities(binary, "legacy", None))

    def run(self, argv: list[str], env: Mapping[str, str] | None = None, **how: Any) -> Result:
        return self.runner.run(argv, env={**self.env, **(env or {})}, **how)

    def command(self, *args: str, **how: Any) -> Result:
        return self.run([self.caps.docker, *args], **how)

    # a read-only question (it runs under dry-run too)
    query = partialmethod(command, capture=True, check=False, mutating=False)

    def probe(self) -> Capabilities:
        # The two questions are independent: side by side, the wait is the slower one's.
        with ThreadPoolExecutor(max_workers=2) as pool:
            buildx = pool.submit(self.query, "buildx", "version")
            version = self.query("version", "--format", "{{json .}}")
            answer = buildx.result()
        return engine.read_capabilities(
            self.caps.docker,
            (version.stdout, version.stderr, version.returncode),
            answer.stdout if answer.ok else None,
        )

    def driver(self, builder: str | None = None) -> str | None:
        """The driver of a buildx builder (the current one without ``builder``):
        ``docker``, ``docker-container``, ``remote``...; ``None`` when buildx cannot say."""
        result = self.query("buildx", "inspect", *([builder] if builder else []))
        return engine.read_driver(result.stdout) if result.ok else None

    def root_dir(self) -> str | None:
        """Where the engine keeps images (``docker info``), as JSON."""
        result = self.query("info", "--format", "{{json .DockerRootDir}}")
        return result.stdout if result.ok else None

    @contextmanager
    def login(
        self, registry_host: str, creds: Credentials, credential_hint: str | None = None
    ) -> Iterator[None]:
        """Log in to ``registry_host`` in a throwaway ``DOCKER_CONFIG`` that this object's
        commands use inside the block and that is removed on exit, also on error. Under a
        dry-run runner the login is printed, not run. The token goes on stdin, as
        :meth:`Credentials.encoded` has it."""
        self.runner.add_secret(creds.secret, f"the token for {registry_host}")
        saved, config_dir = self.env, None
        try:
            # a Ctrl-C, SIGTERM or SIGHUP waits until the directory has a name to be removed by
            with signals_deferred():
                config_dir = tempfile.mkdtemp(prefix="buildlib-docker-config-")
            setup = _keep_user_setup(config_dir, registry_host)
            self.env = {**saved, "DOCKER_CONFIG": config_dir}
            host = [] if is_docker_hub(registry_host) else [registry_host]
            login = ["login", *host, "--username", creds.username, "--password-stdin"]
            # A cancelled GitHub Actions job gets SIGINT, then SIGTERM, then its process tree
            # is killed (github/docs content/actions/reference/workflows-and-actions/
            # workflow-cancellation.md), maybe before the builds have stopped and the directory
            # is gone: the login goes first. A docker command reads config.json as it starts
            # (docker/cli cli/command/cli.go, Initialize); none that needs it starts after a stop.
            with first_at_stop(partial(_write_config, config_dir, setup)):
                result = self.command(
                    *login,
                    stdin=creds.encoded()[1],
                    capture=True,
                    check=False,
                    what=f"docker login {registry_host}",
                )
                if not result.ok:
                    output = self.runner.redact(result.stderr or result.stdout)
                    raise _login_error(registry_host, creds, output, credential_hint)
                yield
        finally:
            # a second Ctrl-C (`uv run` outside a terminal forwards one more: its log says
            # so, astral-sh/uv#13756) waits too: cut short, the removal leaves the login
            with signals_deferred():
                self.env = saved
                if config_dir is not None:
                    shutil.rmtree(config_dir, ignore_errors=True)
                    if os.path.lexists(config_dir):
                        console.warn(
                            f"the temporary docker login {config_dir} could not be removed;"
                            f" remove it: `rm -rf {config_dir}`"
                        )

    def bake(
        self, argv: list[str], names: list[str], cwd: Path | None, show: Callable[[str], None]
    ) -> Result:
        return self.run(argv, cwd=cwd, check=False, what=f"bake of {', '.join(names)}", show=show)

    def build(
        self,
        build: ImageBuild,
        builder: str | None = None,
        iidfile: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        show: Callable[[str], None] | None = None,
        metadata_file: Path | None = None,
    ) -> Result:
        """Run the build; a failure is a :class:`CommandFailed` located at the failing
        Dockerfile instruction (``Dockerfile-cpu:12``) with a short reason."""
        argv, env = build_command(build, self.caps, builder, iidfile, metadata_file)
        result = self.run(
            argv,
            env,
            on_line=on_line,
            show=show,
            check=False,
            cwd=build.workdir,
            what=build_title(build),
            hint=BUILD_HINT.format(name=build.name),
        )
        if not result.ok:
            raise build_failed(build, result.returncode, result.stderr.splitlines(), iidfile)
        return result

    def push(self, reference: str) -> Result:
        return self.command("push", reference, what=f"push of {reference}", check=False)

    def tag(self, source: str, target: str) -> Result:  # SOURCE may be an image id
        return self.command("tag", source, target, what=f"docker tag {target}")

    def untag(self, reference: str) -> Result:
        """The name goes; the image stays while another name holds it. No such name is no
        error."""
        return self.command(
            "image", "rm", reference, capture=True, check=False, what=f"untag {reference}"
        )

    def image_id(self, reference: str) -> str | None:
        result = self.query("image", "inspect", "--format", "{{.Id}}", reference)
        found = result.stdout.strip()
        return found if result.ok and found.startswith("sha256:") else None


def detect(docker: str | None = None) -> Capabilities:
    """What the client (``$BUILDLIB_DOCKER`` or ``docker``) can build with, and whether its
    engine answers. Runs even under dry-run. Kept for the life of the process per client and
    what picks its engine and plugins (DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG); an engine
    that did not answer is asked again next time."""
    docker = docker or engine.docker_binary()
    selected = docker_selection()
    key = (docker, selected.host, selected.context, selected.config)
    found = _DETECTED.get(key) or Docker.client(docker).probe()
    if found.server_version is not None:
        _DETECTED[key] = found
    return found


def buildx_driver(docker: str, builder: str | None = None) -> str | None:
    """:meth:`Docker.driver`, kept per client, builder and what picks the engine."""
    key = (docker, builder, docker_selection())
    if key not in _DRIVERS:
        _DRIVERS[key] = Docker.client(docker).driver(builder)
    return _DRIVERS[key]


_DETECTED: dict[tuple[str | None, ...], Capabilities] = {}
_DRIVERS: dict[tuple[object, ...], str | None] = {}


def engine_info(docker: str | None = None) -> engine.EngineInfo:
    """The engine the client talks to; :class:`DockerUnavailable` when it does not answer."""
    caps = detect(docker)
    caps.require_engine()
    return engine.read_engine_info(caps, Docker.client(caps.docker).root_dir())


# What the docker CLI reads from its config directory besides logins: plugins (buildx), buildx
# builders and contexts (directories, linked), and these keys of config.json (copied). Never
# credsStore/credHelpers/auths: the temporary login must stay in the temporary directory.
_SHARED_DIRS = ("cli-plugins", "buildx", "contexts")
_SHARED_KEYS = ("currentContext", "proxies", "cliPluginsExtraDirs", "features")


def _keep_user_setup(config_dir: str, registry_host: str) -> bytes:
    """The user's buildx plugin, builders and context, seen from the temporary config (its
    config.json, which it returns).

    Its ``auths`` names the registry from the start: without any auth the docker CLI looks
    for an OS credential helper on PATH (``docker-credential-secretservice``, ``-pass``...)
    and ``docker login`` would store the token there, for good."""
    user_dir = docker_selection().config_dir()
    for name in _SHARED_DIRS:
        source = os.path.join(user_dir, name)
        if os.path.isdir(source):
            with suppress(OSError):  # best effort: the login works without it
                os.symlink(source, os.path.join(config_dir, name), target_is_directory=True)
    user_config = engine.user_config()
    shared = {key: user_config[key] for key in _SHARED_KEYS if key in user_config}
    key = DOCKER_HUB_AUTH_KEY if is_docker_hub(registry_host) else registry_host
    shared["auths"] = {key: {}}
    setup = json.dumps(shared).encode()
    path = os.path.join(config_dir, "config.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        handle.write(setup)
    return setup


def _write_config(config_dir: str, setup: bytes) -> None:
    """``config.json`` back to ``setup`` (no login), in one step: a docker command starting
    meanwhile reads the old file or the new one."""
    path = os.path.join(config_dir, "config.json")
    with suppress(OSError):
        with open(
            os.open(f"{path}.new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb"
        ) as handle:
            handle.write(setup)
        os.replace(f"{path}.new", path)


_REJECTED_MARKERS = ("unauthorized", "incorrect username or password", "authentication required")
# Go's net errors as the daemon words them when the registry does not answer at all
# ("dial tcp 127.0.0.1:5055: connect: connection refused", "lookup x: no such host"):
# then the credentials were never looked at, and advice about them would mislead.
_UNREACHABLE = re.compile(
    r"dial tcp|connection refused|no such host|i/o timeout|network is unreachable|"
    r"no route to host|deadline exceeded|Client\.Timeout",
    re.IGNORECASE,
)


def _login_error(
    registry_host: str, creds: Credentials, output: str, hint: str | None
) -> RegistryError:
    detail = last_line(output)
    if any(marker in detail.lower() for marker in _REJECTED_MARKERS):
        return AuthError(
            f"{registry_host} rejected the login of user {creds.username!r}: {detail}",
            hint=hint or f"check the username and token for {registry_host}",
        )
    return RegistryError(
        f"docker login to {registry_host} failed: {detail}",
        hint="check that the registry is reachable"
        + (f"; {hint}" if hint and not _UNREACHABLE.search(detail) else ""),
    )
