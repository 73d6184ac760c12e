"""Options of one invocation, resolved once: defaults < pyproject < environment < flags.

Tasks pass their flags here untouched (``None``: not given). This is the one module of
buildlib that reads the process environment (but for the runner, which hands it to child
processes, and the console, which decides colours): a unit test keeps any other module
from reading it. It must never print a value it reads: a variable may hold a secret.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from buildlib import cache, console
from buildlib.buildargs import KEY_RE, allow_hint, secret_word
from buildlib.config import Config, normal_platform, platforms_problem
from buildlib.errors import ConfigError, UsageError
from buildlib.flags import ImageFlags
from buildlib.references import REGISTRY_FIX, registry_problem, shown_registry, validate_tag

REGISTRY_ENV = "BUILDLIB_REGISTRY"
BUILDER_ENV = "BUILDLIB_BUILDER"
DOCKER_ENV = "BUILDLIB_DOCKER"
NO_CACHE_ENV = "BUILDLIB_NO_CACHE"


@dataclass(frozen=True)
class SecretSpec:
    """A BuildKit secret: ``id=NAME,env=VAR`` or ``id=NAME,src=PATH``. Holds no value."""

    id: str
    env: str | None = None
    src: str | None = None

    def flag(self) -> str:
        """Quoted as docker/buildx util/buildflags/export.go (csvBuilder.Write) quotes a field."""
        pairs = (f"id={self.id}", f"env={self.env}" if self.env else f"src={self.src}")
        return ",".join(
            '"' + p.replace('"', '""') + '"' if {",", '"'} & set(p) else p for p in pairs
        )


@dataclass(frozen=True)
class BuildOptions:
    tag: str
    platforms: tuple[str, ...] = ()
    no_cache: bool = False
    build_args: tuple[tuple[str, str], ...] = ()
    secrets: tuple[SecretSpec, ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    builder: str | None = None
    jobs: int | None = None
    dry_run: bool = False
    registry: str | None = None
    builder_from_env: bool = False  # BUILDLIB_BUILDER, not --builder: what advice names


def resolve_tag(config: Config, flag: str | None, environ: Mapping[str, str]) -> str:
    value, label = (flag, "--tag") if flag else (environ.get(config.tag_env), f"${config.tag_env}")
    return validate_tag(value, location=label) if value else config.default_tag


def registry_override(flag: str | None, environ: Mapping[str, str]) -> str | None:
    """``--registry`` or ``$BUILDLIB_REGISTRY``, checked to be a host[:port]."""
    value, label = (
        (flag, "--registry ") if flag else (environ.get(REGISTRY_ENV), f"{REGISTRY_ENV}=")
    )
    if value and (problem := registry_problem(value)) is not None:
        raise UsageError(f"{label}{shown_registry(value)}: {problem}", hint=REGISTRY_FIX)
    return value or None


def parse_build_args(
    values: Iterable[str], environ: Mapping[str, str] = os.environ, allowed: Iterable[str] = ()
) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` pairs; ``KEY`` alone takes ``$KEY`` (and is left out when it is unset,
    as docker does). ``allowed``: names not to take for secrets (``allow-build-args``).
    Errors name the key at most, never a value."""
    pairs = []
    for number, value in enumerate(values, start=1):
        key, sep, rest = value.partition("=")
        if not KEY_RE.fullmatch(key):
            raise UsageError(
                f"--build-arg number {number} is not KEY=VALUE with a KEY of letters, digits "
                "and _ (the value is not shown)",
                hint="e.g. --build-arg BASE_IMAGE=...",
            )
        word = secret_word(key, allowed)
        if word is not None:
            raise UsageError(
                f"--build-arg {key} looks like a secret (the word {word}): build args are "
                "stored in the image history",
                hint=f"pass it as a BuildKit secret: --secret id={key.lower()},env={key}; "
                + allow_hint(key),
            )
        if not sep:  # docker's KEY-only form: take it from the environment
            if key not in environ:
                continue
            rest = environ[key]
        pairs.append((key, rest))
    return tuple(pairs)


_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
# A --secret field as buildx reads it (util/buildflags/secrets.go, Secret.UnmarshalText, with
# github.com/tonistiigi/go-csvvalue: Go's encoding/csv, LazyQuotes off): quoted whole ("" for a
# quote, commas kept) or holding no quote.
_CSV_FIELD = r'"(?:[^"]|"")*"|[^,"\r\n]*'
_CSV_VALUE = re.compile(rf"(?:{_CSV_FIELD})(?:,(?:{_CSV_FIELD}))*")


def _shown_env(name: str) -> str:
    """An environment variable's name, unless it may be a value typed by mistake
    (``env=$TOKEN`` expands to the token)."""
    return f"${name}" if _ENV_NAME.fullmatch(name) else "the variable it names"


def _shown_id(ident: str, number: int) -> str:
    """A secret's id, unless it may be a value typed by mistake."""
    return ident if _ENV_NAME.fullmatch(ident.upper()) else f"number {number}"


def parse_secrets(values: Iterable[str], environ: Mapping[str, str]) -> tuple[SecretSpec, ...]:
    """``--secret id=NAME,env=VAR`` / ``id=NAME,src=FILE`` / ``id=NAME``, and buildx's other
    forms (``source=``, ``type=env|file``). Errors never repeat what was typed beyond the id:
    a shell slip can put the secret itself there."""
    specs = []
    for number, value in enumerate(values, start=1):
        if not value:  # skipped, as buildx's secrets.go (ParseSecretSpecs) skips it
            continue
        # As docker/buildx util/buildflags/secrets.go (Secret.UnmarshalText) reads it: keys in
        # any case, source= for src=, type only env or file. One line is one row; [] is refused.
        parts = next(csv.reader([value])) if _CSV_VALUE.fullmatch(value) else []
        pairs = [part.partition("=") for part in parts]
        fields = {{"source": "src"}.get(k.lower(), k.lower()): v for k, _, v in pairs}
        kind = fields.pop("type", None)
        if (
            not fields.get("id")
            or set(fields) - {"id", "env", "src"}
            or kind not in (None, "env", "file")
            or not all(sep for _, sep, _ in pairs)
        ):
            raise UsageError(
                f"--secret number {number} is not id=NAME,env=VAR or id=NAME,src=FILE "
                "(what was given is not shown)",
                hint="e.g. --secret id=hf_token,env=HF_TOKEN",
            )
        ident = _shown_id(fields["id"], number)
        # type=env names the variable with src= or else the id; type=file the file with the
        # id, as buildx's docs/reference/buildx_build.md (--secret: "`id` if unset") say. Its
        # code differs: secrets.go moves only src= to env=, and store.go NewStore (below) then
        # reads $id if set, else the file id, whatever the type. The docs are kept: the type is
        # what the user asked for, and an unset $id is refused below with the export to run
        # where buildx would read a file of that name or fail with "failed to stat".
        # Made explicit, so docker is told which one and the value is redacted.
        if kind == "env" and not fields.get("env"):
            fields["env"] = fields.pop("src", "") or fields["id"]
        elif kind == "file" and not (fields.get("env") or fields.get("src")):
            fields["src"] = fields["id"]
        if not (fields.get("env") or fields.get("src")):
            # the variable named like the id if it is set, else the file, as buildx (docker/buildx
            # vendor/github.com/moby/buildkit/session/secrets/secretsprovider/store.go, BuildKit's
            # NewStore); made explicit as above.
            if fields["id"] in environ:
                fields["env"] = fields["id"]
            elif os.path.isfile(fields["id"]):
                fields["src"] = fields["id"]
            else:
                raise UsageError(
                    f"--secret {ident} has no env= or src=, and neither a variable nor a file "
                    "is named like its id",
                    hint=f"add env=VAR or src=FILE, e.g. --secret id={fields['id']},env=VAR"
                    if ident == fields["id"]
                    else "add env=VAR or src=FILE to it",
                )
        # Refused, where buildx's store.go (fileStore.GetSecret: os.Getenv) sends an empty value.
        if fields.get("env") and fields["env"] not in environ:
            shown = _shown_env(fields["env"])
            raise UsageError(
                f"--secret {ident} reads {shown}, which is not set",
                hint=(
                    f"export {fields['env']}=... before building"
                    if shown.startswith("$")
                    else "write env=NAME (the variable's name), not env=$NAME"
                ),
            )
        if fields.get("src") and not os.path.isfile(fields["src"]):
            src = fields["src"]
            shown = repr(src) if ("/" in src or "." in src) else "the file it names"
            raise UsageError(f"--secret {ident}: {shown} does not exist")
        specs.append(SecretSpec(fields["id"], fields.get("env") or None, fields.get("src") or None))
    return tuple(specs)


# A secret file is read whole to redact each of its lines; a larger one is not a key or a
# token file, and reading it could take the memory of an image layer.
SECRET_FILE_MAX = 64 * 1024


def secret_values(specs: Iterable[SecretSpec], environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(label, value) of the values behind ``--secret`` (variables, small files), for the
    runner to redact (a build step may print one); the label names the flag, never the value."""
    values = []
    for number, spec in enumerate(specs, start=1):
        label = f"--secret {_shown_id(spec.id, number)}"
        if spec.env and environ.get(spec.env):
            values.append((label, environ[spec.env]))
        if spec.src:
            try:
                if os.path.getsize(spec.src) > SECRET_FILE_MAX:
                    console.warn(
                        f"{label}: its file is larger than {SECRET_FILE_MAX // 1024} KiB, too "
                        "large to read for redaction: a build step that prints it shows it"
                    )
                    continue
                with open(spec.src, encoding="utf-8", errors="replace") as handle:
                    values.append((label, handle.read().strip()))
            except OSError:
                pass
    return [(label, value) for label, value in values if value]


def parse_platforms(value: str | None) -> tuple[str, ...]:
    platforms = tuple(p.strip() for p in (value or "").split(",") if p.strip())
    if problem := platforms_problem(platforms):
        raise UsageError(
            f"--platform {problem}",
            hint="e.g. --platform linux/amd64 or --platform linux/amd64,linux/arm64",
        )
    return tuple(normal_platform(p) for p in platforms)


def parse_jobs(jobs: int | str | None, sequential: bool) -> int | None:
    """``--sequential`` is ``--jobs 1``: with another count the two contradict."""
    if jobs is None or jobs == "":
        return 1 if sequential else None
    try:
        count = int(jobs)
    except ValueError:
        raise ConfigError(f"--jobs {jobs!r} is not a number", hint="e.g. --jobs 2") from None
    if count < 1:
        raise ConfigError("--jobs must be at least 1", hint="--jobs 1 (or --sequential)")
    if sequential and count != 1:
        raise UsageError(
            f"--sequential and --jobs {count} both say how many images to build at once",
            hint=f"pass one of them: --jobs {count} or --sequential",
        )
    return count


def options_for(
    config: Config,
    flags: ImageFlags,
    *,
    tag: str | None = None,
    registry: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> BuildOptions:
    """The options of a task that builds: its flags over the environment and pyproject.
    ``tag`` and ``registry`` are the task's own (release has no ``--tag``)."""
    return BuildOptions(
        tag=resolve_tag(config, tag, environ),
        platforms=parse_platforms(flags.platform),
        no_cache=flags.no_cache,
        build_args=parse_build_args(flags.build_arg, environ, config.allow_build_args),
        secrets=parse_secrets(flags.secret, environ),
        cache_from=cache.given(flags.cache_from, "--cache-from"),
        cache_to=cache.given(flags.cache_to, "--cache-to"),
        builder=flags.builder or environ.get(BUILDER_ENV) or None,
        builder_from_env=not flags.builder and bool(environ.get(BUILDER_ENV)),
        jobs=parse_jobs(flags.jobs, flags.sequential),
        dry_run=flags.dry_run,
        registry=registry_override(registry, environ) or config.registry,
    )


# --- the process environment ------------------------------------------------------------


def environment() -> Mapping[str, str]:
    """The process environment, for the variables the options name only at run time
    (credentials, ``--secret env=VAR``): other modules take it as a parameter, never from os."""
    return os.environ


def docker_client(environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """The docker client to run, and where it came from: ``$BUILDLIB_DOCKER``, else PATH."""
    chosen = environ.get(DOCKER_ENV)
    if chosen:  # empty is unset, as for the other variables
        return chosen, f"{DOCKER_ENV}={chosen}"
    return "docker", "PATH"


@dataclass(frozen=True)
class DockerSelection:
    """What picks the engine, the plugins and the builder the docker client uses, as docker
    reads them: buildlib keys its caches on them and names them in its errors."""

    host: str | None
    context: str | None
    config: str | None
    buildx_builder: str | None

    def config_dir(self) -> str:
        """The user's docker config directory: ``$DOCKER_CONFIG``, else ``~/.docker``."""
        return self.config or os.path.join(os.path.expanduser("~"), ".docker")


def docker_selection(environ: Mapping[str, str] = os.environ) -> DockerSelection:
    names = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "BUILDX_BUILDER")
    return DockerSelection(*(environ.get(name) or None for name in names))


def ci_branch(environ: Mapping[str, str] = os.environ) -> str | None:
    """The branch GitHub Actions checked out (its checkouts are detached), or ``None``
    outside Actions and for a tag's run: GITHUB_REF_NAME is the whole name, ``release/1.x``,
    and a pull request's ``<number>/merge`` (docs.github.com, "Variables reference")."""
    if environ.get("GITHUB_ACTIONS") == "true" and environ.get("GITHUB_REF_NAME"):
        if environ.get("GITHUB_REF_TYPE", "branch") == "branch":
            return environ["GITHUB_REF_NAME"]
    return None


def github_files(environ: Mapping[str, str] = os.environ) -> tuple[str | None, str | None]:
    """The files of a step's outputs and summary under GitHub Actions, else ``None``."""
    return environ.get("GITHUB_OUTPUT") or None, environ.get("GITHUB_STEP_SUMMARY") or None


def verdict_cache(environ: Mapping[str, str] = os.environ) -> str | None:
    """The directory of remembered check verdicts: ``$XDG_CACHE_HOME/buildlib`` (else
    ``~/.cache/buildlib``); ``None`` when ``$BUILDLIB_NO_CACHE`` turns them off."""
    if environ.get(NO_CACHE_ENV):
        return None
    base = environ.get("XDG_CACHE_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".cache"
    )
    return os.path.join(base, "buildlib")
