"""``docker buildx bake``: a group's builds as one bake definition, run by one command.

With buildx, the builds of a group go to BuildKit together: one ``docker buildx bake`` per
*wave*, where a wave holds the builds whose ``after`` image (see :func:`buildlib.plan.schedule`)
is already built, at most ``plan.jobs`` of them. For this repository that is
``[gpu, cpu]`` then ``[lb]``: the load balancer reuses the GPU image's base and dependency
layers from the cache instead of building them a second time beside it.

The definition is the JSON form of a ``docker-bake.json`` (``group.default.targets``,
``target.<name>``); a build's tags, labels, args, platforms, secrets (by reference: id and
env/src, never a value), cache sources and destinations and output are exactly those of
``docker buildx build`` for the same :class:`~buildlib.plan.ImageBuild`, so the plan and the
tags do not depend on the path taken. Builders of data and argv are pure functions
(unit-tested without docker); :func:`execute_bake` runs them through the runner.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildlib import buildlog, console
from buildlib.digests import pushed_digest, read_metadata
from buildlib.errors import CommandFailed, UsageError
from buildlib.plan import BuildPlan, BuiltImage, ImageBuild
from buildlib.progress import BakeLines, BuildDisplay

if TYPE_CHECKING:
    from buildlib.docker import Docker
    from buildlib.runner import Runner

BAKE_FILE = "docker-bake.json"
_TARGET_NAME = re.compile(r"[^A-Za-z0-9_-]")
OUTPUTS = {"load": "type=docker", "push": "type=registry"}


def target_name(build: ImageBuild) -> str:
    """The bake target of an image: its name, limited to what bake accepts (``[\\w-]``)."""
    return _TARGET_NAME.sub("_", build.name)


def _dockerfile(build: ImageBuild) -> str:
    """Bake resolves ``dockerfile`` against ``context``: relative when inside it."""
    if build.dockerfile.is_relative_to(build.context):
        return str(build.dockerfile.relative_to(build.context))
    return str(build.dockerfile)


def bake_target(build: ImageBuild) -> dict[str, Any]:
    """One ``target.<name>`` entry. Paths are absolute (bake resolves a relative context
    against its working directory, not against the file)."""
    target: dict[str, Any] = {
        "context": str(build.context),
        "dockerfile": _dockerfile(build),
        "tags": list(build.references),
        "labels": dict(build.labels),
        "args": dict(build.build_args),
        "platforms": list(build.platforms),
        "output": [OUTPUTS[build.output]],
    }
    if build.annotations:
        target["annotations"] = list(build.annotations)
    if build.image.target:
        target["target"] = build.image.target
    if build.secrets:
        target["secret"] = [secret.flag() for secret in build.secrets]
    if build.cache_from:
        target["cache-from"] = list(build.cache_from)
    if build.cache_to:
        target["cache-to"] = list(build.cache_to)
    if build.no_cache:
        target["no-cache"] = True
    attest = []
    if build.provenance and build.provenance != "false":
        attest.append(f"type=provenance,{build.provenance}")
    elif build.provenance == "false":
        attest.append("type=provenance,disabled=true")
    if build.sbom:
        attest.append("type=sbom")
    if attest:
        target["attest"] = attest
    return target


def bake_definition(builds: Sequence[ImageBuild]) -> dict[str, Any]:
    """The ``docker-bake.json`` document for ``builds`` (all in the default group)."""
    names = [target_name(build) for build in builds]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UsageError(
            f"two images map to the same bake target: {', '.join(duplicates)}",
            hint="rename one of them in [tool.buildlib.images]",
        )
    return {
        "group": {"default": {"targets": names}},
        "target": {target_name(build): bake_target(build) for build in builds},
    }


def bake_command(
    docker: str,
    bake_file: Path | str,
    targets: Sequence[str],
    *,
    builder: str | None = None,
    outputs: Sequence[str] = (),
    metadata_file: Path | str | None = None,
) -> list[str]:
    """``docker buildx bake --file FILE [--builder NAME] [--metadata-file F] [--load|--push]
    TARGETS``.

    ``--load``/``--push`` when every target has that output (each target also says it in
    the file, which is what counts when they differ)."""
    argv = [docker, "buildx", "bake", "--file", str(bake_file), "--progress", "plain"]
    if builder:
        argv += ["--builder", builder]
    if metadata_file is not None:
        argv += ["--metadata-file", str(metadata_file)]
    kinds = set(outputs)
    if kinds == {"load"}:
        argv.append("--load")
    elif kinds == {"push"}:
        argv.append("--push")
    return argv + list(targets)


def bake_waves(builds: Sequence[ImageBuild], jobs: int) -> list[tuple[ImageBuild, ...]]:
    """Group builds into bake runs: each run holds builds whose ``after`` image is built
    (by an earlier run), at most ``jobs`` of them, in plan order."""
    names = {build.name for build in builds}
    done: set[str] = set()
    pending = list(builds)
    waves: list[tuple[ImageBuild, ...]] = []
    while pending:
        ready = [b for b in pending if not b.after or b.after in done or b.after not in names]
        if not ready:  # a cycle: schedule() never makes one, but never loop forever
            raise UsageError(
                "the build order has a cycle: "
                + ", ".join(f"{b.name} after {b.after}" for b in pending)
            )
        wave = tuple(ready[: max(1, jobs)])
        waves.append(wave)
        for build in wave:
            pending.remove(build)
            done.add(build.name)
    return waves


_TARGET_ERROR = re.compile(r'(?:ERROR|error):? (?:failed to build )?target "?([\w.-]+)"?')
_STEP_ERROR = re.compile(r"^\s*> \[([\w.-]+)[ \]]")
_VERTEX = re.compile(r"^#(\d+) \[([\w.-]+)[ \]]")


def failed_target(lines: Sequence[str], targets: Sequence[str]) -> str | None:
    """Which target broke, from the tail of bake's plain output (``ERROR: target X: ...``,
    or the ``> [X 2/3] RUN ...`` summary of the failed step, or the vertex ``#N ERROR``)."""
    known = set(targets)
    for line in reversed(lines):
        match = _TARGET_ERROR.search(line)
        if match and match.group(1) in known:
            return match.group(1)
    for line in reversed(lines):
        match = _STEP_ERROR.match(line)
        if match and match.group(1) in known:
            return match.group(1)
    vertices = {}
    for line in lines:
        match = _VERTEX.match(line)
        if match and match.group(2) in known:
            vertices[match.group(1)] = match.group(2)
    for line in reversed(lines):
        match = re.match(r"^#(\d+) ERROR", line)
        if match and match.group(1) in vertices:
            return vertices[match.group(1)]
    return None


def error_detail(lines: Sequence[str]) -> str:
    """The most telling line of a failed bake: its last ``ERROR``/``error`` line."""
    for line in reversed(lines):
        text = line.strip()
        if text.startswith(("ERROR", "error")):
            return text
    meaningful = [line.strip() for line in lines if line.strip()]
    return " | ".join(meaningful[-3:])


def execute_bake(plan: BuildPlan, runner: Runner, cli: Docker | None = None) -> list[BuiltImage]:
    """Build every image of ``plan`` with ``docker buildx bake`` (one run per wave).

    A failing target stops its run (buildx cancels the other targets of that bake) and the
    later waves; the error names the image, as :func:`buildlib.build.execute` does."""
    from buildlib.docker import Docker

    if plan.capabilities.builder != "buildx":
        raise UsageError(
            f"docker buildx bake needs buildx (this client has the {plan.capabilities.describe()})",
            hint="install the buildx plugin (`docker buildx version` must answer)",
        )
    cli = cli or Docker(runner, plan.capabilities)
    results: dict[str, BuiltImage] = {}
    waves = bake_waves(plan.builds, plan.jobs)
    with tempfile.TemporaryDirectory(prefix="buildlib-bake-") as tmp:
        for index, wave in enumerate(waves, start=1):
            bake_file = Path(tmp) / (BAKE_FILE if len(waves) == 1 else f"docker-bake-{index}.json")
            definition = bake_definition(wave)
            bake_file.write_text(json.dumps(definition, indent=2) + "\n", encoding="utf-8")
            if plan.dry_run:
                console.info(f"{bake_file.name} (run {index} of {len(waves)}):")
                for line in json.dumps(definition, indent=2).splitlines():
                    console.info(f"  {line}")
            names = [target_name(build) for build in wave]
            metadata_file = bake_file.with_suffix(".metadata.json")
            argv = bake_command(
                plan.capabilities.docker,
                bake_file,
                names,
                builder=plan.builder,
                outputs=[b.output for b in wave],
                metadata_file=None if plan.dry_run else metadata_file,
            )
            workdir = wave[0].workdir
            started = time.monotonic()
            with BuildDisplay(names, concurrent=len(names) > 1) as display:
                for build in wave:
                    display.start(
                        target_name(build), f"build of {build.name} ({build.dockerfile.name})"
                    )
                result = cli.bake(
                    argv,
                    names,
                    workdir,
                    BakeLines(display, names) if len(names) > 1 else display.output(names[0]),
                )
                failed = None if result.ok else failed_target(result.stderr.splitlines(), names)
                for name in names:
                    display.finish(name, result.ok or (failed is not None and name != failed))
            elapsed = time.monotonic() - started
            if runner.cancelled:
                raise CommandFailed(f"bake of {', '.join(names)} was cancelled")
            if not result.ok:
                raise _failure(plan, wave, results, result.returncode, result.stderr, runner.redact)
            ids = image_ids(metadata_file) if not plan.dry_run else {}
            metadata = read_metadata(metadata_file) if not plan.dry_run else {}
            for build in wave:
                image_id = ids.get(target_name(build))
                if image_id is None and build.output == "load" and not plan.dry_run:
                    # an older buildx may write no metadata: ask the engine
                    image_id = cli.image_id(build.primary)
                    if image_id is None:
                        raise CommandFailed(
                            f"{build.name}: docker buildx bake reported success but "
                            f"{build.primary} is not in the engine",
                            hint="check the builder: a loaded image needs the docker driver "
                            "or --load support",
                        )
                entry = metadata.get(target_name(build))
                digest = pushed_digest(entry) if isinstance(entry, dict) else None
                results[build.name] = BuiltImage(
                    build.name, build.references, image_id, elapsed, digest=digest
                )
    return [results[build.name] for build in plan.builds]


def image_ids(metadata_file: Path) -> dict[str, str]:
    """Target name -> image id, from bake's ``--metadata-file`` (the config digest is the
    id of a loaded image; a pushed one has only its manifest digest)."""
    try:
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    ids = {}
    for name, entry in metadata.items() if isinstance(metadata, dict) else ():
        if isinstance(entry, dict):
            digest = entry.get("containerimage.config.digest") or entry.get("containerimage.digest")
            if isinstance(digest, str):
                ids[name] = digest
    return ids


def _failure(
    plan: BuildPlan,
    wave: Sequence[ImageBuild],
    results: dict[str, Any],
    returncode: int,
    output: str,
    redact: Any,
) -> CommandFailed:
    lines = [redact(line) for line in output.splitlines()]
    by_target = {target_name(build): build for build in wave}
    name = failed_target(lines, list(by_target))
    failed = by_target.get(name or "")
    stopped = [b.name for b in plan.builds if b.name not in results and b is not failed]
    note = f"; stopped: {', '.join(stopped)}" if stopped else ""
    detail = error_detail(lines)
    location = None
    if failed is not None:
        what = f"build of {failed.name} ({failed.dockerfile.name})"
        again = f"`invoke build-{failed.name}`"
        found = buildlog.failure(lines, failed.dockerfile)
        detail = found.describe()
        if found.line:
            shown = str(failed.dockerfile)
            workdir = failed.workdir
            if workdir is not None and failed.dockerfile.is_relative_to(workdir):
                shown = str(failed.dockerfile.relative_to(workdir))
            location = f"{shown}:{found.line}"
    else:
        what = f"docker buildx bake of {', '.join(b.name for b in wave)}"
        again = "the build"
    return CommandFailed(
        f"{what} failed (exit {returncode})" + (f": {detail}" if detail else "") + note,
        location=location,
        hint=f"fix the error above, then run {again} again; `invoke doctor` checks the "
        "usual causes",
    )


__all__ = [
    "bake_command",
    "bake_definition",
    "bake_target",
    "bake_waves",
    "execute_bake",
    "failed_target",
    "target_name",
]
