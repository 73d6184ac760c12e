"""Attestations of published images: SLSA provenance and an SBOM, made by BuildKit.

``invoke push`` adds ``--provenance=mode=min``, ``invoke release`` ``--provenance=mode=max``,
both ``--sbom=true`` (``provenance = false`` / ``sbom = false`` turn them off). They live in
the image index, so such a build is pushed by the builder itself (``--push``).

Only buildx with a builder that runs BuildKit outside the engine makes them (the ``docker``
driver can with the containerd image store, which buildlib does not detect). It must never
silently drop them: where some were wanted and none can be made, a note says why.
"""

from __future__ import annotations

from typing import Literal

from buildlib.config import Config
from buildlib.docker import buildx_driver
from buildlib.engine import Attestations, Capabilities

Mode = Literal["min", "max"]
NO_ATTESTATIONS = frozenset({"docker"})  # buildx drivers without them (classic image store)
HOW = (
    "use buildx with a docker-container builder: `docker buildx create --use --driver "
    "docker-container` (or turn them off: provenance = false, sbom = false in [tool.buildlib])"
)


def wanted(config: Config) -> str:
    """What ``[tool.buildlib]`` asks for: ``provenance and SBOM``, one of them, or ``""``."""
    asked = (("provenance", config.provenance), ("SBOM", config.sbom))
    return " and ".join(what for what, on in asked if on)


def builder_support(
    caps: Capabilities, builder: str | None = None
) -> tuple[str | None, str | None]:
    """The buildx builder's driver (``None`` without buildx), and why this builder cannot
    make attestations (``None`` when it can, or cannot tell)."""
    if caps.builder != "buildx":
        return None, f"the {caps.describe()} cannot make attestations"
    driver = buildx_driver(caps.docker, builder)
    if driver not in NO_ATTESTATIONS:
        return driver, None
    return driver, f"the buildx builder uses the {driver} driver, which cannot make attestations"


def for_publishing(
    config: Config, caps: Capabilities, mode: Mode, builder: str | None = None
) -> Attestations:
    """The attestations of a push (``min``) or a release (``max``) on this builder."""
    asked = wanted(config)
    if not asked:
        return Attestations()
    _, reason = builder_support(caps, builder)
    if reason is not None:
        return Attestations(note=f"images are published without {asked}: {reason}; {HOW}")
    return Attestations(
        provenance=f"mode={mode}" if config.provenance else "false", sbom=config.sbom
    )


def describe(attestations: Attestations) -> str:
    provenance = attestations.provenance not in (None, "false")
    made = ((f"provenance {attestations.provenance}", provenance), ("SBOM", attestations.sbom))
    return ", ".join(what for what, on in made if on)
