"""Where a failed build failed: the Dockerfile line and a short reason, from its output.

BuildKit's plain progress names the failing step (`` > [stage-0 3/6] RUN pip install ...:``)
and, since Dockerfile frontend 1.4, its source (``Dockerfile-cpu:12``, the line marked
``>>>``); the legacy builder prints ``Step 3/6 : RUN ...`` and ``The command '...' returned
a non-zero code: 1``. The line becomes the error's ``file`` and ``line`` (a GitHub
annotation). It only reads the output: it must never decide that a build failed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from buildlib import dockerfile as dockerfile_module
from buildlib.runner import last_lines

_SOURCE = re.compile(r"^\s*(?P<file>[^\s:]+):(?P<line>\d+)\s*$")
_MARKED = re.compile(r"^\s*(?P<line>\d+)\s*\|\s*>>>")
_FAILED_STEP = re.compile(r"^\s*> \[(?:[^\]]*?\s)?\d+/\d+\] (?P<instruction>.+?):?\s*$")
_LEGACY_STEP = re.compile(r"^\s*Step \d+/\d+ : (?P<instruction>.*\S)")
_REASONS = (
    re.compile(
        r"^(?:#\d+ )?ERROR:\s*(?:target \"?[\w.-]+\"?:\s*)?(?:failed to build:\s*)?"
        r"(?:failed to solve:\s*)?(?P<r>.+)$"
    ),
    re.compile(r"^(?:error: )?(?P<r>The command .+ returned a non-zero code: \d+)$"),
)
MAX_REASON = 160
MAX_INSTRUCTION = 60


@dataclass(frozen=True)
class Failure:
    line: int | None
    instruction: str | None
    reason: str

    def describe(self) -> str:
        """``RUN pip install ...: exit code: 1`` - short enough for one annotation line."""
        if self.instruction:
            return f"{_cut(self.instruction, MAX_INSTRUCTION)}: {self.reason}"
        return self.reason


def failure(lines: Sequence[str], dockerfile: Path) -> Failure:
    """The failing instruction of a build of ``dockerfile`` and why, from its output; its line
    from BuildKit's ``Dockerfile-cpu:12`` (or ``>>>`` mark) after the failed step, else found."""
    step = last_match(lines, _FAILED_STEP, _LEGACY_STEP)
    instruction = " ".join(step.group("instruction").split()) if step else None
    named = last_match(lines, _SOURCE, wanted=lambda m: Path(m["file"]).name == dockerfile.name)
    source = named or last_match(lines, _MARKED)
    line = int(source.group("line")) if source else None
    if line is None and instruction:
        line = _instruction_line(dockerfile, instruction)
    return Failure(line, instruction, _reason(lines))


def lost_image_id(lines: Sequence[str], iidfile: Path) -> bool:
    """Whether docker's last word was that it got no image id for ``iidfile``: the build
    itself succeeded (docker/cli#2971, BuildKit builds side by side on one engine)."""
    said = f"cannot write {iidfile} because server did not provide an image ID"
    return last_lines(lines, 1) == said


def last_match(
    lines: Sequence[str],
    *patterns: re.Pattern[str],
    wanted: Callable[[re.Match[str]], bool] = bool,
) -> re.Match[str] | None:
    """The last match in ``lines`` that ``wanted`` accepts, of the first of ``patterns`` found."""
    for pattern in patterns:
        for line in reversed(lines):
            match = pattern.search(line)
            if match and wanted(match):
                return match
    return None


def _instruction_line(dockerfile: Path, instruction: str) -> int | None:
    """The line where ``instruction`` first starts in the Dockerfile, whitespace folded."""
    try:
        instructions = dockerfile_module.read(dockerfile)
    except OSError:
        return None
    wanted = " ".join(instruction.split()).rstrip(":").lower()
    folded = [
        (" ".join(f"{i.keyword} {i.arguments}".split()).lower(), i.line) for i in instructions
    ]
    for text, line in folded:
        # BuildKit shortens long instructions in its progress ("RUN apt-get ... &&")
        if text.startswith(wanted) or wanted.startswith(text):
            return line
    for text, line in folded:
        # and names a step with its variables expanded (moby/buildkit frontend/dockerfile/
        # dockerfile2llb/convert.go, WithCustomName(... processCmdEnv(...))): $X stands for any
        parts = re.split(r"\$(?:\{[^}]*\}|\w+)", text)
        if len(parts) > 1 and re.fullmatch(".*".join(map(re.escape, parts)), wanted):
            return line
    return None


def _reason(lines: Sequence[str]) -> str:
    """The last error line (BuildKit's ``ERROR: ...``, the legacy builder's ``The command
    ... returned a non-zero code``), else the last line."""
    for line in reversed(lines):
        for pattern in _REASONS:
            if match := pattern.match(line.strip()):
                return _cut(" ".join(match.group("r").split()), MAX_REASON)
    return _cut(last_lines(lines, 1) or "no output", MAX_REASON)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
