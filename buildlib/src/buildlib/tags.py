"""What a ``push`` writes besides its image: its tags, its version label, its annotations,
and the references the workflow reads. Pure functions, no docker, no registry.

They follow docker/metadata-action, which most workflows that build images use, so an
image published by buildlib reads like one published by that action:

* ``type=sha`` makes ``sha-`` + the 7-character short commit (its default ``prefix=sha-``
  and ``format=short``); buildlib adds it with ``--sha-tag`` or ``sha-tag = true``.
* ``org.opencontainers.image.version`` is the first tag ("the first tag in the sorted
  list is used as the image version for the generated OCI labels"): a branch push's image
  says ``main``, never the pyproject version it is not. A release keeps its version.
* Annotations repeat the OCI labels on the index and the manifests (metadata-action's
  ``annotations`` output, ``manifest:``/``index:`` levels), written with buildx's
  ``--annotation`` (buildx 0.12 and later).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from buildlib.errors import UsageError
from buildlib.references import DOCKER_HUB, is_docker_hub
from buildlib.versions import is_version_shaped

_HEX = re.compile(r"[0-9a-f]{7,64}")


def sha_tag(revision: str | None) -> str:
    """``sha-1a2b3c4`` for a commit; a usage error outside git (there is no commit to name)."""
    if not revision or not _HEX.fullmatch(revision):
        raise UsageError(
            "--sha-tag needs a git commit, and this is not a git checkout",
            hint="run it from a clone, or drop --sha-tag (sha-tag = false in [tool.buildlib])",
        )
    return f"sha-{revision[:7]}"  # metadata-action's type=sha: prefix=sha-, format=short


def push_tags(given: Iterable[str], sha: str | None = None) -> tuple[str, ...]:
    """The tags of a push, in order, each once: those given (``--tag``), then ``sha``."""
    return tuple(dict.fromkeys([*given, sha] if sha else given))


def refuse_release_tags(tags: Sequence[str], force: bool) -> None:
    """``latest`` and version-shaped tags belong to ``release``: a push refuses them."""
    for tag in tags:
        if not force and is_version_shaped(tag):
            raise UsageError(
                f"tag {tag!r} belongs to releases (it would move what users pull as a version)",
                hint="publish versions with `invoke release`, or pass --force",
            )


def annotation_flags(labels: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """``--annotation`` values that repeat the OCI labels on the index and each manifest."""
    return tuple(f"index,manifest:{key}={value}" for key, value in labels)


def full_reference(registry: str, repository: str, tag: str) -> str:
    """``docker.io/runpod/tetra-rp:main``: the registry always named, as a workflow that
    pulls or signs the image needs it (Docker Hub's aliases read as ``docker.io``)."""
    host = DOCKER_HUB if is_docker_hub(registry) else registry
    return f"{host}/{repository}:{tag}"


def annotations_unsupported(builder: str, described: str, buildx_version: str | None) -> str | None:
    """Why this client writes no OCI annotations, or ``None`` when it does."""
    if builder != "buildx":
        return f"the {described} has no --annotation (buildx 0.12 or later has)"
    # buildx added --annotation (build) and the bake ``annotations`` attribute in v0.12.0
    found = re.search(r"v?(\d+)\.(\d+)", buildx_version or "")
    if found is None or (int(found[1]), int(found[2])) < (0, 12):
        return f"buildx {buildx_version} has no --annotation (0.12 or later has)"
    return None


def annotations_note(reason: str | None, loaded: Sequence[str]) -> str | None:
    """What the plan says of images going out without annotations: the builder cannot write
    them (``reason``), or ``docker push`` sends ``loaded`` from the engine's store (labels only)."""
    if reason is not None:
        return f"images are published without OCI annotations (labels only): {reason}"
    if loaded:
        return (
            f"{', '.join(loaded)}: published without OCI annotations (labels only): pushed by "
            "docker push from the engine's image store, which keeps none (a multi-platform "
            "image or attestations make buildx push it with them)"
        )
    return None
