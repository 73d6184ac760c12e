"""The registry client against a small in-process registry on a real loopback socket.

``FakeRegistry`` speaks just enough of the Registry HTTP API v2 (ping, tags, manifests,
Basic auth, Bearer tokens with scopes) and can be told to misbehave: answer 5xx or 429,
reset the connection, stall, or lie about digests. Nothing in urllib is mocked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from buildlib.credentials import Credentials, from_docker_config, from_env
from buildlib.errors import AuthError, CheckFailed, ConfigError, RegistryError
from buildlib.registry import MANIFEST_MEDIA_TYPES, Manifest, RegistryClient
from tests.support.http_replies import (
    RESET,
    SLOW,
    Reply,
    ReplyServer,
    Seen,
    digest_of,
    json_reply,
)
from tests.support.ports import free_port

SECRET = "s3cret-Pa55-never-shown"
USER = Credentials("alice", SECRET)
HINT = "set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


# -- the fake registry ---------------------------------------------------------------------


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"errors": [{"code": code, "message": code.lower()}]}, headers)


class FakeRegistry(ReplyServer):
    """``auth`` is "none", "basic" or "bearer"; ``users`` maps name -> (password, actions)."""

    def __init__(self, auth: str = "none", anonymous_pull: bool = False) -> None:
        super().__init__()
        self.auth = auth
        self.anonymous_pull = anonymous_pull
        self.users: dict[str, tuple[str, set[str]]] = {"alice": (SECRET, {"pull", "push"})}
        self.faults: list[Reply | str] = []
        self.seen: list[Seen] = []
        self.manifests: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.tag_lists: dict[str, list[str]] = {}
        self.tokens: dict[str, dict[str, set[str]]] = {}
        self.put_digest: str | None = None  # lie about the digest of a PUT
        self.token_text: str | None = None  # hand out this token instead
        self.page_size: int | None = None
        self._lock = threading.Lock()

    def start(self) -> FakeRegistry:
        self.start_serving()
        return self

    def client(self, credentials: Credentials | None = USER, **options: object) -> RegistryClient:
        options = {"retries": 3, "backoff": 0.01, "timeout": 5, **options}
        return RegistryClient(self.host, credentials, credential_hint=HINT, **options)  # type: ignore[arg-type]

    def store(self, repo: str, tag: str, body: bytes, media_type: str = DOCKER_MANIFEST) -> str:
        digest = digest_of(body)
        self.manifests[(repo, tag)] = self.manifests[(repo, digest)] = (media_type, body)
        self.tag_lists.setdefault(repo, []).append(tag)
        return digest

    def requests_to(self, suffix: str) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith(suffix)]

    # -- answering -------------------------------------------------------------------------

    def answer(self, seen: Seen) -> Reply | str:
        with self._lock:
            self.seen.append(seen)
            if self.faults:
                return self.faults.pop(0)
            if seen.path == "/token":
                return self._token(seen)
            denied = self._authorize(seen)
            return denied or self._route(seen)

    def _route(self, seen: Seen) -> Reply:
        if seen.path == "/v2/":
            return json_reply(200, {})
        name, kind, ref = _split(seen.path)
        if kind == "tags":
            if name not in self.tag_lists:
                return _error(404, "NAME_UNKNOWN")
            return self._tags_page(name, seen)
        if kind == "manifests" and seen.method in ("GET", "HEAD"):
            if (name, ref) not in self.manifests:
                return _error(404, "MANIFEST_UNKNOWN")
            media_type, body = self.manifests[(name, ref)]
            headers = {"Content-Type": media_type, "Docker-Content-Digest": digest_of(body)}
            return Reply(200, headers, body)
        if kind == "blobs" and seen.method == "GET":
            if (name, ref) not in self.blobs:
                return _error(404, "BLOB_UNKNOWN")
            return Reply(200, {"Content-Type": "application/octet-stream"}, self.blobs[(name, ref)])
        if kind == "manifests" and seen.method == "PUT":
            self.store(name, ref, seen.body, seen.headers.get("content-type", ""))
            return Reply(201, {"Docker-Content-Digest": self.put_digest or digest_of(seen.body)})
        return _error(404, "NOT_FOUND")

    def _tags_page(self, name: str, seen: Seen) -> Reply:
        tags = sorted(self.tag_lists[name])
        last = seen.query.get("last", [""])[0]
        rest = [t for t in tags if t > last]
        if self.page_size is None:
            return json_reply(200, {"name": name, "tags": rest})
        page = rest[: self.page_size]
        headers = {}
        if len(rest) > self.page_size:
            headers["Link"] = (
                f'</v2/{name}/tags/list?n={self.page_size}&last={page[-1]}>; rel="next"'
            )
        return json_reply(200, {"name": name, "tags": page}, headers)

    def _authorize(self, seen: Seen) -> Reply | None:
        given = seen.headers.get("authorization", "")
        if self.auth == "basic":
            user = _basic_user(given, self.users)
            if user is None:
                return _error(401, "UNAUTHORIZED", {"WWW-Authenticate": 'Basic realm="fake"'})
            return None
        if self.auth != "bearer":
            return None
        name, _, _ = _split(seen.path)
        action = "push" if seen.method == "PUT" else "pull"
        granted = (
            self.tokens.get(given.removeprefix("Bearer "), None)
            if given.startswith("Bearer ")
            else None
        )
        if granted is not None and (seen.path == "/v2/" or action in granted.get(name, set())):
            return None
        actions = "pull,push" if action == "push" else "pull"
        scope = f',scope="repository:{name}:{actions}"' if name else ""
        error = ',error="insufficient_scope"' if granted is not None else ""
        realm = f'Bearer realm="http://{self.host}/token",service="fake-registry"{scope}{error}'
        return _error(401, "UNAUTHORIZED", {"WWW-Authenticate": realm})

    def _token(self, seen: Seen) -> Reply:
        given = seen.headers.get("authorization", "")
        if given:
            user = _basic_user(given, self.users)
            if user is None:
                return _error(401, "UNAUTHORIZED")
            allowed = self.users[user][1]
        elif self.anonymous_pull:
            allowed = {"pull"}
        else:
            return _error(401, "UNAUTHORIZED")
        grants: dict[str, set[str]] = {}
        for scope in seen.query.get("scope", []):
            _, name, actions = scope.split(":")
            grants.setdefault(name, set()).update(set(actions.split(",")) & allowed)
        token = self.token_text or f"tok-{len(self.tokens) + 1}"
        self.tokens[token] = grants
        return json_reply(200, {"token": token, "expires_in": 300})


def _split(path: str) -> tuple[str, str, str]:
    """/v2/<name>/tags/list -> (name, "tags", ""); /v2/<name>/manifests/<ref> -> (..)."""
    inner = path.removeprefix("/v2/")
    if inner.endswith("/tags/list"):
        return inner.removesuffix("/tags/list"), "tags", ""
    for kind in ("manifests", "blobs"):
        name, sep, ref = inner.rpartition(f"/{kind}/")
        if sep:
            return name, kind, ref
    return "", "", ""


def _basic_user(header: str, users: dict[str, tuple[str, set[str]]]) -> str | None:
    if not header.startswith("Basic "):
        return None
    # as os.environ decodes: a password byte that is not UTF-8 stays itself
    user, _, password = base64.b64decode(header[6:]).decode(errors="surrogateescape").partition(":")
    return user if user in users and users[user][0] == password else None


@pytest.fixture
def make_registry() -> Iterator[Callable[..., FakeRegistry]]:
    started: list[FakeRegistry] = []

    def make(auth: str = "none", anonymous_pull: bool = False) -> FakeRegistry:
        registry = FakeRegistry(auth, anonymous_pull).start()
        started.append(registry)
        return registry

    yield make
    for registry in started:
        registry.close()


def image_manifest(config: str = "sha256:" + "c" * 64) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 2,
                "digest": config,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 3,
                    "digest": "sha256:" + "1" * 64,
                }
            ],
        },
        indent=3,
    ).encode()


def assert_secret_hidden(exc: BaseException) -> None:
    texts = [str(exc), repr(exc), repr(exc.args), str(getattr(exc, "hint", "")), str(exc.__cause__)]
    for text in texts:
        assert SECRET not in text


# -- addressing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("127.4.5.6", "http://127.4.5.6"),
        ("localhost:5000", "http://localhost:5000"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("ghcr.io", "https://ghcr.io"),
        ("registry.example.com:5000", "https://registry.example.com:5000"),
        ("docker.io", "https://registry-1.docker.io"),
        ("index.docker.io", "https://registry-1.docker.io"),
    ],
)
def test_base_url_uses_http_only_for_loopback(host: str, base_url: str) -> None:
    assert RegistryClient(host).base_url == base_url


def test_insecure_overrides_the_scheme() -> None:
    assert RegistryClient("127.0.0.1:5000", insecure=False).base_url == "https://127.0.0.1:5000"
    assert RegistryClient("registry.lan", insecure=True).base_url == "http://registry.lan"


def test_docker_hub_official_images_get_the_library_prefix() -> None:
    assert RegistryClient("docker.io").repository("python") == "library/python"
    assert RegistryClient("docker.io").repository("runpod/tetra-rp") == "runpod/tetra-rp"
    assert RegistryClient("ghcr.io").repository("python") == "python"


@pytest.mark.parametrize("repo", ["Upper/case", "a//b", "a/b/", "../etc", "a b"])
def test_invalid_repository_names_are_refused(repo: str) -> None:
    with pytest.raises(ConfigError, match="not a valid repository name"):
        RegistryClient("ghcr.io").repository(repo)


def test_invalid_tags_are_refused_before_any_request() -> None:
    client = RegistryClient(f"127.0.0.1:{free_port()}", retries=0)
    with pytest.raises(ConfigError, match="not a valid tag or digest"):
        client.manifest_digest("a/b", "../../v2")


def test_reprs_never_show_the_secret() -> None:
    assert SECRET not in repr(USER)
    assert "alice" in repr(USER)
    assert SECRET not in repr(RegistryClient("ghcr.io", USER))
    assert repr(RegistryClient("ghcr.io")) == (
        "RegistryClient('ghcr.io', username=None, base_url='https://ghcr.io')"
    )
    assert "body" not in repr(Manifest(DOCKER_MANIFEST, b"{}", "sha256:x"))


# -- authentication ------------------------------------------------------------------------


def test_ping_an_open_registry_sends_no_credentials(make_registry) -> None:
    registry = make_registry()
    registry.client().ping()
    assert [s.headers.get("authorization") for s in registry.seen] == [None]


def test_basic_auth_answers_the_challenge_then_sends_credentials_up_front(make_registry) -> None:
    registry = make_registry("basic")
    registry.store("team/app", "one", image_manifest())
    client = registry.client()

    client.ping()
    assert client.tags("team/app") == ["one"]

    statuses = ["authorization" in s.headers for s in registry.seen]
    assert statuses == [False, True, True]  # one challenge, then Basic every time


def test_basic_auth_with_a_wrong_password_is_one_auth_error(make_registry) -> None:
    registry = make_registry("basic")
    client = registry.client(Credentials("alice", "wrong-" + SECRET))

    with pytest.raises(AuthError) as caught:
        client.ping()

    message = str(caught.value)
    assert registry.host in message and "ping" in message and "'alice'" in message
    assert HINT in message
    assert "\n" not in message
    assert "wrong-" not in message
    assert_secret_hidden(caught.value)
    assert len(registry.seen) == 2  # the challenge and one authenticated try, no retries


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_credentials_from_the_environment_go_as_the_bytes_it_held(
    make_registry, auth: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a byte that is not UTF-8 (or any non-ASCII byte under a non-UTF-8 locale): os.environ
    # holds it decoded, here surrogate-escaped
    monkeypatch.setenv("BUILDLIB_TEST_USER", "al\udce9ce")
    monkeypatch.setenv("BUILDLIB_TEST_TOKEN", "dckr_pat_\udce9-t0ken")
    creds = from_env("BUILDLIB_TEST_USER", "BUILDLIB_TEST_TOKEN", os.environ)
    registry = make_registry(auth)
    registry.users["al\udce9ce"] = ("dckr_pat_\udce9-t0ken", {"pull"})

    registry.client(creds).ping()
    sent = {s.authorization for s in registry.seen if s.authorization} - {"Bearer tok-1"}
    assert sent == {"Basic " + base64.b64encode(b"al\xe9ce:dckr_pat_\xe9-t0ken").decode()}
    if auth == "bearer":
        assert "account=al%E9ce" in registry.requests_to("/token")[0].target


def test_a_protected_registry_without_credentials_says_what_to_set(make_registry) -> None:
    registry = make_registry("basic")
    with pytest.raises(AuthError, match="requires credentials") as caught:
        registry.client(None).tags("team/app")
    assert HINT in str(caught.value)


def test_bearer_tokens_are_fetched_with_credentials_and_cached_per_scope(make_registry) -> None:
    registry = make_registry("bearer")
    registry.store("team/app", "one", image_manifest())
    registry.store("team/other", "two", image_manifest())
    client = registry.client()

    assert client.tags("team/app") == ["one"]
    assert client.tags("team/app") == ["one"]
    assert client.manifest_digest("team/app", "one") is not None
    assert client.tags("team/other") == ["two"]

    token_requests = registry.requests_to("/token")
    assert [r.query["scope"] for r in token_requests] == [
        ["repository:team/app:pull"],
        ["repository:team/other:pull"],
    ]
    assert all(r.query["service"] == ["fake-registry"] for r in token_requests)
    assert all(r.headers["authorization"].startswith("Basic ") for r in token_requests)
    api_calls = [s for s in registry.seen if s.path != "/token"]
    assert sum(1 for s in api_calls if "authorization" not in s.headers) == 2  # one per scope


def test_bearer_ping_fetches_a_token_without_scope(make_registry) -> None:
    registry = make_registry("bearer")
    registry.client().ping()
    (token_request,) = registry.requests_to("/token")
    assert "scope" not in token_request.query


def test_bearer_without_credentials_asks_for_an_anonymous_token(make_registry) -> None:
    registry = make_registry("bearer", anonymous_pull=True)
    registry.store("library/python", "3.12", image_manifest())

    assert registry.client(None).tags("library/python") == ["3.12"]
    (token_request,) = registry.requests_to("/token")
    assert "authorization" not in token_request.headers


def test_bearer_with_a_wrong_password_is_an_auth_error(make_registry) -> None:
    registry = make_registry("bearer")
    client = registry.client(Credentials("alice", "wrong-" + SECRET))

    with pytest.raises(AuthError, match="credentials of user 'alice' were rejected") as caught:
        client.tags("team/app")
    assert registry.host in str(caught.value) and HINT in str(caught.value)
    assert "wrong-" not in str(caught.value)
    assert_secret_hidden(caught.value)


def test_a_token_without_push_access_is_denied_not_retried(make_registry) -> None:
    registry = make_registry("bearer")
    registry.users["reader"] = ("reader-pw", {"pull"})
    registry.store("team/app", "one", image_manifest())
    client = registry.client(Credentials("reader", "reader-pw"))

    with pytest.raises(AuthError, match="user 'reader' was denied access") as caught:
        client.add_tag("team/app", "one", "two")
    assert "insufficient_scope" in str(caught.value)
    assert len(registry.requests_to("/manifests/two")) == 2  # challenge, one retry with a token


def test_a_token_the_registry_no_longer_accepts_is_renewed(make_registry) -> None:
    registry = make_registry("bearer")
    registry.store("team/app", "one", image_manifest())
    client = registry.client()
    client.tags("team/app")

    registry.tokens.clear()  # the registry forgets (e.g. the token expired)
    assert client.tags("team/app") == ["one"]
    assert len(registry.requests_to("/token")) == 2


def test_authorization_is_dropped_on_a_redirect_to_another_host(make_registry) -> None:
    origin, other = make_registry("basic"), make_registry()
    body = image_manifest()
    digest = other.store("team/app", "one", body)
    # "localhost" is another host name for the same interface: a different origin.
    location = f"http://localhost:{other.host.split(':')[1]}/v2/team/app/manifests/one"
    origin.store("team/app", "one", body)
    client = origin.client()
    client.ping()
    origin.faults.append(Reply(307, {"Location": location}))

    assert client.get_manifest("team/app", "one").digest == digest
    assert [s.headers.get("authorization") for s in other.seen] == [None]


# -- retries and failures ------------------------------------------------------------------


def test_503_then_200_is_retried(make_registry) -> None:
    registry = make_registry()
    registry.store("team/app", "one", image_manifest())
    registry.faults += [_error(503, "UNAVAILABLE"), _error(502, "BAD_GATEWAY")]

    assert registry.client().tags("team/app") == ["one"]
    assert len(registry.seen) == 3


def test_429_is_retried_after_the_time_asked_for(make_registry) -> None:
    registry = make_registry()
    registry.store("team/app", "one", image_manifest())
    registry.faults.append(_error(429, "TOOMANYREQUESTS", {"Retry-After": "0.3"}))

    started = time.monotonic()
    assert registry.client().tags("team/app") == ["one"]
    assert time.monotonic() - started >= 0.3


def test_a_retry_after_that_is_not_a_number_waits_the_usual_time(make_registry) -> None:
    registry = make_registry()
    registry.store("team/app", "one", image_manifest())
    registry.faults.append(_error(503, "UNAVAILABLE", {"Retry-After": "NaN"}))

    assert registry.client().tags("team/app") == ["one"]


def test_a_token_that_cannot_be_a_header_is_refused_without_showing_it(make_registry) -> None:
    registry = make_registry("bearer")
    registry.store("team/app", "one", image_manifest())
    registry.token_text = "tok-secret-part\nInjected: header"

    with pytest.raises(RegistryError) as caught:
        registry.client().tags("team/app")

    assert "malformed token" in caught.value.message
    assert "tok-secret-part" not in str(caught.value)


def test_a_redirect_from_https_to_http_drops_the_authorization() -> None:
    import urllib.request

    from buildlib.registry import SameHostAuthRedirect

    handler = SameHostAuthRedirect()
    for target, kept in [
        ("https://registry.example/v2/x", True),
        ("http://registry.example/v2/x", False),
        ("https://storage.example/blob", False),
    ]:
        request = urllib.request.Request(
            "https://registry.example/v2/y", headers={"Authorization": "Bearer t"}
        )
        new = handler.redirect_request(request, None, 307, "Temporary Redirect", {}, target)
        assert new.has_header("Authorization") is kept, target


def test_malformed_index_entries_are_skipped(make_registry) -> None:
    registry = make_registry()
    good = image_manifest("sha256:" + "b" * 64)
    entries = [
        "not-an-entry",
        {"mediaType": DOCKER_MANIFEST, "platform": {"os": "linux", "architecture": "arm64"}},
        {
            "mediaType": DOCKER_MANIFEST,
            "digest": registry.store("team/app", "c-amd64", good),
            "size": len(good),
            "platform": {"os": "linux", "architecture": "amd64"},
        },
    ]
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    registry.store("team/app", "odd", body.encode(), OCI_INDEX)

    client = registry.client()
    assert client.platforms("team/app", "odd") == ("linux/amd64",)
    assert client.config_digest("team/app", "odd") == "sha256:" + "b" * 64


def test_a_reset_connection_is_retried(make_registry) -> None:
    registry = make_registry()
    registry.store("team/app", "one", image_manifest())
    registry.faults += [RESET, RESET]

    assert registry.client().manifest_digest("team/app", "one") == digest_of(image_manifest())
    assert len(registry.seen) == 3


def test_persistent_5xx_gives_up_after_the_retries(make_registry) -> None:
    registry = make_registry()
    registry.faults += [_error(503, "UNAVAILABLE")] * 10

    with pytest.raises(RegistryError) as caught:
        registry.client(retries=2).tags("team/app")

    message = str(caught.value)
    assert registry.host in message
    assert "list the tags of team/app" in message
    assert "after 3 attempts" in message and "HTTP 503" in message
    assert len(registry.seen) == 3


def test_backoff_grows_exponentially(make_registry) -> None:
    registry = make_registry()
    registry.faults += [_error(500, "INTERNAL")] * 3

    started = time.monotonic()
    with pytest.raises(RegistryError):
        registry.client(retries=2, backoff=0.1).ping()
    assert time.monotonic() - started >= 0.1 + 0.2


def test_connection_refused_is_retried_then_named() -> None:
    host = f"127.0.0.1:{free_port()}"
    client = RegistryClient(host, USER, retries=2, backoff=0.01)

    with pytest.raises(RegistryError, match="connection refused") as caught:
        client.manifest_digest("team/app", "one")
    assert host in str(caught.value) and "after 3 attempts" in str(caught.value)
    assert "look up team/app:one" in str(caught.value)
    assert caught.value.message.endswith(" failed after 3 attempts: connection refused")
    assert_secret_hidden(caught.value)


def test_a_stalled_registry_times_out(make_registry) -> None:
    registry = make_registry()
    registry.faults += [SLOW, SLOW]

    with pytest.raises(RegistryError, match=r"no response within 0.2s"):
        registry.client(timeout=0.2, retries=1).ping()
    assert len(registry.seen) == 2


def test_4xx_is_not_retried_and_shows_the_registry_error(make_registry) -> None:
    registry = make_registry()
    registry.faults.append(_error(400, "MANIFEST_INVALID"))
    manifest = Manifest(DOCKER_MANIFEST, image_manifest(), digest_of(image_manifest()))

    with pytest.raises(RegistryError, match="HTTP 400 .MANIFEST_INVALID") as caught:
        registry.client().put_manifest("team/app", "two", manifest)
    assert f"add tag team/app:two -> {manifest.digest} failed" in str(caught.value)
    assert len(registry.seen) == 1


# -- reading -------------------------------------------------------------------------------


def test_missing_things_read_as_empty(make_registry) -> None:
    registry = make_registry("basic")
    client = registry.client()

    assert client.tags("team/none") == []
    assert client.manifest_digest("team/none", "one") is None
    assert client.config_digest("team/none", "one") is None
    with pytest.raises(RegistryError, match="manifest team/none:one not found"):
        client.get_manifest("team/none", "one")


def test_manifest_digest_is_a_head_accepting_every_manifest_type(make_registry) -> None:
    registry = make_registry()
    digest = registry.store("team/app", "one", image_manifest())

    assert registry.client().manifest_digest("team/app", "one") == digest
    (seen,) = registry.seen
    assert seen.method == "HEAD"
    accepted = [t.strip() for t in seen.headers["accept"].split(",")]
    assert set(accepted) == set(MANIFEST_MEDIA_TYPES)
    assert len(MANIFEST_MEDIA_TYPES) == 4


def test_tags_follow_the_next_page_link(make_registry) -> None:
    registry = make_registry()
    for tag in ["a", "b", "c", "d", "e"]:
        registry.store("team/app", tag, image_manifest())
    registry.page_size = 2

    assert registry.client().tags("team/app") == ["a", "b", "c", "d", "e"]
    assert len(registry.seen) == 3


def test_config_digest_of_a_single_image(make_registry) -> None:
    registry = make_registry()
    registry.store("team/app", "one", image_manifest("sha256:" + "a" * 64))
    assert registry.client().config_digest("team/app", "one") == "sha256:" + "a" * 64


def _index(registry: FakeRegistry, platforms: list[str], attestation: bool) -> bytes:
    entries = []
    for platform in platforms:
        os_name, arch, *variant = platform.split("/")
        child = image_manifest("sha256:" + hashlib.sha256(platform.encode()).hexdigest())
        entries.append(
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": registry.store("team/app", f"c-{arch}", child),
                "size": len(child),
                "platform": {"os": os_name, "architecture": arch}
                | ({"variant": variant[0]} if variant else {}),
            }
        )
    if attestation:
        entries.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + "e" * 64,
                "size": 1,
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            }
        )
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()


def test_config_digest_of_an_index_skips_attestations(make_registry) -> None:
    registry = make_registry()
    registry.store(
        "team/app", "one", _index(registry, ["linux/amd64"], attestation=True), OCI_INDEX
    )

    expected = "sha256:" + hashlib.sha256(b"linux/amd64").hexdigest()
    assert registry.client().config_digest("team/app", "one") == expected


def test_config_digest_of_a_multi_platform_index_needs_a_platform(make_registry) -> None:
    registry = make_registry()
    body = _index(registry, ["linux/amd64", "linux/arm64"], attestation=False)
    registry.store("team/app", "multi", body, OCI_INDEX)
    client = registry.client()

    with pytest.raises(RegistryError, match=r"multi-platform image \(linux/amd64, linux/arm64\)"):
        client.config_digest("team/app", "multi")
    expected = "sha256:" + hashlib.sha256(b"linux/arm64").hexdigest()
    assert client.config_digest("team/app", "multi", platform="linux/arm64") == expected


@pytest.mark.parametrize(
    ("platform", "listed"),
    [
        # linux/amd64/v3 is another image (containerd/platforms database.go normalizeArch
        # keeps every amd64 variant but v1), not a second linux/amd64
        ("linux/amd64", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        # an index another tool wrote, by other names for the build's platform
        ("linux/arm/v7", "Linux/ARM"),
        ("linux/arm64", "linux/arm64/v8"),
    ],
)
def test_config_digest_of_an_index_picks_the_image_by_docker_s_names(
    make_registry, platform: str, listed: str
) -> None:
    registry = make_registry()
    platforms = ["linux/amd64", "linux/amd64/v3", "Linux/ARM", "linux/arm64/v8"]
    registry.store("team/app", "multi", _index(registry, platforms, attestation=False), OCI_INDEX)

    expected = "sha256:" + hashlib.sha256(listed.encode()).hexdigest()
    assert registry.client().config_digest("team/app", "multi", platform=platform) == expected


def test_platforms_of_an_index_a_single_image_and_nothing(make_registry) -> None:
    registry = make_registry()
    body = _index(registry, ["linux/arm64", "linux/amd64"], attestation=True)
    registry.store("team/app", "multi", body, OCI_INDEX)
    registry.store("team/app", "single", image_manifest())
    client = registry.client()

    assert client.platforms("team/app", "multi") == ("linux/amd64", "linux/arm64")
    assert client.platforms("team/app", "single") == ()
    assert client.platforms("team/app", "missing") is None


def test_config_labels_read_the_config_blob(make_registry) -> None:
    registry = make_registry(auth="bearer")
    config = json.dumps({"config": {"Labels": {"org.opencontainers.image.revision": "abc"}}})
    digest = digest_of(config.encode())
    registry.blobs[("team/app", digest)] = config.encode()
    registry.store("team/app", "1.0.0", image_manifest(digest))
    client = registry.client()

    assert client.config_labels("team/app", "1.0.0") == {"org.opencontainers.image.revision": "abc"}
    assert client.config_labels("team/app", "2.0.0") is None


def test_config_labels_refuse_a_blob_that_does_not_match_its_digest(make_registry) -> None:
    registry = make_registry()
    digest = "sha256:" + "d" * 64
    registry.blobs[("team/app", digest)] = b'{"config": {}}'
    registry.store("team/app", "1.0.0", image_manifest(digest))

    with pytest.raises(RegistryError, match="does not match"):
        registry.client().config_labels("team/app", "1.0.0")


def test_a_manifest_that_does_not_match_its_digest_is_refused(make_registry) -> None:
    registry = make_registry()
    registry.manifests[("team/app", "one")] = (DOCKER_MANIFEST, image_manifest())
    registry.tag_lists["team/app"] = ["one"]
    wrong = "sha256:" + "0" * 64
    registry.manifests[("team/app", wrong)] = (DOCKER_MANIFEST, image_manifest())

    with pytest.raises(RegistryError, match="does not match its digest"):
        registry.client().get_manifest("team/app", wrong)


# -- writing -------------------------------------------------------------------------------


def test_add_tag_puts_the_same_bytes_under_a_new_tag(make_registry) -> None:
    registry = make_registry("bearer")
    body = image_manifest()
    digest = registry.store("team/app", "one", body)
    client = registry.client()

    assert client.add_tag("team/app", "one", "latest") == digest

    (put,) = [s for s in registry.seen if s.method == "PUT" and "authorization" in s.headers]
    assert put.path == "/v2/team/app/manifests/latest"
    assert put.body == body
    assert put.headers["content-type"] == DOCKER_MANIFEST
    assert sorted(client.tags("team/app")) == ["latest", "one"]
    assert client.manifest_digest("team/app", "latest") == digest
    scopes = [r.query.get("scope") for r in registry.requests_to("/token")]
    assert ["repository:team/app:pull,push"] in scopes


def test_add_tag_by_digest(make_registry) -> None:
    registry = make_registry()
    digest = registry.store("team/app", "one", image_manifest())
    assert registry.client().add_tag("team/app", digest, "v1") == digest


def test_put_manifest_refuses_a_different_returned_digest(make_registry) -> None:
    registry = make_registry()
    registry.store("team/app", "one", image_manifest())
    registry.put_digest = "sha256:" + "9" * 64

    with pytest.raises(RegistryError) as caught:
        registry.client().add_tag("team/app", "one", "two")
    assert caught.value.message == (
        f"{registry.host}: add tag team/app:two -> {digest_of(image_manifest())}: "
        f"the registry holds {registry.put_digest} under team/app:two"
    )


# -- credentials ---------------------------------------------------------------------------


def test_from_env_needs_both_or_neither() -> None:
    env = {"U": "alice", "T": SECRET}
    assert from_env("U", "T", env) == Credentials("alice", SECRET, from_environment=True)
    assert from_env("U", "T", {}) is None
    assert from_env("U", "T", {"U": "", "T": ""}) is None
    with pytest.raises(CheckFailed, match="T is not") as caught:
        from_env("U", "T", {"U": "alice", "T": ""})
    assert "set both U and T" in str(caught.value)
    with pytest.raises(CheckFailed, match="U is not") as caught:
        from_env("U", "T", {"T": SECRET})
    assert_secret_hidden(caught.value)


def _write_docker_config(directory: Path, auths: dict[str, tuple[str, str]]) -> None:
    entries = {
        key: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        for key, (user, password) in auths.items()
    }
    (directory / "config.json").write_text(json.dumps({"auths": entries}))


def test_from_docker_config_reads_an_existing_login(tmp_path: Path, monkeypatch) -> None:
    _write_docker_config(
        tmp_path,
        {
            "https://index.docker.io/v1/": ("hubuser", "hub-" + SECRET),
            "127.0.0.1:5000": ("alice", SECRET),
        },
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))

    assert from_docker_config("127.0.0.1:5000") == Credentials("alice", SECRET)
    assert from_docker_config("docker.io") == Credentials("hubuser", "hub-" + SECRET)
    assert from_docker_config("ghcr.io") is None


def test_from_docker_config_reads_the_directory_docker_config_names(
    tmp_path: Path, monkeypatch
) -> None:
    _write_docker_config(tmp_path, {"ghcr.io": ("bob", SECRET)})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nowhere"))
    assert from_docker_config("ghcr.io") is None
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert from_docker_config("ghcr.io") == Credentials("bob", SECRET)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("registry.localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("ghcr.io", False),
        ("127.example.com", False),  # a name, not an address
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    from buildlib.references import is_loopback

    assert is_loopback(host) is loopback


def test_docker_hub_names() -> None:
    from buildlib.references import is_docker_hub

    for name in ("docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO"):
        assert is_docker_hub(name)
    assert not is_docker_hub("ghcr.io")
