"""The build plan: what to build, with which tags and labels, in which order; what
``build``, ``push`` and ``release`` execute (:mod:`buildlib.build`) and ``--dry-run`` prints.
It reads the configuration, the Dockerfiles and git, and refuses what the builder cannot do
before anything starts. It must never run docker or anything that talks to the engine.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from buildlib import cache
from buildlib import dockerfile as dockerfile_module
from buildlib.config import PREDEFINED_ARG, Config, ImageSpec, declared_args, did_you_mean
from buildlib.engine import Attestations, Capabilities, host_platform
from buildlib.errors import UsageError
from buildlib.git import Git
from buildlib.options import BUILDER_ENV, BuildOptions, SecretSpec
from buildlib.references import is_docker_hub
from buildlib.tags import annotation_flags
from buildlib.urls import public_url

Output = Literal["load", "push"]
OCI = "org.opencontainers.image"
REVISION_LABEL = f"{OCI}.revision"


def image_reference(registry: str, repository: str, tag: str) -> str:
    """``runpod/tetra-rp:main`` on Docker Hub, ``127.0.0.1:5000/runpod/tetra-rp:main`` elsewhere."""
    if is_docker_hub(registry):
        return f"{repository}:{tag}"
    return f"{registry}/{repository}:{tag}"


def shown_path(path: Path, base: Path | None) -> str:
    """``path`` relative to ``base`` when inside it, else whole (a build's command line)."""
    if base is not None and path.is_relative_to(base):
        return str(path.relative_to(base))
    return str(path)


@dataclass(frozen=True)
class ImageBuild:
    image: ImageSpec
    references: tuple[str, ...]
    dockerfile: Path
    context: Path
    platforms: tuple[str, ...]
    build_args: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    secrets: tuple[SecretSpec, ...] = ()
    no_cache: bool = False
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    output: Output = "load"
    workdir: Path | None = None  # commands run here, with paths shown relative to it
    after: str | None = None  # an image whose first stages this one reuses: built first
    # the last step shared with ``after`` as BuildKit's progress names it (stage, number,
    # instruction): this build may start once it is done there
    after_step: tuple[str, int, str] | None = None
    provenance: str | None = None  # buildx --provenance (mode=min, mode=max, false), pushed
    sbom: bool = False
    # the reference a loaded image under a local name of this run is pushed as: another
    # run on the engine cannot swap it in between
    publish_as: str | None = None
    annotations: tuple[str, ...] = ()  # buildx --annotation LEVELS:KEY=VALUE, pushed only

    @property
    def name(self) -> str:
        return self.image.name

    @property
    def published(self) -> str:
        """The reference the registry gets: ``publish_as``, else the build's own name."""
        return self.publish_as or self.references[0]

    @property
    def primary(self) -> str:
        return self.references[0]


@dataclass(frozen=True)
class BuildPlan:
    capabilities: Capabilities
    builds: tuple[ImageBuild, ...]
    builder: str | None = None
    jobs: int = 1
    dry_run: bool = False
    # What the plan could not do as asked, said before it runs (e.g. no attestations)
    notes: tuple[str, ...] = ()
    # What the caller warns of as soon as the plan is made (e.g. an ignored --build-arg)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommitFacts:
    """What the labels need from git, asked once per plan (not once per image)."""

    revision: str | None
    epoch: int | None
    remote_url: str | None


def oci_labels(
    config: Config, image: ImageSpec, facts: CommitFacts, version: str | None = None
) -> tuple[tuple[str, str], ...]:
    """OCI labels; ``version`` is what the image claims to be (a push: its first tag; by
    default the pyproject version). ``created`` is HEAD's commit time, so a rebuild of the
    same commit is byte-identical and a re-run release finds the same digest (it is "now"
    outside git)."""
    labels = {
        f"{OCI}.title": image.title or image.repository,
        f"{OCI}.version": version or config.version_text,
        REVISION_LABEL: facts.revision or "unknown",
        f"{OCI}.created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(facts.epoch)),
    }
    # a configured source is published as it is too: it must not carry a token either
    source = public_url(config.source) if config.source else facts.remote_url
    if source:
        labels[f"{OCI}.source"] = source
    return tuple(labels.items())


def make_plan(
    config: Config,
    images: tuple[ImageSpec, ...],
    options: BuildOptions,
    capabilities: Capabilities,
    *,
    output: Output = "load",
    git: Git | None = None,
    attestations: Attestations | None = None,
    version: str | None = None,
    annotate: bool = False,
) -> BuildPlan:
    """Plan builds of ``images``, each tagged with the resolved ``--tag``. With
    ``attestations`` (:mod:`buildlib.attest`) an image is pushed by its build, which carries
    them. ``version``: the version label (default: the pyproject version); ``annotate``: a
    build pushed by the builder repeats its OCI labels as index and manifest annotations."""
    attest = attestations or Attestations()
    git = git or Git(config.root)
    remote = git.remote_url() if config.source is None else None  # a source replaces it
    commit = CommitFacts(git.head(), git.head_commit_time(), remote)
    registry = options.registry or config.registry
    builds = []
    for image in images:
        # an image's configured platforms are for push and release; a build is for this host
        platforms = options.platforms or (image.platforms if output == "push" else ())
        platforms = platforms or (host_platform(),)
        _check_feasible(image, platforms, options, capabilities, output)
        labels = oci_labels(config, image, commit, version)
        # several platforms (an index) or attestations (kept in an index too) go from the
        # builder itself; else the image is loaded, then pushed by docker
        pushed = output == "push" and (len(platforms) > 1 or attest.any)
        builds.append(
            ImageBuild(
                image=image,
                references=(image_reference(registry, image.repository, options.tag),),
                dockerfile=config.root / image.dockerfile,
                context=config.root / image.context,
                platforms=platforms,
                build_args=tuple((dict(image.build_args) | dict(options.build_args)).items()),
                labels=labels,
                secrets=options.secrets,
                no_cache=options.no_cache,
                cache_from=cache.for_image(options.cache_from, image.name),
                cache_to=cache.for_image(options.cache_to, image.name),
                output="push" if pushed else "load",
                workdir=config.root,
                provenance=attest.provenance if output == "push" else None,
                sbom=attest.sbom and output == "push",
                annotations=annotation_flags(labels) if pushed and annotate else (),
            )
        )
    # docker ignores an arg no ARG declares (BuildKit silently): say so, as a typo is likely;
    # a warning, since one flag may go to every job of a CI matrix
    declared = [declared_args(build.dockerfile) for build in builds]
    names = set().union(*filter(None, declared))
    files = ", ".join(sorted({build.image.dockerfile for build in builds}))
    warnings = tuple(
        f"--build-arg {key} is ignored: no ARG {key} in {files}{did_you_mean(key, names)}"
        for key, _ in options.build_args
        if None not in declared and key not in names and not PREDEFINED_ARG.fullmatch(key)
    )
    # Under --no-cache a later build cannot reuse the shared layers, so waiting buys nothing.
    ordered = tuple(builds) if options.no_cache else schedule(builds)
    if not capabilities.buildkit:  # the legacy builder's output names no BuildKit steps
        ordered = tuple(replace(build, after_step=None) for build in ordered)
    jobs = options.jobs or max(1, len(ordered))
    notes = (attest.note,) if attest.note else ()
    return BuildPlan(capabilities, ordered, options.builder, jobs, options.dry_run, notes, warnings)


def _check_feasible(
    image: ImageSpec,
    platforms: tuple[str, ...],
    options: BuildOptions,
    capabilities: Capabilities,
    output: Output,
) -> None:
    if len(platforms) > 1 and output == "load":
        raise UsageError(
            f"{image.name}: cannot load a multi-platform image ({', '.join(platforms)}) into the "
            "local engine",
            hint=f"build one platform (--platform {platforms[0]}) or push it (invoke push)",
        )
    if len(platforms) > 1 and capabilities.builder != "buildx":
        raise UsageError(
            f"{image.name}: building {', '.join(platforms)} at once needs docker buildx "
            f"(this client has the {capabilities.describe()})",
            hint="install the buildx plugin, or pass one --platform",
        )
    if options.builder and capabilities.builder != "buildx":
        given, drop = f"--builder {options.builder}", "drop --builder"
        if options.builder_from_env:
            given, drop = f"{BUILDER_ENV}={options.builder}", f"unset {BUILDER_ENV}"
        raise UsageError(
            f"{given} needs docker buildx (this client has the {capabilities.describe()})",
            hint=f"install the buildx plugin (`docker buildx version` must answer), or {drop}",
        )
    if not capabilities.buildkit and options.secrets:
        raise UsageError(
            "--secret needs BuildKit; the legacy builder would have to bake it into a layer",
            hint="install docker buildx, or use a docker client older than 23 with BUILDLIB_DOCKER",
        )
    cache.validate(options.cache_from, options.cache_to, capabilities.builder)


# --- scheduling: builds that share their first steps run one after the other -------------


def dockerfile_steps(dockerfile: Path, build_args: dict[str, str]) -> list[str]:
    """Normalized instructions, with global ``ARG`` defaults (and overrides) substituted,
    here-documents included."""
    steps: list[str] = []
    args: dict[str, str] = {}
    for instruction in dockerfile_module.read(dockerfile):
        if instruction.keyword == "ARG" and not steps:
            for name, default in instruction.assignments():
                args[name] = build_args.get(name, default or "")
            continue
        step = " ".join([instruction.keyword, *instruction.arguments.split()])
        # bodies apart by a character no line of theirs holds (dockerfile.parse splits lines
        # with str.splitlines, which ends one at "\x1e"): the same lines cut elsewhere differ
        step += "\n" + "\x1e".join(instruction.heredocs) if instruction.heredocs else ""
        for name, value in args.items():
            # ``$NAME`` ends at a non-word character: ``$BASE`` is not in ``$BASE_IMAGE``
            pattern = rf"\$(?:\{{{re.escape(name)}\}}|{re.escape(name)}(?!\w))"
            step = re.sub(pattern, value.replace("\\", r"\\"), step)
        steps.append(step)
    return steps


# Instructions that are steps of their own in BuildKit's progress ("[stage-0 3/6] WORKDIR");
# ENV, ARG, LABEL, EXPOSE, CMD... only change the image config.
_BUILDKIT_STEPS = frozenset({"FROM", "RUN", "COPY", "ADD", "WORKDIR"})
_HEREDOC = re.compile(r"<<-?\s*[\"']?[A-Za-z_]\w*")


def last_shared_step(shared: list[str]) -> tuple[str, int, str] | None:
    """BuildKit's (stage, number, instruction) for the last step of ``shared``, a common
    prefix of two Dockerfiles' steps; ``None`` where its numbering is not followed here:
    past the first stage, or with a heredoc (whose lines are not steps)."""
    froms = sum(step.startswith("FROM ") for step in shared)
    if froms != 1 or not shared[0].startswith("FROM ") or any(map(_HEREDOC.search, shared)):
        return None
    first = dockerfile_module.Instruction("FROM", shared[0].removeprefix("FROM "), 1)
    stage = (first.stage or "stage-0").lower()
    image = next((word for word in first.arguments.split() if not word.startswith("--")), "")
    number, last = 0, ""
    for step in shared:
        keyword, _, rest = step.partition(" ")
        # no step of its own: an empty base, or a WORKDIR that stays at the root
        scratch = keyword == "FROM" and image.lower() == "scratch"
        root = keyword == "WORKDIR" and rest.strip().rstrip("/") == ""
        if keyword in _BUILDKIT_STEPS and not scratch and not root:
            number, last = number + 1, keyword
    return (stage, number, last) if number else None


def schedule(builds: list[ImageBuild]) -> tuple[ImageBuild, ...]:
    """Give each build that shares at least its base and one more step with an earlier build
    an ``after`` edge, so the shared layers are built once, then reused from cache: it starts
    when the earlier build has done its last shared step (``after_step``), or has finished.
    (Concurrent builds of the same steps compete for the same work and end later.)"""
    planned: list[ImageBuild] = []
    steps = {b.name: dockerfile_steps(b.dockerfile, dict(b.build_args)) for b in builds}
    for build in builds:
        leader, step = None, None
        for earlier in (b for b in planned if b.after is None):
            # no layer is shared across contexts or platforms
            if (earlier.context, earlier.platforms) != (build.context, build.platforms):
                continue
            pairs = zip(steps[earlier.name], steps[build.name], strict=False)
            shared = [one for one, other in itertools.takewhile(lambda p: p[0] == p[1], pairs)]
            if len(shared) >= 2:
                leader, step = earlier.name, last_shared_step(shared)
                break
        planned.append(replace(build, after=leader, after_step=step))
    return tuple(planned)
