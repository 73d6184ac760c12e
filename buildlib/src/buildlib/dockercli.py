"""Argument lists for the docker CLI, and the calls that run them through the runner.

Builders of argv are pure functions (unit-tested without docker); :class:`DockerCLI` runs
them. Nothing else in buildlib starts docker, and no argv here ever holds a secret's
value: secrets go by id and environment variable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from buildlib import buildlog, cache
from buildlib.engine import Capabilities
from buildlib.errors import CommandFailed
from buildlib.plan import ImageBuild
from buildlib.runner import Result, Runner


def build_command(
    build: ImageBuild,
    caps: Capabilities,
    builder: str | None = None,
    iidfile: Path | None = None,
    metadata_file: Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The docker command line and the environment it needs, for one image;
    ``metadata_file`` (buildx): where it writes the digest of what it pushed."""
    if caps.builder == "buildx":
        argv = [caps.docker, "buildx", "build"]
        if builder:
            argv += ["--builder", builder]
        env: dict[str, str] = {}
    else:
        argv = [caps.docker, "build"]
        env = {"DOCKER_BUILDKIT": "1" if caps.buildkit else "0"}
    argv += ["--file", _shown(build.dockerfile, build.workdir)]
    if caps.buildkit:
        argv += ["--progress", "plain"]
        argv += ["--platform", ",".join(build.platforms)]
    if caps.builder == "buildx":
        argv.append("--push" if build.output == "push" else "--load")
        if build.provenance:
            argv.append(f"--provenance={build.provenance}")
        if build.sbom:
            argv.append("--sbom=true")
    for reference in build.references:
        argv += ["--tag", reference]
    for key, value in build.labels:
        argv += ["--label", f"{key}={value}"]
    if caps.builder == "buildx":
        for annotation in build.annotations:
            argv += ["--annotation", annotation]
    for key, value in build.build_args + cache.destination_build_args(build.cache_to, caps.builder):
        argv += ["--build-arg", f"{key}={value}"]
    for secret in build.secrets:
        argv += ["--secret", secret.flag()]
    if build.image.target:
        argv += ["--target", build.image.target]
    if build.no_cache:
        argv.append("--no-cache")
    for source in build.cache_from:
        argv += ["--cache-from", cache.source_flag(source, caps.builder)]
    if caps.builder == "buildx":
        for destination in build.cache_to:
            argv += ["--cache-to", destination]
    if iidfile is not None:
        argv += ["--iidfile", str(iidfile)]
    if metadata_file is not None and caps.builder == "buildx":
        argv += ["--metadata-file", str(metadata_file)]
    argv.append(_shown(build.context, build.workdir))
    return argv, env


def _shown(path: Path, workdir: Path | None) -> str:
    """A path relative to the directory the command runs in, so dry-run lines read well."""
    if workdir is not None and path.is_relative_to(workdir):
        return str(path.relative_to(workdir)) or "."
    return str(path)


BUILD_HINT = (
    "fix the error above, then `invoke build-{name}`; `invoke doctor` checks the usual causes"
)


def build_failed(build: ImageBuild, returncode: int, lines: list[str]) -> CommandFailed:
    """The error of a failed build: where in its Dockerfile and why, in one short line (the
    whole output is in the log above it)."""
    found = buildlog.failure(lines, build.dockerfile)
    dockerfile = _shown(build.dockerfile, build.workdir)
    return CommandFailed(
        f"build of {build.name} ({build.dockerfile.name}) failed (exit {returncode}): "
        + found.describe(),
        location=f"{dockerfile}:{found.line}" if found.line else None,
        hint=BUILD_HINT.format(name=build.name),
    )


def push_command(docker: str, reference: str) -> list[str]:
    return [docker, "push", reference]


@dataclass
class DockerCLI:
    runner: Runner
    caps: Capabilities
    env: Mapping[str, str] = field(default_factory=dict)  # e.g. a temporary DOCKER_CONFIG

    def build(
        self,
        build: ImageBuild,
        builder: str | None = None,
        prefix: str | None = None,
        iidfile: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        show: Callable[[str], None] | None = None,
        metadata_file: Path | None = None,
    ) -> Result:
        """Run the build; a failure is a :class:`CommandFailed` located at the failing
        Dockerfile instruction (``Dockerfile-cpu:12``) with a short reason."""
        argv, env = build_command(build, self.caps, builder, iidfile, metadata_file)
        result = self.runner.run(
            argv,
            env={**self.env, **env},
            prefix=prefix,
            on_line=on_line,
            show=show,
            check=False,
            cwd=str(build.workdir) if build.workdir else None,
            what=f"build of {build.name} ({build.dockerfile.name})",
            hint=BUILD_HINT.format(name=build.name),
        )
        if not result.ok:
            raise build_failed(build, result.returncode, result.stderr.splitlines())
        return result

    def push(self, reference: str, prefix: str | None = None) -> Result:
        return self.runner.run(
            push_command(self.caps.docker, reference),
            env=dict(self.env),
            prefix=prefix,
            what=f"push of {reference}",
            check=False,
        )

    def tag(self, source: str, target: str) -> Result:
        """``docker tag SOURCE TARGET``: SOURCE may be an image id."""
        return self.runner.run(
            [self.caps.docker, "tag", source, target],
            env=dict(self.env),
            what=f"docker tag {target}",
        )

    def untag(self, reference: str) -> Result:
        """``docker image rm REFERENCE``: the name goes; the image stays while another
        name holds it. A failure (no such name) is no error."""
        return self.runner.run(
            [self.caps.docker, "image", "rm", reference],
            env=dict(self.env),
            capture=True,
            check=False,
            what=f"untag {reference}",
        )

    def image_id(self, reference: str) -> str | None:
        """The id of a local image (``docker image inspect``), or ``None`` if there is none."""
        result = self.runner.run(
            [self.caps.docker, "image", "inspect", "--format", "{{.Id}}", reference],
            env=dict(self.env),
            capture=True,
            check=False,
            mutating=False,
        )
        found = result.stdout.strip()
        return found if result.ok and found.startswith("sha256:") else None
