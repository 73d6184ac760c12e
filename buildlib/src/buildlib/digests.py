"""What a build that pushed says it pushed, and whether the registry holds that.

buildx's ``--metadata-file`` (``build`` and ``bake``) records the digest of what it pushed
(an index for a multi-platform image) under ``containerimage.digest``; the registry's
``Docker-Content-Digest`` for that tag (:meth:`buildlib.registry.RegistryClient.manifest_digest`)
must equal it: a tag that merely exists may hold what another run pushed. Only compares:
never pushes or retags.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildlib import console
from buildlib.errors import BuildlibError, NotVerified, PublishError

if TYPE_CHECKING:
    from buildlib.registry import RegistryClient

DIGEST_KEY = "containerimage.digest"  # the manifest, or the index, that was pushed
CONFIG_KEY = "containerimage.config.digest"  # the image id of a single-platform image
TAKE_TURNS = "run it again; runs that push the same tag must take turns (a CI concurrency group)"


def read_metadata(path: Path) -> dict[str, Any]:
    """The JSON object buildx wrote to ``--metadata-file`` (empty when it wrote none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def pushed_digest(entry: Mapping[str, Any]) -> str | None:
    """The digest of what a build pushed, from its metadata (a build's, or a bake target's)."""
    digest = entry.get(DIGEST_KEY)
    return digest if isinstance(digest, str) and digest.startswith("sha256:") else None


def listed_digest(client: RegistryClient, repository: str, tag: str) -> str:
    """The digest the registry lists under ``tag`` (an error when it lists none)."""
    remote = client.manifest_digest(repository, tag)
    if remote is None:
        raise PublishError(
            f"{client.host} lists nothing under {repository}:{tag}",
            hint=f"check {client.host}'s storage, then push again",
        )
    return remote


@contextmanager
def confirming(reference: str) -> Iterator[None]:
    """The registry's read-back just after this run pushed (or tagged) ``reference``: what
    keeps it from confirming the push is ``NotVerified`` (the push may have landed)."""
    try:
        yield
    except BuildlibError as error:
        raise NotVerified(reference, error) from None


def verify_pushed(
    client: RegistryClient, repository: str, reference: str, tag: str, reported: str | None
) -> str:
    """The digest the registry holds under ``tag``, checked against the one the build
    reported: a different one means another writer replaced the tag."""
    with confirming(reference):
        remote = listed_digest(client, repository, tag)
    if reported is None:
        console.warn(
            f"the build of {reference} reported no digest (--metadata-file): only checked that "
            "the registry lists the tag; a newer buildx reports it"
        )
        return remote
    if remote != reported:
        raise replaced(reference, remote, f"the build pushed {reported[:19]}")
    console.success(f"pushed {reference} ({remote})")
    return remote


def replaced(reference: str, remote: str, ours: str) -> PublishError:
    """Another writer took ``reference`` during this run: the registry has ``remote``,
    ``ours`` says what this run put there."""
    return PublishError(
        f"another writer replaced {reference} during this run: the registry has "
        f"{remote[:19]}, {ours}",
        hint=TAKE_TURNS,
    )
