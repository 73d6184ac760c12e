"""The flags of each task, as typed, frozen objects: what the user typed, before any default.

``None`` (or an empty tuple) means "not given". This module must never read the environment
or pyproject, nor validate a value: :mod:`buildlib.options` does, so that a flag and the
variable or key it overrides are checked by the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar


def several(values: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """A repeatable flag, one string when called directly (``--tag``); ``None``: not given."""
    found = (values,) if isinstance(values, str) else tuple(values or ())
    return found or None


@dataclass(frozen=True)
class ImageFlags:
    images: tuple[str, ...] | None = None
    platform: str | None = None
    no_cache: bool = False
    build_arg: tuple[str, ...] = ()
    secret: tuple[str, ...] = ()
    builder: str | None = None
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    jobs: int | str | None = None
    sequential: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class BuildFlags(ImageFlags):
    tag: str | None = None
    all_images: bool = False


@dataclass(frozen=True)
class PublishFlags(ImageFlags):
    registry: str | None = None
    force: bool = False
    as_json: bool = False


@dataclass(frozen=True)
class PushFlags(PublishFlags):
    """``invoke push``: ``tag`` may be several (``--tag main --tag nightly``)."""

    tag: str | tuple[str, ...] | None = None
    sha_tag: bool = False


@dataclass(frozen=True)
class ReleaseFlags(PublishFlags):
    """``invoke release``: no ``--tag``, its tags come from the version."""


@dataclass(frozen=True)
class DoctorFlags:
    root: Path = Path(".")
    fix: bool = False
    as_json: bool = False
    for_: str | None = None
    registry: str | None = None


Flags = TypeVar("Flags", bound=ImageFlags)
# Invoke's names of flags whose field is named otherwise (``--json`` shadows nothing here).
_FIELD_OF = {"image": "images", "all": "all_images", "json": "as_json"}
# The flags that may be given more than once (Invoke's ``iterable``).
REPEATED = ("build_arg", "secret", "cache_from", "cache_to")


def from_task(kind: type[Flags], given: Mapping[str, Any], **fixed: Any) -> Flags:
    """The flags ``kind`` of a task, from the keyword arguments Invoke passed it (what
    ``kind`` has no field for is not a flag); ``fixed`` overrides them."""
    known = {f.name for f in fields(kind)}
    values = {_FIELD_OF.get(key, key): value for key, value in given.items()}
    values = {key: value for key, value in values.items() if key in known}
    if "images" in values:  # comma-separated; empty is "not given"
        found = (n.strip() for n in (values["images"] or "").split(","))
        values["images"] = tuple(n for n in found if n) or None
    # Invoke gives a repeatable flag as a list, or None when it was not given
    values |= {key: tuple(values.get(key) or ()) for key in REPEATED}
    return kind(**{**values, **fixed})
