"""Image references, one grammar for all of buildlib: registry hosts, repositories, tags
and digests, as github.com/distribution/reference (the grammar atop its reference.go),
which docker itself uses, defines them; the regular expressions below spell that grammar.

Two checks go beyond the grammar, since a registry that breaks them cannot be reached: a
port is 1 to 65535, and a bracketed IPv6 address must parse as one. A repository is at most
255 characters. The first component of a name is its registry only if it holds a ``.`` or
``:`` or is ``localhost`` (``acme/app`` is on Docker Hub).

It only reads text: it must never resolve a host or talk to a registry.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

from buildlib.errors import ConfigError

TAG_MAX_LENGTH = 128
REPOSITORY_MAX_LENGTH = 255
PORT_MAX = 65535

_TAG_CHARS = "A-Za-z0-9_.-"
DOCKER_TAG_RE = re.compile(rf"[A-Za-z0-9_][{_TAG_CHARS}]{{0,{TAG_MAX_LENGTH - 1}}}")

_PATH_CHARS = "a-z0-9._-"
_SEPARATOR = r"[._]|__|[-]+"
_PATH_COMPONENT = rf"[a-z0-9]+(?:(?:{_SEPARATOR})[a-z0-9]+)*"
REPOSITORY_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_SEPARATOR_RUN_RE = re.compile(r"[._-]+")

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY_RE = re.compile(
    rf"(?P<host>{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[(?P<ipv6>[a-fA-F0-9:]+)\])"
    r"(?::(?P<port>[0-9]+))?"
)
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # RFC 3986's; else '://' is a token's
DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")


def registry_problem(host: str) -> str | None:
    """Why ``host`` is not a registry ``host[:port]``, or ``None`` when it is one."""
    if (match := _REGISTRY_RE.fullmatch(host)) is None:
        return "not a registry host[:port] (no scheme, no path)"
    if match.group("ipv6") is not None:
        try:
            ipaddress.IPv6Address(match.group("ipv6"))
        except ValueError:
            return f"[{match.group('ipv6')}] is not an IPv6 address"
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= PORT_MAX:
        return f"port {port} is not between 1 and {PORT_MAX}"
    # docker takes a name's first part for its registry only with a '.' or ':', as localhost
    # or in capitals (distribution/reference normalize.go, splitDockerDomain): 5000/acme/app
    # is docker.io/5000/acme/app
    if not re.search("[.:A-Z]", host) and host != "localhost":
        return "docker reads it as a namespace on Docker Hub (a registry has a '.' or ':port')"
    return None


def shown_registry(value: str) -> str:
    """``value`` as a refusal may show it: a password is ``***``, in ``user:token@host``
    (whatever the token holds) and in ``user:token`` without the host, where all after the
    first ':' but a port and a repository path is hidden (a token may hold '/')."""
    scheme = match.group() if (match := _SCHEME_RE.match(value)) else ""
    rest = value[len(scheme) :]
    if "@" in rest:
        return f"{scheme}***@{rest.rpartition('@')[2]}"
    start = rest.find("]") + 1 if rest.startswith("[") else 0  # an IPv6 address's ':'
    host, colon, after = rest[start:].partition(":")
    if colon and not re.fullmatch(r"[0-9]+(?:/[a-z0-9._/-]*)?", after):
        after = "***"
    return f"{scheme}{rest[:start]}{host}{colon}{after}"


def is_registry(host: str) -> bool:
    return registry_problem(host) is None


DOCKER_HUB = "docker.io"
# Docker Hub answers to all three names: the configured one, its login key's host, its API.
_DOCKER_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io"})


def is_docker_hub(registry_host: str) -> bool:
    return registry_host.lower() in _DOCKER_HUB_ALIASES


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and 127.0.0.0/8 or ::1, with or without a port."""
    hostname = urllib.parse.urlsplit(f"//{host}").hostname or ""
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def validate_registry(host: str, *, location: str | None = None, key: str = "registry") -> str:
    """``host`` if it is a registry ``host[:port]``, else ``ConfigError`` naming the setting."""
    require_str(host, "registry", location)
    if (problem := registry_problem(host)) is None:
        return host
    shown = shown_registry(host)
    raise ConfigError(f"{key} {shown!r}: {problem}", hint=REGISTRY_FIX, location=location)


REGISTRY_HINT = (
    "a registry is a host name or address with an optional port, e.g. docker.io, ghcr.io, "
    "127.0.0.1:5000 or [::1]:5000"
)
# the fix for a bad registry wherever it is given: ghcr.io/org's org goes in the repository
REGISTRY_FIX = (
    f"{REGISTRY_HINT}; the repository part comes from [tool.buildlib.images.*].repository"
)


def validate_tag(tag: str, *, location: str | None = None, key: str | None = None) -> str:
    """``tag`` if Docker accepts it as a tag, else ``ConfigError`` (naming the setting ``key``)."""
    require_str(tag, "Docker tag", location)
    if DOCKER_TAG_RE.fullmatch(tag):
        return tag
    problems = _bad_chars(tag, _TAG_CHARS) if tag else ["it is empty"]
    if tag.startswith((".", "-")):
        problems.append(f"it starts with {tag[0]!r}")
    if len(tag) > TAG_MAX_LENGTH:
        problems.append(f"it is {len(tag)} characters long (at most {TAG_MAX_LENGTH})")
    raise ConfigError(
        f"{f'{key}: ' if key else ''}invalid Docker tag {tag!r}: {'; '.join(problems)}",
        hint=_tag_hint(tag),
        location=location,
    )


def _tag_hint(tag: str) -> str:
    rule = (
        f"a tag is 1 to {TAG_MAX_LENGTH} letters, digits, '_', '.' or '-', "
        "and does not start with '.' or '-'"
    )
    suggestion = re.sub(f"[^{_TAG_CHARS}]", "-", tag).lstrip(".-")[:TAG_MAX_LENGTH]
    if suggestion and suggestion != tag and DOCKER_TAG_RE.fullmatch(suggestion):
        return f"use {suggestion!r}; {rule}"
    return rule


def validate_repository(name: str, *, location: str | None = None, key: str = "repository") -> str:
    """``name`` if it is a Docker repository ``[registry-host[:port]/]path/to/repo`` (no tag
    or digest), else ``ConfigError`` naming the setting ``key``."""
    require_str(name, "repository", location)
    if _is_valid_repository(name):
        return name
    raise ConfigError(
        f"{key} {name!r}: {'; '.join(_repository_problems(name))}",
        hint=_repository_hint(name),
        location=location,
    )


def split_registry(name: str) -> tuple[str | None, str]:
    """``name``'s registry host (or ``None``) and path, as Docker reads it: ``localhost:5000/app``
    -> (``localhost:5000``, ``app``); ``acme/app`` -> (None, ``acme/app``)."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return None, name


def destination(registry: str, repository: str) -> str:
    """Where ``repository`` is pushed with ``registry`` configured, as one comparable name:
    ``org/api``, ``docker.io/org/api`` and ``index.docker.io/org/api`` are one place on Docker
    Hub (and ``api`` is ``library/api`` there); another registry prefixes the whole name."""
    if not is_docker_hub(registry):
        return f"{registry.lower()}/{repository}"
    host, path = split_registry(repository)
    if host is not None and not is_docker_hub(host):
        return f"{host.lower()}/{path}"
    return f"{DOCKER_HUB}/{path if '/' in path else 'library/' + path}"


def _is_valid_repository(name: str) -> bool:
    if len(name) > REPOSITORY_MAX_LENGTH:
        return False
    registry, path = split_registry(name)
    if registry is not None and not is_registry(registry):
        return False
    return REPOSITORY_PATH_RE.fullmatch(path) is not None


def _repository_problems(name: str) -> list[str]:
    """Explain, in the user's terms, each way ``name`` breaks the grammar: at least one
    for every name ``_is_valid_repository`` refuses."""
    if not name:
        return ["it is empty"]
    problems = []
    if len(name) > REPOSITORY_MAX_LENGTH:
        problems.append(f"it is {len(name)} characters long (at most {REPOSITORY_MAX_LENGTH})")
    registry, path, tag, digest = _parts(name)
    if digest is not None:
        problems.append(f"it contains a digest ('@{digest}'); give the name only")
    if registry is not None and not is_registry(registry):
        problems.append(f"registry host {registry!r} is invalid")
    if tag is not None:
        problems.append(f"it contains a tag (':{tag}'); set the tag separately")
    problems.extend(_path_problems(path))
    return problems


def _parts(name: str) -> tuple[str | None, str, str | None, str | None]:
    """``name``'s registry, path, tag and digest, wherever the user put them."""
    rest, at, digest = name.partition("@")
    registry, path = split_registry(rest)
    head, slash, last = path.rpartition("/")
    last, colon, tag = last.partition(":")
    return registry, f"{head}{slash}{last}", tag if colon else None, digest if at else None


def _path_problems(path: str) -> list[str]:
    components = path.split("/")
    problems = []
    if any(not part for part in components):
        problems.append("it has an empty path component (a leading, trailing or double '/')")
    if any(char.isupper() for char in path):
        problems.append("it must be lowercase")
    problems += _bad_chars(path.replace("/", ""), f"A-Z{_PATH_CHARS}")
    for part in components:
        # Separators are only worth explaining once the characters themselves are valid.
        if part and not _bad_chars(part, f"A-Z{_PATH_CHARS}"):
            problems.extend(_separator_problems(part.lower()))
    return problems


def _separator_problems(component: str) -> list[str]:
    ends = (("starts", component[0]), ("ends", component[-1]))
    problems = [f"path component {component!r} {w} with {c!r}" for w, c in ends if c in "._-"]
    for run in _SEPARATOR_RUN_RE.finditer(component):
        inner = 0 < run.start() and run.end() < len(component)
        if inner and not re.fullmatch(_SEPARATOR, run.group()):
            problems.append(
                f"path component {component!r} has the separator {run.group()!r} "
                "(use one '.', one or two '_', or one or more '-')"
            )
    return problems


def _repository_hint(name: str) -> str:
    if suggestion := _suggest_repository(name):
        return f"use {suggestion!r}"
    registry, _ = split_registry(name)
    if registry is not None and not is_registry(registry):
        return (
            "a registry host is a domain name or [IPv6] address with an optional ':port', "
            "e.g. 'ghcr.io' or 'localhost:5000'"
        )
    return (
        "a repository is lowercase letters and digits, in components separated by '/', "
        "with '.', '_', '__' or '-' between words, e.g. 'acme/worker-gpu'"
    )


def _suggest_repository(name: str) -> str | None:
    registry, path, _, _ = _parts(name)
    components = [fixed for part in path.split("/") if (fixed := _fix_component(part))]
    if not components:
        return None
    candidate = "/".join([registry, *components] if registry else components)
    return candidate if candidate != name and _is_valid_repository(candidate) else None


def _fix_component(component: str) -> str:
    fixed = re.sub(f"[^{_PATH_CHARS}]", "-", component.lower())
    fixed = _SEPARATOR_RUN_RE.sub(
        lambda run: run.group() if re.fullmatch(_SEPARATOR, run.group()) else run.group()[0], fixed
    )
    return fixed.strip("._-")


def require_str(value: object, what: str, location: str | None) -> None:
    # Values come straight from TOML, where an unquoted 1.2 is a float.
    if not isinstance(value, str):
        raise ConfigError(
            f"{what} must be a string, got {type(value).__name__} {value!r}",
            hint=f'quote it: "{value}"',
            location=location,
        )


def _bad_chars(text: str, allowed: str) -> list[str]:
    """The characters of ``text`` outside the set ``allowed``, as a problem (or none)."""
    bad = list(dict.fromkeys(re.sub(f"[{allowed}]", "", text)))
    what = "character {} is" if len(bad) == 1 else "characters {} are"
    return [f"{what.format(', '.join(map(repr, bad)))} not allowed"] if bad else []
