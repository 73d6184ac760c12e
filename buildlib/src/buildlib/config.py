"""``pyproject.toml`` -> frozen dataclasses, parsed and validated once.

Of built-in defaults < ``pyproject.toml`` < environment < task flags, this module covers the
first two (each default lives once, on its dataclass field) and must never read the
environment (:mod:`buildlib.options` applies the rest). Every error names the file, the line
when it can be found, the key, and the fix.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import Version

from buildlib.buildargs import ALLOW_KEY, KEY_RE
from buildlib.dockerfile import read as read_dockerfile
from buildlib.errors import REFERENCE, ConfigError
from buildlib.references import (
    DOCKER_HUB,
    destination,
    validate_registry,
    validate_repository,
    validate_tag,
)
from buildlib.runner import ask
from buildlib.urls import public_url
from buildlib.versions import FLOATING_PATTERNS, docker_tag_for, parse_version, validate_patterns

if sys.version_info >= (3, 11):  # noqa: UP036 - buildlib also serves older Pythons
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYPROJECT = "pyproject.toml"
TOOL = "tool.buildlib"
# A part is [A-Za-z0-9_-]+, as containerd/platforms platforms.go Parse (specifierRe) takes it.
# No "." in a part: containerd took one only in 2024 (commit 41c2c97, "Support arm64 minor
# variants"); docker 20.10's daemon refuses linux/arm64/v8.2 (checked, either builder)
PLATFORM_RE = re.compile(r"^[a-z0-9_-]+/[a-z0-9_-]+(/[a-z0-9_-]+)?$")
IMAGE_NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")
# The words containerd's platform parser knows (containerd/platforms database.go: isKnownOS,
# isKnownArch, the aliases of normalizeOS and normalizeArch); another parses, then matches no
# base image. Wasm: wasi/wasm (docs.docker.com/desktop/features/wasm) or Go's wasip1
# (src/go/build/syslist.go, the list containerd's is generated from).
KNOWN_OS = frozenset(
    "aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd "
    "plan9 solaris windows zos macos wasi wasip1".split()
)
KNOWN_ARCH = frozenset(
    "386 amd64 amd64p32 arm armbe arm64 arm64be ppc64 ppc64le loong64 mips mipsle mips64 "
    "mips64le mips64p32 mips64p32le ppc riscv riscv64 s390 s390x sparc sparc64 wasm "
    "i386 x86_64 x86-64 aarch64 armhf armel".split()
)
_PARTS = ("operating system", "architecture", "variant")
_KNOWN = (KNOWN_OS, KNOWN_ARCH)  # a variant is any word


@dataclass(frozen=True)
class ImageSpec:
    """One image variant of the matrix."""

    name: str
    repository: str
    dockerfile: str
    context: str
    build_args: tuple[tuple[str, str], ...] = ()
    platforms: tuple[str, ...] = ()
    title: str = ""
    target: str | None = None


@dataclass(frozen=True)
class ReleaseConfig:
    git_tag: str = "v{version}"
    floating_tags: tuple[str, ...] = FLOATING_PATTERNS

    def git_tag_for(self, version: str) -> str:
        return self.git_tag.format(version=version)


@dataclass(frozen=True)
class CredentialsConfig:
    username_env: str = "DOCKERHUB_USERNAME"
    token_env: str = "DOCKERHUB_TOKEN"


@dataclass(frozen=True)
class Config:
    root: Path
    version: Version = Version("0")
    version_text: str = "0"
    images: tuple[ImageSpec, ...] = ()
    default_group: tuple[str, ...] = ()
    registry: str = DOCKER_HUB
    default_tag: str = "local"
    tag_env: str = "BUILDLIB_IMAGE_TAG"
    source: str | None = None
    main_branch: str = "main"
    release: ReleaseConfig = field(default_factory=ReleaseConfig)
    credentials: CredentialsConfig = field(default_factory=CredentialsConfig)
    line_ending_globs: tuple[str, ...] = ()
    allow_build_args: tuple[str, ...] = ()
    # Attestations of pushes and releases (buildx): SLSA provenance and an SBOM.
    provenance: bool = True
    sbom: bool = True
    # ``push`` also tags each image ``sha-<7 hex>`` (docker/metadata-action's type=sha)
    sha_tag: bool = False

    @property
    def main_tag(self) -> str:
        """The tag of the main branch's images: its name as docker/metadata-action's
        type=ref,event=branch makes it a tag (src/meta.ts sanitizeTag), release/1.x's is
        release-1.x."""
        return re.sub(r"[^a-zA-Z0-9._-]+", "-", self.main_branch)

    @property
    def image_names(self) -> tuple[str, ...]:
        return tuple(image.name for image in self.images)

    def image(self, name: str) -> ImageSpec:
        for image in self.images:
            if image.name == name:
                return image
        raise ConfigError(
            f"unknown image {name!r}{did_you_mean(name, self.image_names)}",
            hint=f"use one of: {', '.join(self.image_names)}",
        )

    def select(self, names: list[str] | tuple[str, ...] | None) -> tuple[ImageSpec, ...]:
        """Images by name, in matrix order; ``None`` or empty means the default group."""
        wanted = list(names) if names else list(self.default_group)
        for name in wanted:
            self.image(name)  # raises with a suggestion
        return tuple(image for image in self.images if image.name in wanted)


# --- schema: key -> type, for "did you mean" and type errors -----------------------------

_TOP_KEYS = {
    "registry": str,
    "default-group": list,
    "default-tag": str,
    "tag-env": str,
    "source": str,
    "main-branch": str,
    "line-ending-globs": list,
    "allow-build-args": list,
    "images": dict,
    "release": dict,
    "credentials": dict,
    "provenance": bool,
    "sbom": bool,
    "sha-tag": bool,
}
_IMAGE_KEYS = {
    "repository": str,
    "dockerfile": str,
    "context": str,
    "build-args": dict,
    "platforms": list,
    "title": str,
    "target": str,
}
# TOML's names of the types a key may hold
_TOML_TYPES = {str: "string", list: "list", dict: "table", int: "integer", bool: "boolean"}
# how to write a value of each type; {example} puts a string given in a list
_TYPE_HINTS = {
    bool: "write true or false, without quotes: {key} = true",
    dict: "make it a table: [{table}.{key}]",
    list: "write a list: {key} = {example}",
    str: 'write a string: {key} = "..."',
}
# keys taken as they are, each defaulting to its field
_PLAIN = ("source", "provenance", "sbom", "sha-tag")
_RELEASE_KEYS = {"git-tag": str, "floating-tags": list}
_CREDENTIAL_KEYS = {"username-env": str, "token-env": str}


def load(root: Path | str = ".") -> Config:
    """Read ``root/pyproject.toml``. Raises :class:`ConfigError` with file:line (relative to
    ``root``, as every other error's) and a fix."""
    root = Path(root).resolve()
    return parse(read(root), root=root)


def read(root: Path) -> str:
    """The text of ``root/pyproject.toml``; a file that cannot be read is a ConfigError."""
    path = root / PYPROJECT
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path} not found", hint="run from the repository root or pass --root"
        ) from None
    except NotADirectoryError:
        raise ConfigError(
            f"{root} is not a directory", hint="pass the folder that holds pyproject.toml"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{PYPROJECT} is not UTF-8 text (byte {exc.start})",
            location=PYPROJECT,
            hint="save pyproject.toml as UTF-8",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {PYPROJECT}: {exc.strerror or exc}",
            location=PYPROJECT,
            hint="check that it is a readable file",
        ) from None


def parse(text: str, *, root: Path, filename: str = PYPROJECT) -> Config:
    data = parse_toml(text, filename)
    where = Locator(text, filename)

    project = data.get("project")
    if not isinstance(project, dict):
        raise ConfigError(
            "missing [project] table", location=filename, hint="add [project] with name and version"
        )
    version_text = project.get("version")
    if not isinstance(version_text, str):
        raise ConfigError(
            "[project].version is missing or not a string",
            location=where.key("project", "version"),
            hint='set version = "0.1.0", the version of the images',
        )
    version = parse_version(version_text, location=where.key("project", "version"))
    try:  # the tag release gives the images, by the one tag rule (references.validate_tag)
        docker_tag_for(version)
    except ConfigError as error:
        raise ConfigError(
            f"[project].version makes an {error.message}",
            location=where.key("project", "version"),
            hint="shorten it: release tags the images with it (a local version, after '+', "
            "is part of the tag)",
        ) from None

    tool = data.get("tool")
    # other tools' tables are theirs; one a letter away from buildlib's is a typo
    for name in tool if isinstance(tool, dict) else ():
        if name != "buildlib" and difflib.get_close_matches(name, ["buildlib"], cutoff=0.8):
            raise ConfigError(
                f"unknown table [tool.{name}] (did you mean [tool.buildlib]?)",
                location=where.table(f"tool.{name}", prefix=True),
                hint=f"rename [tool.{name}...] to [tool.buildlib...]",
            )
    table = tool.get("buildlib") if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        raise ConfigError(
            "missing [tool.buildlib] table",
            location=filename,
            hint="add [tool.buildlib.images.NAME] tables with repository and dockerfile "
            f"(see {REFERENCE})",
        )
    _check_keys(table, _TOP_KEYS, TOOL, where)

    for name in table.get(ALLOW_KEY, ()):
        if not KEY_RE.fullmatch(name):
            raise ConfigError(
                f"tool.buildlib.{ALLOW_KEY}: {name!r} is not a build argument name",
                location=where.key(TOOL, ALLOW_KEY),
                hint=f'list names of letters, digits and _, e.g. {ALLOW_KEY} = ["SSH_KEY_PATH"]',
            )
    registry = validate_registry(
        table.get("registry", Config.registry),
        location=where.key(TOOL, "registry"),
        key=f"{TOOL}.registry",
    )
    images = _parse_images(table.get("images"), root, where, registry)
    names = tuple(image.name for image in images)
    default_group = tuple(table.get("default-group") or names)
    for name in default_group:
        if name not in names:
            raise ConfigError(
                f"{TOOL}.default-group names unknown image {name!r}{did_you_mean(name, names)}",
                location=where.key(TOOL, "default-group"),
                hint=f"use names from [tool.buildlib.images]: {', '.join(names)}",
            )

    _check_source(table, where)
    plain = {k.replace("-", "_"): table[k] for k in _PLAIN if k in table}
    return Config(
        root=root,
        version=version,
        version_text=version_text,
        images=images,
        default_group=default_group,
        registry=registry,
        default_tag=validate_tag(
            table.get("default-tag", Config.default_tag),
            location=where.key(TOOL, "default-tag"),
            key=f"{TOOL}.default-tag",
        ),
        tag_env=_env_name(table, "tag-env", Config.tag_env, TOOL, where),
        release=_parse_release(table.get("release", {}), where),
        credentials=_parse_credentials(table.get("credentials", {}), where),
        line_ending_globs=tuple(table.get("line-ending-globs", ())),
        allow_build_args=tuple(table.get(ALLOW_KEY, ())),
        main_branch=_main_branch(table, where),
        **plain,
    )


def _check_source(table: Mapping[str, Any], where: Locator) -> None:
    """A configured source replaces the git remote's address in the source label, as the
    address :func:`buildlib.urls.public_url` makes of it: one that names no web address (a
    path, a word) would leave the label out unseen. The value is not shown: it may hold a
    token."""
    source = table.get("source")
    if source and public_url(source) is None:
        raise ConfigError(
            f"{TOOL}.source is no web address of the repository, so images would carry no "
            "org.opencontainers.image.source label",
            location=where.key(TOOL, "source"),
            hint='e.g. source = "https://github.com/org/repo" (or remove the key: the git '
            "remote's address is used)",
        )


def _main_branch(table: Mapping[str, Any], where: Locator) -> str:
    """The branch whose image a push tags with its name (``:main``) from a clone on it only:
    an empty name, or one git refuses for a branch, would turn that guard off unseen."""
    branch = table.get("main-branch", Config.main_branch)
    problem = f"{branch!r} is no branch name git takes (git check-ref-format)"
    if not branch.strip() or _GIT_REF_REFUSED.search(branch):
        raise ConfigError(
            f"{TOOL}.main-branch {problem if branch.strip() else 'is empty'}",
            location=where.key(TOOL, "main-branch"),
            hint='name the branch that pushes its own tag, e.g. main-branch = "main" (or remove '
            "the key for that default)",
        )
    return branch


def parse_toml(text: str, filename: str) -> dict[str, Any]:
    """TOML text as a dict; a BOM or a syntax error is a :class:`ConfigError` at its line
    (tomllib puts the position at the end of its message: buildlib shows it as a location)."""
    if text.startswith("\ufeff"):
        name = Path(filename).name
        raise ConfigError(
            f"{name} starts with a UTF-8 byte order mark (BOM), which TOML does not allow",
            location=f"{filename}:1",
            hint=f"save {name} as UTF-8 without a BOM",
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position = re.search(r"\s*\(at line (\d+), column (\d+)\)", str(exc))
        reason = str(exc).replace(position.group(0), "") if position else str(exc)
        location = f"{filename}:{position[1]}:{position[2]}" if position else filename
        raise ConfigError(
            f"invalid TOML: {reason}", location=location, hint="fix the syntax at that position"
        ) from None


# Build args docker knows without an ARG line: the proxy ones and BuildKit's own
# (docs.docker.com/reference/dockerfile/#predefined-args, #buildkit-built-in-build-args)
PREDEFINED_ARG = re.compile(r"(?i:(?:HTTPS?|FTP|NO|ALL)_PROXY)|BUILDKIT_\w+|SOURCE_DATE_EPOCH")


def declared_args(dockerfile: Path) -> set[str] | None:
    """The names the Dockerfile's ``ARG`` lines declare; None when it cannot be read (the
    build says why) or holds no instruction."""
    try:
        lines = read_dockerfile(dockerfile)
    except OSError:
        return None
    return {n for i in lines if i.keyword == "ARG" for n, _ in i.assignments()} if lines else None


def _parse_images(raw: Any, root: Path, where: Locator, registry: str) -> tuple[ImageSpec, ...]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(
            "no images configured",
            location=where.table("tool.buildlib"),
            hint='add [tool.buildlib.images.NAME] with repository = "org/name" and dockerfile',
        )
    images: list[ImageSpec] = []
    for name, body in raw.items():
        table = f"tool.buildlib.images.{name}"
        if not IMAGE_NAME_RE.fullmatch(name):
            raise ConfigError(
                f"image name {name!r} must be lowercase letters, digits and dashes",
                location=where.table(table),
                hint="rename the table, e.g. [tool.buildlib.images."
                f"{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-') or 'app'}]",
            )
        if not isinstance(body, dict):
            raise ConfigError(
                f"{table} must be a table",
                location=where.key("tool.buildlib.images", name),
                hint=f'write it as a table: [{table}] with repository = "org/name" and dockerfile',
            )
        _check_keys(body, _IMAGE_KEYS, table, where)
        for required in ("repository", "dockerfile"):
            if required not in body:
                raise ConfigError(
                    f"{table} has no {required!r}",
                    location=where.table(table),
                    hint=f"add {required} = ... to [{table}]",
                )
        repository = validate_repository(
            body["repository"], location=where.key(table, "repository"), key=f"{table}.repository"
        )
        # each image is pushed as REPOSITORY:TAG: two of one repository overwrite each other
        for other in images:
            if destination(registry, other.repository) == destination(registry, repository):
                raise ConfigError(
                    f"{table}.repository {repository!r} is also the repository of image "
                    f"{other.name!r}: their tags would overwrite each other",
                    location=where.key(table, "repository"),
                    hint=f"give each image a repository of its own, e.g. {repository}-{name}",
                )
        context = body.get("context", ".")
        if not (root / context).resolve().is_relative_to(root.resolve()):
            raise ConfigError(
                f"{table}.context {context!r} is outside the repository",
                location=where.key(table, "context"),
                hint="point context at a folder inside the repository, relative to "
                'pyproject.toml (e.g. context = "."): docker sends all of it to the engine',
            )
        if not (root / context).is_dir():
            raise ConfigError(
                f"{table}.context {context!r} is not a directory",
                location=where.key(table, "context"),
                hint="point context at a folder relative to pyproject.toml",
            )
        dockerfile = body["dockerfile"]
        if not dockerfile.strip() or (root / dockerfile).is_dir():
            # Dockerfiles in the folder it names, else at the root
            present = _dockerfiles_near(root, f"{dockerfile}/-") or _dockerfiles_near(root, "-")
            raise ConfigError(
                f"{table}.dockerfile "
                + (f"{dockerfile!r} is a folder, not a file" if dockerfile.strip() else "is empty"),
                location=where.key(table, "dockerfile"),
                hint="name the Dockerfile, relative to pyproject.toml, e.g. dockerfile = "
                f'"{(present or ["Dockerfile"])[0]}" (found: {", ".join(present) or "none"})',
            )
        if not (root / dockerfile).is_file():
            present = _dockerfiles_near(root, dockerfile)
            moved = _named_elsewhere(root, Path(dockerfile).name)
            guess = f" (did you mean {moved[0]!r}?)" if moved else did_you_mean(dockerfile, present)
            present = sorted({*present, *moved})
            raise ConfigError(
                f"{table}.dockerfile {dockerfile!r} does not exist{guess}",
                location=where.key(table, "dockerfile"),
                hint=f"create {dockerfile} or fix the path (found: {', '.join(present) or 'none'})",
            )
        build_args = body.get("build-args", {})
        declared = declared_args(root / dockerfile)
        for key, value in build_args.items():
            if not KEY_RE.fullmatch(key):
                raise ConfigError(
                    f"{table}.build-args: {key!r} is not a build argument name (letters, "
                    "digits and _, not starting with a digit)",
                    location=where.build_arg(table, key),
                    hint='e.g. build-args = { BASE_IMAGE = "..." }',
                )
            if not isinstance(value, (str, int, float, bool)):
                raise ConfigError(
                    f"{table}.build-args.{key} must be a string",
                    location=where.build_arg(table, key),
                    hint=f'quote it: {key} = "..."',
                )
        for key in build_args:
            # docker ignores an arg no ARG declares (BuildKit silently): a misspelt name
            # would build with the ARG's default
            if declared is not None and key not in declared and not PREDEFINED_ARG.fullmatch(key):
                raise ConfigError(
                    f"{table}.build-args: {key!r} is no ARG of {dockerfile}"
                    + did_you_mean(key, declared),
                    location=where.build_arg(table, key),
                    hint=f"add `ARG {key}` to {dockerfile}, or remove it from build-args",
                )
        platforms = tuple(body.get("platforms", ()))
        if problem := platforms_problem(platforms):
            raise ConfigError(
                f"{table}.platforms: {problem}",
                location=where.key(table, "platforms"),
                hint='e.g. platforms = ["linux/amd64", "linux/arm64"]',
            )
        # a TOML boolean is passed as TOML spells it: a Dockerfile tests [ "$FLAG" = "true" ],
        # and Python's str() would give it "True"
        args = tuple(
            (str(k), str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in build_args.items()
        )
        normal = tuple(normal_platform(p) for p in platforms)
        title, target = body.get("title", repository), body.get("target")
        if target is not None:
            _check_target(root, dockerfile, target, f"{table}.target", where.key(table, "target"))
        images.append(ImageSpec(name, repository, dockerfile, context, args, normal, title, target))
    return tuple(images)


def _check_target(root: Path, name: str, target: str, key: str, location: str) -> None:
    """``target`` must name a stage (``FROM ... AS NAME``) of the Dockerfile: docker compares
    the names without regard to case (checked with BuildKit and the legacy builder)."""
    try:
        instructions = read_dockerfile(root / name)
    except OSError as error:
        raise ConfigError(
            f"{key} needs the stages of {name}, which cannot be read: {error.strerror or error}",
            location=location,
            hint=f"make {name} a readable file, or remove target",
        ) from None
    stages = [instruction.stage for instruction in instructions if instruction.stage]
    if target.lower() in (stage.lower() for stage in stages):
        return
    if not target.strip():
        problem, fix = "is empty", f"remove target, or name a stage of {name} (`FROM ... AS NAME`)"
    else:
        problem = f"{target!r} is no stage of {name}{did_you_mean(target, stages)}"
        fix = f"{name} names no stage: add `AS {target}` to a FROM line, or remove target"
    raise ConfigError(
        f"{key} {problem}",
        location=location,
        hint=f"name one of its stages: {', '.join(stages)}" if stages else fix,
    )


def platforms_problem(platforms: Iterable[str]) -> str | None:
    """Why the first of ``platforms`` docker cannot build is no platform, else None. Case does
    not matter: docker lowers every part (containerd/platforms platforms.go Parse:
    normalizeOS, normalizeArch; checked with docker 20.10's daemon). Two spellings of one
    platform are refused: buildx keeps both (util/platformutil/parse.go: Dedupe serves only a
    builder's own platforms, builder/node.go) and BuildKit warns "Duplicate platform result
    requested" (exporter/verifier/platforms.go)."""
    seen: dict[str, str] = {}
    for written in platforms:
        platform = written.lower()
        # docker's parser takes an OS version, windows(10.0.17763)/amd64 (containerd/platforms
        # platforms.go Parse, in buildx since v0.16), but buildx through v0.36.1 drops it before
        # the build (build/opt.go: platforms.Format): named, not called malformed
        if versioned := re.fullmatch(r"([a-z0-9]+)\([^)]*\)(/.+)", platform):
            plain = "".join(versioned.groups())
            return f"{written!r} names an OS version: buildlib takes {plain!r}, without one"
        parts = written.split("/")
        if not PLATFORM_RE.fullmatch(platform):
            # named: a character docker 20.10's Parse refuses in a part (PLATFORM_RE)
            for part, what in zip(parts, _PARTS, strict=False):
                if len(parts) in (2, 3) and (char := re.sub("[A-Za-z0-9_-]", "", part)[:1]):
                    return (
                        f"{written!r} has {char!r} in its {what} {part!r}: each part is "
                        "letters, digits, '_' or '-'"
                    )
            return f"{written!r} is not os/arch[/variant]"
        for word, known, what in zip(platform.split("/"), _KNOWN, _PARTS, strict=False):
            if word not in known:
                return f"{written!r} names no known {what} {word!r}{did_you_mean(word, known)}"
        normal = normal_platform(platform)
        if (first := seen.get(normal)) == written:
            return f"{written!r} is listed twice"
        if first is not None:
            return f"{first!r} and {written!r} are one platform, {normal!r}: list it once"
        seen[normal] = written
    return None


_DOCKER_NAMES = {"macos": "darwin", "i386": "386", "aarch64": "arm64"}
_DOCKER_NAMES |= dict.fromkeys(("x86_64", "x86-64"), "amd64")


def normal_platform(platform: str) -> str:
    """``platform`` (one :func:`platforms_problem` takes) by docker's names, as a registry
    lists the image built for it: lowered, ``linux/x86_64`` is ``linux/amd64``,
    ``linux/arm`` is ``linux/arm/v7``, ``linux/arm64/v8`` is ``linux/arm64`` (containerd/platforms
    database.go normalizeOS, normalizeArch at 09756f5; docker 20.10's daemon names them alike,
    checked). ``linux/arm64/9`` is ``linux/arm64/v9`` as containerd says since v1.0.0-rc.0
    (buildx since v0.20): docker 20.10 keeps a 9 as written, but builds the v9 passed as v9,
    so a registry lists it by one name whichever docker builds it (checked)."""
    os_name, arch, variant = (platform.lower().split("/") + [""])[:3]
    if arch in ("armhf", "armel"):
        arch, variant = "arm", "v7" if arch == "armhf" else "v6"
    arch = _DOCKER_NAMES.get(arch, arch)
    if arch == "386" or (arch, variant) in {("amd64", "v1"), ("arm64", "8"), ("arm64", "v8")}:
        variant = ""
    elif arch == "arm" and variant in ("", "5", "6", "7", "8"):
        variant = f"v{variant or 7}"
    elif (arch, variant) == ("arm64", "9"):
        variant = "v9"
    return "/".join(p for p in (_DOCKER_NAMES.get(os_name, os_name), arch, variant) if p)


def _dockerfiles_near(root: Path, dockerfile: str) -> list[str]:
    """The Dockerfiles (``Dockerfile*``, ``*.Dockerfile``, any case) in the folder a missing
    ``dockerfile`` names, else at the root: as paths from the root, as the key takes them."""
    folder = (root / dockerfile).parent.resolve()
    if not folder.is_dir() or not folder.is_relative_to(root.resolve()):
        folder = root.resolve()
    return sorted(
        path.relative_to(root.resolve()).as_posix()
        for path in folder.iterdir()
        # a <Dockerfile>.dockerignore is the build's ignore file, not a Dockerfile
        if "dockerfile" in path.name.lower()
        and not path.name.lower().endswith(".dockerignore")
        and path.is_file()
    )


# Where a Dockerfile that is not where the config says is looked for: bounded, as this runs
# on every such error, and a dependency's Dockerfile is no suggestion.
_SEARCH_DEPTH = 3
_NOT_SEARCHED = {"node_modules", "__pycache__", "site-packages"}


def _named_elsewhere(root: Path, name: str) -> list[str]:
    """The files called ``name`` (any case) up to ``_SEARCH_DEPTH`` deep, but for hidden,
    dependency and git-ignored folders: as paths from the root, as ``dockerfile`` takes them."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        deep = len(Path(folder).relative_to(root).parts) >= _SEARCH_DEPTH
        dirs[:] = [] if deep else [d for d in dirs if d[0] != "." and d not in _NOT_SEARCHED]
        found += [
            Path(folder, f).relative_to(root).as_posix() for f in files if f.lower() == name.lower()
        ]
    if found and shutil.which("git"):
        # a file in an ignored folder (build output, a vendored tree) is ignored with it
        argv = ["git", "-c", "core.quotePath=false", "check-ignore", "--no-index", "--", *found]
        ignored = ask(argv, cwd=root).stdout.splitlines()
        found = [path for path in found if path not in ignored]
    return sorted(found)


# What git refuses in a tag's name (git-check-ref-format(1): a control character, space,
# ~ ^ : ? * [ \, "..", "@{", "//", a part that starts with "." or ends with ".lock", an end
# in "/" or "."), and a leading "-" (git tag: "not a valid tag name")
_GIT_REF_REFUSED = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[-/.]|/\.|[/.]$|\.lock(/|$)")


def _parse_release(raw: Any, where: Locator) -> ReleaseConfig:
    table = f"{TOOL}.release"
    _check_keys(raw, _RELEASE_KEYS, table, where)
    git_tag = raw.get("git-tag", ReleaseConfig.git_tag)
    made = git_tag.replace("{version}", "1.2.3")
    try:
        formats = git_tag.format(version="1.2.3") == made
    # {x}, {0}, {:d}; str.format also looks up {version.x} and {version[x]} on the string
    except (KeyError, IndexError, ValueError, AttributeError, TypeError):
        formats = False
    count = git_tag.count("{version}")  # versions.version_in_tag reads a tag back by one
    problems = (
        (not count, " has no {version} placeholder"),
        (not formats, ": only {version} may stand in braces"),
        (count > 1, ": {version} may stand in it only once"),
        (
            _GIT_REF_REFUSED.search(made),
            f" makes tags such as {made!r}, which git refuses as a tag name (git check-ref-format)",
        ),
    )
    if problem := next((text for found, text in problems if found), None):
        raise ConfigError(
            f"{table}.git-tag {git_tag!r}{problem}",
            location=where.key(table, "git-tag"),
            hint='e.g. git-tag = "v{version}" (release-please\'s default)',
        )
    floating = tuple(raw.get("floating-tags", ReleaseConfig.floating_tags))
    key = f"{table}.floating-tags"
    validate_patterns(floating, location=where.key(table, "floating-tags"), key=key)
    return ReleaseConfig(git_tag, floating)


def _parse_credentials(raw: Any, where: Locator) -> CredentialsConfig:
    table = f"{TOOL}.credentials"
    _check_keys(raw, _CREDENTIAL_KEYS, table, where)
    username_env = _env_name(raw, "username-env", CredentialsConfig.username_env, table, where)
    token_env = _env_name(raw, "token-env", CredentialsConfig.token_env, table, where)
    if token_env == username_env:
        raise ConfigError(
            f"{table}.token-env {token_env!r} is also username-env: the token would be sent as "
            "the user name",
            location=where.key(table, "token-env" if "token-env" in raw else "username-env"),
            hint=f'name two variables, e.g. username-env = "{CredentialsConfig.username_env}" '
            f'and token-env = "{CredentialsConfig.token_env}"',
        )
    return CredentialsConfig(username_env=username_env, token_env=token_env)


def _env_name(table: Mapping[str, Any], key: str, default: str, name: str, where: Locator) -> str:
    """A key that names an environment variable: a name a shell can export, as KEY_RE says."""
    value = table.get(key, default)
    if not KEY_RE.fullmatch(value):
        problem = "is empty" if not value.strip() else "is not an environment variable name"
        raise ConfigError(
            f"{name}.{key} {value!r} {problem}",
            location=where.key(name, key),
            hint=f'name the variable, e.g. {key} = "{default}" (or remove the key for that '
            "default)",
        )
    return value


def _check_keys(
    table: Mapping[str, Any], schema: Mapping[str, type], name: str, where: Locator
) -> None:
    """Each key of ``table`` is one of ``schema``'s, of its type (a list: of strings)."""
    for key, value in table.items():
        if key not in schema:
            raise ConfigError(
                f"unknown key {name}.{key}{did_you_mean(key, schema)}",
                location=where.key(name, key),
                hint=f"valid keys: {', '.join(schema)}",
            )
        expected = schema[key]
        if not isinstance(value, expected):
            actual = _TOML_TYPES.get(type(value), type(value).__name__)
            example = json.dumps([value]) if isinstance(value, str) else '["..."]'
            raise ConfigError(
                f"{name}.{key} must be a {_TOML_TYPES[expected]}, not {actual}",
                location=where.key(name, key),
                hint=_TYPE_HINTS[expected].format(table=name, key=key, example=example),
            )
        if expected is list and not all(isinstance(item, str) for item in table[key]):
            raise ConfigError(
                f"{name}.{key} must be a list of strings",
                location=where.key(name, key),
                hint=f'e.g. {key} = ["a", "b"]',
            )


def did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# A key as TOML writes it before "=": bare, "basic" or 'literal' names joined by dots
_KEY_NAME = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_KEY_PATH = re.compile(rf"\s*({_KEY_NAME}(?:\s*\.\s*{_KEY_NAME})*)\s*=")


class Locator:
    """The line of a table header or a key in the raw TOML text: buildlib's one TOML locator."""

    def __init__(self, text: str, filename: str):
        self.lines = text.splitlines()
        self.filename = filename

    def _at(self, line: int | None, fallback: str) -> str:
        return f"{self.filename}:{line}" if line else f"{self.filename} {fallback}"

    def table(self, table: str, *, prefix: bool = False) -> str:
        line = self._table_line(table, prefix=prefix) or self._inline_line(table)
        return self._at(line, f"[{table}]")

    def key(self, table: str, key: str) -> str:
        return self._at(self.key_line(table, key), f"[{table}].{key}")

    def key_line(self, table: str, key: str) -> int | None:
        """The line of ``key = ...`` in ``[table]`` (or a dotted ``a.key = ...`` under a
        parent table), else of the table's header; ``None`` without either."""
        start = self._table_line(table)
        if start:
            for number in range(start, len(self.lines)):
                stripped = self.lines[number].strip()
                if stripped.startswith("["):
                    break
                if re.match(rf"^[\"']?{re.escape(key)}[\"']?\s*=", stripped):
                    return number + 1
        # dotted form, e.g. `images.gpu.repository = ...` under a parent table: its last
        # two names are the table's last one and the key, whole (not gpu2's line for gpu)
        dotted = [table.split(".")[-1], key]
        for number, raw in enumerate(self.lines, start=1):
            if _key_names(raw)[-2:] == dotted:
                return number
        # a sub-table whose header holds the key: `[tool.buildlib.imagse.api]`
        line = self._inline_line(table, key) or self._table_line(f"{table}.{key}", prefix=True)
        return line or start or self._inline_line(table)

    def _inline_line(self, table: str, key: str = "") -> int | None:
        """The line of ``name = { ... }``, ``table`` written inline (on one line, as TOML 1.0
        writes an inline table); with ``key``, the one that holds ``key = ...`` in its braces."""
        inline = rf"(?<![\w-])[\"']?{re.escape(table.split('.')[-1])}[\"']?\s*=\s*\{{"
        inline += rf".*[{{,]\s*[\"']?{re.escape(key)}[\"']?\s*=" if key else ""
        return next((n for n, raw in enumerate(self.lines, 1) if re.search(inline, raw)), None)

    def build_arg(self, table: str, key: str) -> str:
        return self._at(self.build_arg_line(table, key), f"[{table}].build-args")

    def build_arg_line(self, table: str, key: str) -> int | None:
        """The line of one build arg: in a ``[TABLE.build-args]`` table, else the line of
        ``build-args = {...}`` (an inline table is one line)."""
        if self._table_line(f"{table}.build-args"):
            return self.key_line(f"{table}.build-args", key)
        return self.key_line(table, "build-args")

    def _table_line(self, table: str, *, prefix: bool = False) -> int | None:
        """The header line of ``[table]``; with ``prefix``, of the first ``[table.*]`` too."""
        for number, raw in enumerate(self.lines, start=1):
            name = _header_name(raw)
            if name == table or prefix and name is not None and name.startswith(f"{table}."):
                return number
        return None


def _header_name(line: str) -> str | None:
    """The dotted name of a table header line, as TOML reads it: ``[a."b c"]`` is ``a.b c``
    (a quoted part may hold a space or a dot), else None."""
    if not line.lstrip().startswith("["):
        return None
    names = _names(line.strip())
    return None if names is None else ".".join(names)


def _key_names(line: str) -> list[str]:
    """The names of a ``key = value`` line's key, as TOML reads them: ``a."b.c" = 1`` has
    ``a`` and ``b.c``; none for another line (the value may go on over more lines)."""
    found = _KEY_PATH.match(line)
    return (_names(f"{found[1]} = 0") or []) if found else []


def _names(text: str) -> list[str] | None:
    """The names down to the one value or table that ``text`` (one TOML line) defines."""
    try:
        tree: Any = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    names = []
    while isinstance(tree, dict) and len(tree) == 1:
        ((name, tree),) = tree.items()
        names.append(name)
        tree = tree[-1] if isinstance(tree, list) else tree  # an [[array of tables]]
    return names
