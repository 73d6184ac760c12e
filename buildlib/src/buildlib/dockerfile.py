"""The one Dockerfile reader: instructions with their line numbers, ARG and ENV names.

What it follows, as the Dockerfile reference describes BuildKit's parser:

- parser directives (``# escape=`` and the others) only at the very top, before any comment,
  blank line or instruction; ``escape`` sets the line-continuation character (``\\`` or a
  backtick);
- a line ending in that character (spaces after it allowed) continues on the next line,
  and comment lines and blank lines inside a continuation are left out of the instruction;
- ``#`` starts a comment only at the beginning of a line: elsewhere it is an argument;
- the here-documents of ``RUN``, ``COPY`` and ``ADD`` (``<<EOF`` ... ``EOF``, ``<<-EOF``
  with its tabs) belong to their instruction: their lines are never read as instructions.

Not ``dockerfile-parse``: the shared-step schedule, the secret-build-args check and the line
of a failed build must see the same instructions on the same lines. It must never evaluate
the instructions (no variable expansion).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# BuildKit splits the instruction from its arguments at any run of these (tokenWhitespace
# in moby/buildkit frontend/dockerfile/parser/parser.go), so `FROM\timage` is a FROM
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_ASSIGNMENT = re.compile(r"""([^\s=]+)(?:=("(?:\\.|[^"\\])*"|'[^']*'|\S*))?""")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ARG...
    arguments: str  # continuation lines joined, comment lines left out
    line: int  # 1-based line where the instruction starts
    heredocs: tuple[str, ...] = ()  # the bodies of its here-documents, in order

    @property
    def stage(self) -> str | None:
        """The name ``FROM [--platform=...] IMAGE AS NAME`` gives its stage, as written."""
        words = self.arguments.split()
        if self.keyword == "FROM" and len(words) >= 3 and words[-2].lower() == "as":
            return words[-1]
        return None

    def assignments(self) -> list[tuple[str, str | None]]:
        """``(name, value)`` of an ``ARG`` (value ``None`` without a default) or an ``ENV``
        (``ENV A=1 B=2`` or the older ``ENV A 1``); quotes around a value are removed.
        Names that are not variable names are left out."""
        words = self.arguments.split(maxsplit=1)
        if self.keyword == "ENV" and words and "=" not in words[0]:
            value = words[1] if len(words) > 1 else ""
            return [(words[0], value)] if _NAME.fullmatch(words[0]) else []
        if self.keyword not in ("ARG", "ENV"):
            return []
        found: list[tuple[str, str | None]] = []
        for name, value in (match.groups() for match in _ASSIGNMENT.finditer(self.arguments)):
            if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            if _NAME.fullmatch(name):
                found.append((name, value))
        return found


def parse(text: str) -> list[Instruction]:
    lines = text.splitlines()
    escape = "\\"
    for raw in lines:
        directive = _DIRECTIVE.match(raw.strip())
        if not directive:
            break  # a comment, a blank line or an instruction ends the directives
        if directive.group(1).lower() == "escape" and directive.group(2) in ("\\", "`"):
            escape = directive.group(2)
    found: list[Instruction] = []
    index = 0
    while index < len(lines):
        start = index
        stripped = lines[index].strip()
        index += 1
        if not stripped or stripped.startswith("#"):
            continue
        logical = lines[start].rstrip()
        while logical.endswith(escape):
            logical = logical[: -len(escape)]
            # comment and blank lines inside a continuation are not part of it
            while index < len(lines) and (
                not lines[index].strip() or lines[index].lstrip().startswith("#")
            ):
                index += 1
            if index == len(lines):
                break
            logical += lines[index].rstrip()
            index += 1
        keyword, *rest = _WHITESPACE.split(logical.strip(), maxsplit=1)
        keyword, arguments = keyword.upper(), "".join(rest)
        heredocs: list[str] = []
        if keyword in _HEREDOC_INSTRUCTIONS:
            for match in _HEREDOC.finditer(arguments):
                strip_tabs, word = match.group(1) == "-", match.group(3)
                body: list[str] = []
                while index < len(lines):
                    line = lines[index].lstrip("\t") if strip_tabs else lines[index]
                    index += 1
                    if line.rstrip() == word:
                        break
                    body.append(line)
                heredocs.append("\n".join(body))
        found.append(Instruction(keyword, arguments.strip(), start + 1, tuple(heredocs)))
    return found


def read(path: Path) -> tuple[Instruction, ...]:
    """:func:`parse` of a file (undecodable bytes replaced); ``OSError`` if it cannot be read.
    A text is parsed once: the config, the plan and the checks of a run read the same files."""
    return _parsed(path.read_text(encoding="utf-8", errors="replace"))


# Keyed by the text, as a path and mtime would miss a rewrite within one tick of the clock;
# bounded, as a long-lived process (a test session) reads many.
@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> tuple[Instruction, ...]:
    return tuple(parse(text))
