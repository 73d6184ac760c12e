"""No build argument or image variable named like a secret: build args are stored in the
image history, ``ENV`` values in the image config.

Checked: ``[tool.buildlib.images.*] build-args`` and the Dockerfiles' ``ARG`` and ``ENV``
names, by :func:`buildlib.buildargs.secret_word`, except ``allow-build-args``; the fix is a
BuildKit secret. It reads names only: it must never read or print a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from buildlib import dockerfile
from buildlib.buildargs import allow_hint, secret_word
from buildlib.checks import CheckResult
from buildlib.checks.project import PYPROJECT, Project
from buildlib.config import ImageSpec, Locator

CHECK_ID = "secret-build-args"


def _hint(name: str, keyword: str = "ARG") -> str:
    lower = name.lower()
    where = "the build args" if keyword == "ARG" else "the Dockerfile's ENV"
    return (
        f"remove {name} from {where} and pass it as a BuildKit secret: "
        f"`--secret id={lower},env={name}` and in the Dockerfile "
        f"`RUN --mount=type=secret,id={lower},env={name} ...`; " + allow_hint(name)
    )


def dockerfile_variables(path: Path) -> list[tuple[str, str, int]]:
    """(``ARG`` or ``ENV``, name, line) of every variable a Dockerfile declares (none if it
    cannot be read)."""
    try:
        instructions = dockerfile.read(path)
    except OSError:
        return []
    return [
        (instruction.keyword, name, instruction.line)
        for instruction in instructions
        if instruction.keyword in ("ARG", "ENV")
        for name, _ in instruction.assignments()
    ]


def check_secret_build_args(
    project: Project, images: Iterable[ImageSpec] | None = None
) -> list[CheckResult]:
    """One ``fail`` per name like a secret, else one ``ok``. ``images``: the ImageSpecs to
    check (default: all configured, and every Dockerfile* at the root)."""
    results = []
    specs = list(project.settings.images if images is None else images)
    allowed = project.settings.allow_build_args
    where = Locator(project.text or "", PYPROJECT)
    for image in specs:
        for name, _ in image.build_args:
            word = secret_word(name, allowed)
            if word is not None:
                line = where.build_arg_line(f"tool.buildlib.images.{image.name}", name)
                message = (
                    f"build arg {name} of image {image.name} looks like a secret (the word "
                    f"{word}): its value would be stored in the image history"
                )
                results.append(CheckResult(CHECK_ID, "fail", message, PYPROJECT, line, _hint(name)))
    if images is None:
        dockerfiles = project.dockerfiles()
    else:
        dockerfiles = sorted({project.rel(project.root / i.dockerfile) for i in specs})
    for rel in dockerfiles:
        for keyword, name, line in dockerfile_variables(project.root / rel):
            word = secret_word(name, allowed)
            if word is not None:
                stored = (
                    "a value passed to it is stored in the image history (docker history)"
                    if keyword == "ARG"
                    else "its value is stored in the image config (docker inspect)"
                )
                message = f"{keyword} {name} looks like a secret (the word {word}): {stored}"
                results.append(
                    CheckResult(CHECK_ID, "fail", message, rel, line, _hint(name, keyword))
                )
    message = "no build arg or Dockerfile ARG or ENV is named like a secret"
    return results or [CheckResult(CHECK_ID, "ok", message)]
