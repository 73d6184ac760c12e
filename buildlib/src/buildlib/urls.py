"""A git remote's address as an image label or a log may show it. Its own module: the
configuration checks a ``source`` with it, and :mod:`buildlib.git` reads the options, which
read the configuration."""

from __future__ import annotations

import contextlib
import re
import urllib.parse

# scp-like syntax: ``[user@]host:path`` (no scheme; a colon before the first slash)
_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?!//)(?P<path>.+)$")


def public_url(url: str) -> str | None:
    """A remote URL fit for an image label or a log: no userinfo (a CI token often rides in
    it: ``https://gitlab-ci-token:TOKEN@host/...``), no query or fragment, and ssh remotes
    (``git@host:org/repo``, ``ssh://git@host/org/repo``) as the https address of the same
    repository. ``None`` for a local path: it names nothing a user of the image can open."""
    url = url.strip()
    scp = _SCP_LIKE.match(url)
    if scp and "://" not in url and len(scp.group("host")) > 1:  # ``C:\\path`` is a drive
        return f"https://{scp.group('host')}/{scp.group('path').lstrip('/')}"
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # an IPv6 literal
    port = None
    with contextlib.suppress(ValueError):  # a port that is no number: dropped, no failure
        port = parts.port
    if scheme in ("ssh", "git+ssh", "ssh+git", "git"):
        scheme, port = "https", None  # an ssh or git-protocol port is no https port
    netloc = host + (f":{port}" if port else "")
    return urllib.parse.urlunsplit((scheme, netloc, parts.path, "", ""))
