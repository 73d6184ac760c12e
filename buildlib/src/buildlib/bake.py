"""``docker buildx bake`` definitions: a group's builds as one ``docker-bake.json``, one
bake per *wave* (the builds whose ``after`` image is built, at most ``plan.jobs``): for this
repository ``[gpu, cpu]`` then ``[lb]``, which reuses the GPU image's first layers from cache.

A target gets exactly what ``docker buildx build`` gets for the same ImageBuild (secrets by
id and env/src, never a value), so the tags do not depend on the path taken. Pure functions
of data, and :class:`BakeLines` for the display: :func:`buildlib.build.execute_bake` runs
them; this module must never run a process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from buildlib.buildlog import last_match
from buildlib.digests import CONFIG_KEY, DIGEST_KEY
from buildlib.errors import UsageError
from buildlib.plan import ImageBuild, shown_path
from buildlib.progress import BuildDisplay
from buildlib.runner import last_lines

BAKE_FILE = "docker-bake.json"
_TARGET_NAME = re.compile(r"[^A-Za-z0-9_-]")
OUTPUTS = {"load": "type=docker", "push": "type=registry"}


def target_name(build: ImageBuild) -> str:
    """The bake target of an image: its name, limited to what bake accepts (``[\\w-]``)."""
    return _TARGET_NAME.sub("_", build.name)


def bake_target(build: ImageBuild) -> dict[str, Any]:
    """One ``target.<name>`` entry. Paths are absolute (bake resolves a relative context
    against its working directory, not against the file)."""
    target: dict[str, Any] = {
        "context": str(build.context),
        # bake resolves ``dockerfile`` against ``context``
        "dockerfile": shown_path(build.dockerfile, build.context),
        "tags": list(build.references),
        "labels": dict(build.labels),
        "args": dict(build.build_args),
        "platforms": list(build.platforms),
        "output": [OUTPUTS[build.output]],
    }
    provenance = "disabled=true" if build.provenance == "false" else build.provenance
    attest = [f"type=provenance,{provenance}"] if build.provenance else []
    optional = {
        "annotations": list(build.annotations),
        "target": build.image.target,
        "secret": [secret.flag() for secret in build.secrets],
        "cache-from": list(build.cache_from),
        "cache-to": list(build.cache_to),
        "no-cache": build.no_cache,
        "attest": attest + (["type=sbom"] if build.sbom else []),
    }
    # a key bake is not given keeps its default
    return target | {key: value for key, value in optional.items() if value}


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
    TARGETS``: ``--load``/``--push`` when every target has that output (else the file's)."""
    argv = [docker, "buildx", "bake", "--file", str(bake_file), "--progress", "plain"]
    if builder:
        argv += ["--builder", builder]
    if metadata_file is not None:
        argv += ["--metadata-file", str(metadata_file)]
    kinds = set(outputs)
    if kinds in ({"load"}, {"push"}):
        argv.append(f"--{kinds.pop()}")
    return argv + list(targets)


def bake_waves(builds: Sequence[ImageBuild], jobs: int) -> list[tuple[ImageBuild, ...]]:
    """Group builds into bake runs: each run holds builds whose ``after`` image is built
    (by an earlier run), at most ``jobs`` of them, in plan order."""
    pending = {build.name: build for build in builds}
    waves: list[tuple[ImageBuild, ...]] = []
    while pending:
        # schedule() makes no cycle; were there one, plan order would end it
        ready = [b for b in pending.values() if b.after not in pending] or list(pending.values())
        waves.append(tuple(ready[: max(1, jobs)]))
        for build in waves[-1]:
            del pending[build.name]
    return waves


_TARGET_ERROR = re.compile(r'(?:ERROR|error):? (?:failed to build )?target "?([\w.-]+)"?')
_STEP_ERROR = re.compile(r"^\s*> \[([\w.-]+)[ \]]")
_VERTEX = re.compile(r"^#(\d+) \[([\w.-]+)[ \]]")
_NUMBERED = re.compile(r"^#(\d+) ")
_VERTEX_ERROR = re.compile(r"^#(\d+) ERROR")


def failed_target(lines: Sequence[str], targets: Sequence[str]) -> str | None:
    """Which target broke, from the tail of bake's plain output (``ERROR: target X: ...``,
    or the ``> [X 2/3] RUN ...`` summary of the failed step, or the vertex ``#N ERROR``)."""
    known = set(targets)
    named = last_match(lines, _TARGET_ERROR, _STEP_ERROR, wanted=lambda match: match[1] in known)
    if named:
        return named[1]
    vertices = {
        found.group(1): found.group(2)
        for line in lines
        if (found := _VERTEX.match(line)) and found.group(2) in known
    }
    failed = last_match(lines, _VERTEX_ERROR, wanted=lambda match: match[1] in vertices)
    return vertices[failed[1]] if failed else None


class BakeLines:
    """Sends each line of one ``docker buildx bake`` run to the display of its target.

    Bake prefixes each step with its target (``#7 [cpu 3/6] RUN ...``, ``#3 [gpu internal]
    load ...``); the lines of step ``#7`` go to that target, a line without a step number to
    the target of the last step seen, and lines before any step to every target."""

    def __init__(self, display: BuildDisplay, targets: Sequence[str]) -> None:
        self.display = display
        self.targets = set(targets)
        self.vertices: dict[str, str] = {}
        self.last: str | None = None

    def __call__(self, line: str) -> None:
        named = _VERTEX.match(line)
        if named and named.group(2) in self.targets:
            self.vertices[named.group(1)] = named.group(2)
        vertex = _NUMBERED.match(line)
        target = self.vertices.get(vertex.group(1)) if vertex else self.last
        if target is None:
            self.display.shared(line)
            return
        self.last = target
        self.display.line(target, line)


def error_detail(lines: Sequence[str]) -> str:
    """The most telling line of a failed bake: its last ``ERROR``/``error`` line."""
    errors = [line.strip() for line in lines if line.strip().startswith(("ERROR", "error"))]
    return errors[-1] if errors else last_lines(lines)


def image_ids(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Target name -> image id, from bake's ``--metadata-file`` (the config digest is the
    id of a loaded image; a pushed one has only its manifest digest)."""
    entries = [(name, entry) for name, entry in metadata.items() if isinstance(entry, dict)]
    found = {name: entry.get(CONFIG_KEY) or entry.get(DIGEST_KEY) for name, entry in entries}
    return {name: digest for name, digest in found.items() if isinstance(digest, str)}
