"""Cache sources and destinations: buildx's form (``type=registry,ref=REPO:buildcache``),
turned into the flags of the builder that runs:

- ``buildx``: passed through (``--cache-from`` / ``--cache-to`` take every type);
- ``buildkit`` (``DOCKER_BUILDKIT=1 docker build``): ``--cache-from`` takes only a plain
  image reference and *silently ignores* ``type=registry,ref=X``, so the reference is
  unwrapped; the only destination is the inline cache, written by the build argument
  ``BUILDKIT_INLINE_CACHE=1`` (``--cache-to type=inline``);
- ``legacy``: ``--cache-from IMAGE`` (local images only), no destination.

``{image}`` in a spec is the image's name, so one flag gives each image its own cache
(``type=gha,scope={image}``). It must never let a builder silently drop a cache flag: what
a builder cannot honour is a :class:`UsageError` before a build starts.
"""

from __future__ import annotations

from collections.abc import Iterable

from buildlib.errors import UsageError

INLINE_CACHE_ARG = ("BUILDKIT_INLINE_CACHE", "1")
_BUILDX_HINT = "install the buildx plugin (`docker buildx version` must answer)"
_SPEC_HINT = "write it as type=registry,ref=REPO:buildcache"
IMAGE_PLACEHOLDER = "{image}"


def given(specs: Iterable[str], flag: str) -> tuple[str, ...]:
    """The specs of the repeated ``flag`` without the empty ones (``--cache-from "$UNSET"``
    of a CI matrix): skipped, as docker/buildx util/buildflags/cache.go (ParseCacheEntry, read
    at 461836b) skips a value that is "" for both --cache-from and --cache-to. It keeps the
    white space of any other (go-csvvalue's TrimLeadingSpace is off), so a padded one is
    refused: " " would be the image reference " ", " type=gha" the key " type" and no type."""
    for spec in specs:
        if spec != spec.strip():
            blank = not spec.strip()
            raise UsageError(
                f"{flag} {spec!r} {'is blank' if blank else 'has white space around it'}: buildx "
                "skips only an empty value, and keeps the spaces of any other",
                hint="pass it empty to skip it" if blank else f"pass {flag} {spec.strip()!r}",
            )
    return tuple(spec for spec in specs if spec)


def for_image(specs: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(spec.replace(IMAGE_PLACEHOLDER, name) for spec in specs)


def parse(spec: str) -> tuple[str | None, dict[str, str]]:
    """``type=registry,ref=X,mode=max`` -> ("registry", {"ref": X, "mode": "max"});
    a plain reference (no ``=``) -> (None, {"ref": spec})."""
    if "=" not in spec:
        return None, {"ref": spec}
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"cache spec {spec!r}: {part!r} is not KEY=VALUE", hint=_SPEC_HINT)
        fields[key.strip()] = value.strip()
    kind = fields.pop("type", None)
    if kind is None and "ref" in fields:
        kind = "registry"  # buildx's default type
    if kind is None:
        raise UsageError(f"cache spec {spec!r} has no type= and no ref=", hint=_SPEC_HINT)
    return kind, fields


def source_flag(spec: str, builder: str) -> str:
    if builder == "buildx":
        return spec
    kind, fields = parse(spec)
    if kind in (None, "registry") and fields.get("ref"):
        return fields["ref"]
    raise UsageError(
        f"--cache-from {spec}: the {builder} builder reads only image references "
        "(type=registry,ref=REPO:TAG or REPO:TAG)",
        hint=f"{_BUILDX_HINT}, or use a registry cache",
    )


def destination_build_args(specs: tuple[str, ...], builder: str) -> tuple[tuple[str, str], ...]:
    """Build arguments that stand for ``--cache-to`` where there is no such flag."""
    if builder == "buildx" or not specs:
        return ()
    what = "built-in BuildKit exports only the inline cache (--cache-to type=inline)"
    if builder == "legacy":
        what = "the legacy builder cannot export a cache"
    for spec in specs:
        if builder == "legacy" or parse(spec)[0] != "inline":
            raise UsageError(f"--cache-to {spec}: {what}", hint=f"{_BUILDX_HINT}, or drop it")
    return (INLINE_CACHE_ARG,)


def validate(cache_from: tuple[str, ...], cache_to: tuple[str, ...], builder: str) -> None:
    """Raise the error a build would hit, before any build starts."""
    for spec in cache_from + cache_to:
        parse(spec)
    for spec in cache_from:
        source_flag(spec, builder)
    destination_build_args(cache_to, builder)
