"""No build argument named like a secret: build args are stored in the image history.

Both the ``build-args`` of ``[tool.buildlib.images.*]`` and the ``ARG`` instructions of the
Dockerfiles are checked, with :func:`buildlib.settings.looks_secret` (TOKEN, PASSWORD,
SECRET, KEY, ...). The fix is a BuildKit secret: ``--secret id=NAME,env=VAR`` on the
command line and ``RUN --mount=type=secret,id=NAME`` in the Dockerfile.

It reads names only: it must never read or print a value (a default may be a real secret).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from buildlib import dockerfile
from buildlib.checks import CheckResult
from buildlib.checks.project import PYPROJECT, Project, key_line
from buildlib.config import ImageSpec
from buildlib.settings import looks_secret

CHECK_ID = "secret-build-args"


def _hint(name: str) -> str:
    lower = name.lower()
    return (
        f"remove {name} from the build args and pass it as a BuildKit secret: "
        f"`--secret id={lower},env={name}` and in the Dockerfile "
        f"`RUN --mount=type=secret,id={lower},env={name} ...`"
    )


def dockerfile_args(path: Path) -> list[tuple[str, int]]:
    """(name, line) of every ``ARG`` in a Dockerfile (none if it cannot be read)."""
    try:
        instructions = dockerfile.read(path)
    except OSError:
        return []
    return [
        (name, instruction.line)
        for instruction in instructions
        if instruction.keyword == "ARG"
        for name, _ in instruction.assignments()
    ]


def secret_arg_results(
    project: Project, images: Iterable[ImageSpec] | None = None
) -> list[CheckResult]:
    """``images``: the ImageSpecs to check (default: all configured; Dockerfile* too)."""
    results = []
    config = project.config
    specs = list(images) if images is not None else list(config.images if config else [])
    text = project.text or ""
    for image in specs:
        table = f"tool.buildlib.images.{image.name}"
        for name, _ in image.build_args:
            if looks_secret(name):
                line = _build_arg_line(text, table, name)
                results.append(
                    CheckResult(
                        CHECK_ID,
                        "fail",
                        f"build arg {name} of image {image.name} looks like a secret: "
                        "its value would be stored in the image history",
                        file=PYPROJECT,
                        line=line,
                        hint=_hint(name),
                    )
                )
    if images is None:
        dockerfiles = project.dockerfiles()
    else:
        dockerfiles = sorted({project.rel(project.root / i.dockerfile) for i in specs})
    for rel in dockerfiles:
        for name, line in dockerfile_args(project.root / rel):
            if looks_secret(name):
                results.append(
                    CheckResult(
                        CHECK_ID,
                        "fail",
                        f"ARG {name} looks like a secret: a value passed to it is stored in the "
                        "image history (docker history)",
                        file=rel,
                        line=line,
                        hint=_hint(name),
                    )
                )
    return results


def check_secret_build_args(project: Project) -> list[CheckResult]:
    results = secret_arg_results(project)
    if results:
        return results
    return [CheckResult(CHECK_ID, "ok", "no build arg or Dockerfile ARG is named like a secret")]


def _build_arg_line(text: str, table: str, name: str) -> int | None:
    line = key_line(text, f"{table}.build-args", name)
    if line is not None:
        return line
    lines = text.splitlines()
    pattern = re.compile(rf"(^|[\s{{,]){re.escape(name)}\s*=")
    start = key_line(text, table, "build-args") or 1
    for number in range(start, len(lines) + 1):
        if pattern.search(lines[number - 1]):
            return number
    return start
