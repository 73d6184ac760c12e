"""A small client for the Registry HTTP API v2: ping, tags, manifests, and re-tagging.

``add_tag`` copies a manifest to a new tag without re-sending its layers. Authentication
follows the ``WWW-Authenticate`` challenge (Basic, or a Bearer token per scope) as the docker
client does; transient failures are retried with backoff. Every failure is one
``RegistryError`` line naming the registry and the operation, never a secret.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import math
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from buildlib.config import normal_platform
from buildlib.console import one_line
from buildlib.credentials import Credentials
from buildlib.errors import AuthError, ConfigError, RegistryError
from buildlib.references import (
    DIGEST_RE,
    DOCKER_TAG_RE,
    REPOSITORY_PATH_RE,
    is_docker_hub,
    is_loopback,
)

__all__ = ["MANIFEST_MEDIA_TYPES", "Manifest", "RegistryClient"]

DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPES = (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX)
INDEX_MEDIA_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})

_ACCEPT_MANIFESTS = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
_USER_AGENT = "buildlib (registry client)"
_TOKEN_RE = re.compile(r"[\x21-\x7e]+")
_CHALLENGE_PARAM_RE = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
_NEXT_LINK_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_ATTESTATION_REFERENCE = "attestation-manifest"
_MAX_RETRY_AFTER = 30.0
_MAX_PAGES = 100
_TRANSIENT = (ConnectionError, TimeoutError, http.client.IncompleteRead, http.client.BadStatusLine)


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry stores it (the digest is of ``body``'s bytes)."""

    media_type: str
    body: bytes = field(repr=False)
    digest: str


@dataclass(frozen=True)
class _Response:
    status: int
    headers: Message
    body: bytes


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    expires_at: float


class RegistryClient:
    """Talks to one registry, named as images name it (``docker.io``, ``127.0.0.1:5000``).

    ``insecure=None``: plain HTTP for loopback hosts only, as docker does for 127.0.0.0/8. A
    transient failure is retried ``retries`` times, ``backoff * 2**n`` seconds apart.
    ``credential_hint`` (how to provide credentials) ends every ``AuthError``.
    """

    def __init__(
        self,
        host: str,
        credentials: Credentials | None = None,
        *,
        insecure: bool | None = None,
        timeout: float = 30,
        retries: int = 3,
        backoff: float = 0.5,
        credential_hint: str | None = None,
    ) -> None:
        self.host = host
        self.credentials = credentials
        endpoint = DOCKER_HUB_ENDPOINT if is_docker_hub(host) else host
        plain_http = is_loopback(endpoint) if insecure is None else insecure
        self.base_url = f"{'http' if plain_http else 'https'}://{endpoint}"
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.credential_hint = credential_hint
        self._tokens: dict[str, _Token] = {}
        self._basic = False

    def __repr__(self) -> str:
        user = self.credentials.username if self.credentials else None
        return f"RegistryClient({self.host!r}, username={user!r}, base_url={self.base_url!r})"

    def repository(self, repo: str) -> str:
        """The API name of ``repo``: validated, with ``library/`` for Docker Hub officials."""
        if not REPOSITORY_PATH_RE.fullmatch(repo):
            raise ConfigError(f"{repo!r} is not a valid repository name for {self.host}")
        return f"library/{repo}" if is_docker_hub(self.host) and "/" not in repo else repo

    # -- read ------------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that the registry answers and accepts the credentials (``GET /v2/``)."""
        self._request("GET", "/v2/", "ping", None)

    def tags(self, repo: str) -> list[str]:
        """All tags of ``repo``; an empty list if the repository does not exist."""
        name = self.repository(repo)
        operation = f"list the tags of {name}"
        url = f"/v2/{name}/tags/list"
        found: list[str] = []
        for _ in range(_MAX_PAGES):
            response = self._request("GET", url, operation, _pull(name), ok=(200, 404))
            if response.status == 404:
                return found
            listed = self._json(response, operation).get("tags") or []  # null: no tags
            if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
                raise RegistryError(f"{self.host}: {operation}: the tags are not a list of strings")
            found += listed
            match = _NEXT_LINK_RE.search(response.headers.get("Link") or "")
            if match is None:
                return found
            url = urllib.parse.urljoin(self.base_url + "/", match.group(1))
            if urllib.parse.urlsplit(url).netloc != urllib.parse.urlsplit(self.base_url).netloc:
                raise RegistryError(f"{self.host}: {operation}: next page is on another host")
        raise RegistryError(f"{self.host}: {operation}: more than {_MAX_PAGES} pages of tags")

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        """The digest ``repo:tag`` points at, or ``None`` if there is no such tag."""
        name, ref = self.repository(repo), _reference(tag)
        path, operation = f"/v2/{name}/manifests/{ref}", f"look up {_display(name, ref)}"
        response = self._request(
            "HEAD", path, operation, _pull(name), ok=(200, 404), headers=_ACCEPT_MANIFESTS
        )
        if response.status == 404:
            return None
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        manifest = self._fetch_manifest(name, ref)  # some registries omit the header on HEAD
        return manifest.digest if manifest else None

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """The manifest at ``ref`` (a tag or a digest); ``RegistryError`` if there is none."""
        name = self.repository(repo)
        manifest = self._fetch_manifest(name, _reference(ref))
        if manifest is None:
            raise RegistryError(
                f"{self.host}: manifest {_display(name, ref)} not found",
                hint="check that the image was pushed under that tag",
            )
        return manifest

    def config_digest(self, repo: str, tag: str, *, platform: str | None = None) -> str | None:
        """The image config digest (docker's image ID) of ``repo:tag``, or ``None``. Of an
        index, its one image that is no attestation, or the one for ``platform``
        (``os/arch[/variant]``, by docker's names: ``config.normal_platform``)."""
        name = self.repository(repo)
        manifest = self._fetch_manifest(name, _reference(tag))
        if manifest is None:
            return None
        if manifest.media_type in INDEX_MEDIA_TYPES:
            child = self._select_platform(manifest, _display(name, tag), platform)
            manifest = self.get_manifest(name, child)
        config = self._parsed(manifest, name).get("config")
        digest = config.get("digest") if isinstance(config, dict) else None
        if not isinstance(digest, str):
            raise RegistryError(f"{self.host}: manifest {_display(name, tag)} has no config digest")
        return digest

    def config_labels(
        self, repo: str, tag: str, *, platform: str | None = None
    ) -> dict[str, str] | None:
        """The labels in the image config of ``repo:tag`` (see :meth:`config_digest` for
        an index), or ``None`` if there is no such tag."""
        digest = self.config_digest(repo, tag, platform=platform)
        if digest is None:
            return None
        name = self.repository(repo)
        operation = f"read the image config of {_display(name, tag)}"
        response = self._request("GET", f"/v2/{name}/blobs/{digest}", operation, _pull(name))
        if digest.startswith("sha256:") and _sha256(response.body) != digest:
            raise RegistryError(f"{self.host}: {operation}: content does not match {digest}")
        try:
            labels = json.loads(response.body)
        except ValueError:
            raise RegistryError(f"{self.host}: {operation}: not valid JSON") from None
        for key in ("config", "Labels"):  # a part that is no object holds no labels
            labels = labels.get(key) if isinstance(labels, dict) else None
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    def platforms(self, repo: str, tag: str) -> tuple[str, ...] | None:
        """The platforms (``os/arch[/variant]``) of an index at ``repo:tag``, sorted and
        without attestations; ``()`` for a single-image manifest; ``None`` if no such tag."""
        name = self.repository(repo)
        manifest = self._fetch_manifest(name, _reference(tag))
        if manifest is None:
            return None
        if manifest.media_type not in INDEX_MEDIA_TYPES:
            return ()
        return tuple(sorted(self._index_images(manifest, _display(name, tag))))

    # -- write -----------------------------------------------------------------------------

    def put_manifest(self, repo: str, tag: str, manifest: Manifest) -> str:
        """Point ``repo:tag`` at ``manifest`` (its layers already in ``repo``); returns the
        digest, checked to equal ``manifest.digest``."""
        name, ref = self.repository(repo), _reference(tag)
        # a PUT by digest writes a manifest and no tag; a tag names the manifest it points at
        operation = (
            f"write manifest {name}@{ref}"
            if DIGEST_RE.fullmatch(ref)
            else f"add tag {name}:{ref} -> {manifest.digest}"
        )
        response = self._request(
            "PUT",
            f"/v2/{name}/manifests/{ref}",
            operation,
            f"repository:{name}:pull,push",
            ok=(200, 201),
            headers={"Content-Type": manifest.media_type},
            data=manifest.body,
        )
        digest = response.headers.get("Docker-Content-Digest") or self.manifest_digest(name, ref)
        if digest != manifest.digest:
            raise RegistryError(
                f"{self.host}: {operation}: the registry holds {digest} under {_display(name, ref)}"
            )
        return digest

    def add_tag(self, repo: str, source_ref: str, new_tag: str) -> str:
        """Give the image at ``repo:source_ref`` the tag ``new_tag``; no layer is re-sent."""
        return self.put_manifest(repo, new_tag, self.get_manifest(repo, source_ref))

    # -- manifests -------------------------------------------------------------------------

    def _fetch_manifest(self, name: str, ref: str) -> Manifest | None:
        operation = f"read manifest {_display(name, ref)}"
        path = f"/v2/{name}/manifests/{ref}"
        response = self._request(
            "GET", path, operation, _pull(name), ok=(200, 404), headers=_ACCEPT_MANIFESTS
        )
        if response.status == 404:
            return None
        computed = _sha256(response.body)
        digest = response.headers.get("Docker-Content-Digest") or computed
        expected = ref if DIGEST_RE.fullmatch(ref) else digest
        for claimed in dict.fromkeys([expected, digest]):  # the one asked for is named first
            if claimed.startswith("sha256:") and claimed != computed:
                raise RegistryError(
                    f"{self.host}: manifest {_display(name, ref)} does not match its digest "
                    f"{claimed} (got {computed})"
                )
        return Manifest(self._media_type(response, name, ref), response.body, digest)

    def _media_type(self, response: _Response, name: str, ref: str) -> str:
        header = (response.headers.get("Content-Type") or "").split(";")[0].strip()
        if header in MANIFEST_MEDIA_TYPES:
            return header
        declared = (_json_object(response.body) or {}).get("mediaType")
        if isinstance(declared, str) and declared:
            return declared
        if header:
            return header
        raise RegistryError(f"{self.host}: manifest {_display(name, ref)} has no media type")

    def _parsed(self, manifest: Manifest, label: str) -> dict[str, Any]:
        data = _json_object(manifest.body)
        if data is None:
            shown = label if "@" in label else f"{label}@{manifest.digest}"  # no digest twice
            raise RegistryError(f"{self.host}: manifest {shown} is not valid JSON")
        return data

    def _index_images(self, index: Manifest, label: str) -> dict[str, str]:
        """Platform -> digest of the images of an index (attestations left out); the first
        of a platform listed twice, as image-index.md (OCI image-spec) has clients pick and
        containerd's core/images/image.go Manifest does (a stable sort, then descs[0])."""
        images: dict[str, str] = {}
        for entry in self._parsed(index, label).get("manifests") or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
                continue  # malformed: not an image this tool can use
            annotations = entry.get("annotations")
            if isinstance(annotations, dict) and (
                annotations.get("vnd.docker.reference.type") == _ATTESTATION_REFERENCE
            ):
                continue
            spec = entry.get("platform")
            spec = spec if isinstance(spec, dict) else {}
            parts = [spec.get("os"), spec.get("architecture"), spec.get("variant")]
            images.setdefault("/".join(str(p) for p in parts if p), str(entry["digest"]))
        return images

    def _select_platform(self, index: Manifest, label: str, platform: str | None) -> str:
        images = self._index_images(index, label)
        # Both by docker's names: an index may say linux/arm64/v8 or Linux/ARM for a build's
        # linux/arm64 or linux/arm/v7, and linux/amd64/v3 is no linux/amd64 (normalizeArch)
        matches = [
            digest
            for image, digest in images.items()
            if platform is None or normal_platform(image) == normal_platform(platform)
        ]
        if matches and (platform or len(matches) == 1):
            return matches[0]  # the first, as in _index_images
        listed = ", ".join(sorted(images)) or "empty"
        raise RegistryError(
            f"{self.host}: {label} is a multi-platform image ({listed})"
            + (f" without exactly one {platform} image" if platform else ""),
            hint="pass platform='os/arch' to pick one",
        )

    # -- HTTP, authentication and retries --------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        operation: str,
        scope: str | None,
        *,
        ok: tuple[int, ...] = (200,),
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> _Response:
        """Send one API request, authenticating once when challenged; 401, 403 and any other
        status than ``ok`` raise."""
        url = path if "://" in path else self.base_url + path
        headers = {"User-Agent": _USER_AGENT, **(headers or {})}
        auth = self._authorization(scope)
        response = self._send_retrying(method, url, {**headers, **auth}, data, operation)
        if response.status == 401 and self._authenticate(response.headers, scope, operation):
            auth = self._authorization(scope)
            response = self._send_retrying(method, url, {**headers, **auth}, data, operation)
        if response.status in (401, 403):
            used_token = auth.get("Authorization", "").startswith("Bearer ")
            raise self._auth_error(response, operation, used_token=used_token)
        if response.status not in ok:
            raise self._http_error(response, operation)
        return response

    def _authorization(self, scope: str | None) -> dict[str, str]:
        token = self._tokens.get(scope or "")
        if token is not None and token.expires_at > time.monotonic():
            return {"Authorization": f"Bearer {token.value}"}
        if self._basic and self.credentials is not None:
            return {"Authorization": _basic_auth(self.credentials)}
        return {}

    def _authenticate(self, headers: Message, scope: str | None, operation: str) -> bool:
        """Act on a 401's challenge; False when there is nothing more to try."""
        challenges = _challenges(headers)
        for scheme, params in challenges:
            if scheme == "bearer" and "realm" in params:
                self._tokens[scope or ""] = self._fetch_token(params, scope, operation)
                return True
        if self._basic or self.credentials is None:
            return False
        self._basic = any(scheme == "basic" for scheme, _ in challenges)
        return self._basic

    def _fetch_token(self, params: dict[str, str], scope: str | None, operation: str) -> _Token:
        realm = params["realm"]
        realm_scheme = urllib.parse.urlsplit(realm).scheme
        if realm_scheme not in ("http", "https"):
            raise RegistryError(f"{self.host}: {operation}: unusable token realm {realm!r}")
        if realm_scheme == "http" and self.base_url.startswith("https:"):
            raise RegistryError(
                f"{self.host}: {operation}: the registry sends credentials to a plain http "
                f"token service ({realm}); refused",
                hint="the registry's token realm must be https",
            )
        asked: list[tuple[str, str | bytes | None]] = [("service", params.get("service"))]
        asked += [("scope", each) for each in dict.fromkeys([scope, params.get("scope")])]
        headers = {"User-Agent": _USER_AGENT}
        if self.credentials is not None:
            asked.append(("account", self.credentials.encoded()[0]))
            headers["Authorization"] = _basic_auth(self.credentials)
        query = urllib.parse.urlencode([(key, value) for key, value in asked if value])
        separator = "&" if "?" in realm else "?"
        url = f"{realm}{separator}{query}" if query else realm
        what = f"{operation} (token request)"
        response = self._send_retrying("GET", url, headers, None, what)
        if response.status in (401, 403):
            raise self._auth_error(response, operation, used_token=False)
        if response.status != 200:
            raise self._http_error(response, what)
        payload = self._json(response, what)
        token = payload.get("token") or payload.get("access_token")
        # it goes into a header: printable ASCII only
        if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
            problem = "a malformed token" if isinstance(token, str) and token else "no token"
            raise RegistryError(f"{self.host}: {operation}: the token service returned {problem}")
        lifetime: Any = payload.get("expires_in")  # as the JSON had it
        if type(lifetime) not in (int, float) or not 0 < lifetime < math.inf:
            lifetime = 60.0  # as if absent (distribution docs/spec/auth/token.md, expires_in)
        # Renew a little early so a token never expires between check and use.
        return _Token(token, time.monotonic() + max(lifetime * 0.9, 1.0))

    def _send_retrying(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None, operation: str
    ) -> _Response:
        attempts = self.retries + 1
        for attempt in range(attempts):
            delay = self.backoff * 2**attempt
            try:
                response = self._send(method, url, headers, data)
            except (OSError, http.client.HTTPException) as exc:
                last = _describe(exc, self.timeout)
                if not _is_transient(exc):
                    raise RegistryError(
                        f"{self.host}: {operation} failed: {last}",
                        hint=f"check the registry address {self.base_url}",
                    ) from None
            else:
                if response.status != 429 and response.status < 500:
                    return response
                last = f"HTTP {response.status}{_error_detail(response)}"
                delay = _retry_after(response, delay)
            if attempt + 1 < attempts:
                time.sleep(delay)
        raise RegistryError(
            f"{self.host}: {operation} failed after {attempts} attempt"
            f"{'s' if attempts > 1 else ''}: {last}",
            hint=f"check that {self.base_url} is up and reachable, then retry",
        )

    def _send(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None
    ) -> _Response:
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        handlers: list[urllib.request.BaseHandler] = [SameHostAuthRedirect()]
        if is_loopback(urllib.parse.urlsplit(url).netloc):
            # A proxy from the environment must not see loopback traffic.
            handlers.append(urllib.request.ProxyHandler({}))
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                return _Response(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return _Response(exc.code, exc.headers, exc.read())
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, OSError):
                raise exc.reason from None
            raise

    # -- responses -------------------------------------------------------------------------

    def _json(self, response: _Response, operation: str) -> dict[str, Any]:
        data = _json_object(response.body)
        if data is None:
            raise RegistryError(f"{self.host}: {operation}: the response is not a JSON object")
        return data

    def _http_error(self, response: _Response, operation: str) -> RegistryError:
        return RegistryError(
            f"{self.host}: {operation} failed: HTTP {response.status}{_error_detail(response)}"
        )

    def _auth_error(self, response: _Response, operation: str, *, used_token: bool) -> AuthError:
        if self.credentials is None:
            problem = "the registry requires credentials"
        elif response.status == 403 or used_token:
            problem = (
                f"user {self.credentials.username!r} was denied access (the repository does "
                "not exist or the user lacks permission)"
            )
        else:
            problem = f"the credentials of user {self.credentials.username!r} were rejected"
        return AuthError(
            f"{self.host}: {operation}: {problem}{_error_detail(response)}",
            hint=self.credential_hint or f"provide credentials for {self.host}",
        )


class SameHostAuthRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never carry the Authorization header to another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        target = urllib.parse.urlsplit(newurl)
        if new is not None and (target.netloc != req.host or target.scheme != req.type):
            new.remove_header("Authorization")  # another host, or https -> http
        return new


def _pull(name: str) -> str:
    return f"repository:{name}:pull"


def _sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _reference(ref: str) -> str:
    if DOCKER_TAG_RE.fullmatch(ref) or DIGEST_RE.fullmatch(ref):
        return ref
    raise ConfigError(f"{ref!r} is not a valid tag or digest")


def _display(name: str, ref: str) -> str:
    return f"{name}@{ref}" if DIGEST_RE.fullmatch(ref) else f"{name}:{ref}"


def _basic_auth(credentials: Credentials) -> str:
    username, secret = credentials.encoded()
    return "Basic " + base64.b64encode(username + b":" + secret).decode("ascii")


def _challenges(headers: Message) -> list[tuple[str, dict[str, str]]]:
    """Parse ``WWW-Authenticate`` headers into (scheme in lower case, params), in order."""
    found = []
    for value in headers.get_all("WWW-Authenticate") or []:
        scheme, _, rest = value.strip().partition(" ")
        params = {
            key.lower(): (quoted.replace('\\"', '"') if quoted else bare)
            for key, quoted, bare in _CHALLENGE_PARAM_RE.findall(rest)
        }
        found.append((scheme.lower(), params))
    return found


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, socket.gaierror):
        return exc.errno == socket.EAI_AGAIN
    return isinstance(exc, _TRANSIENT)


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, TimeoutError):
        return f"no response within {timeout:g}s"
    return one_line(f"{type(exc).__name__}: {exc}")


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error_detail(response: _Response) -> str:
    """`` (CODE: message)`` from a registry's JSON error body, or from the challenge."""
    try:
        errors = json.loads(response.body).get("errors") or []
        parts = [f"{e.get('code', '?')}: {e.get('message', '')}".strip(": ") for e in errors]
    except (ValueError, AttributeError, TypeError):
        parts = []
    for _, params in _challenges(response.headers):
        if params.get("error"):
            parts.append(params["error"])
    return f" ({one_line('; '.join(parts))})" if parts else ""


def _retry_after(response: _Response, default: float) -> float:
    try:
        wanted = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return default
    return min(max(wanted, default), _MAX_RETRY_AFTER) if math.isfinite(wanted) else default
