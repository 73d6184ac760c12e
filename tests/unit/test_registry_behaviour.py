"""What the registry client promises, told apart by what a registry sees and what a user reads.

Each test plays a registry from a script on a real loopback socket (``Script``): the routes
answer with fixed replies or with a function of the request, and every request is kept as
it arrived (raw target, headers, body). Nothing in urllib is mocked; the clock is replaced
only where a token's lifetime is the point, and name resolution only where a DNS failure is.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from buildlib.credentials import Credentials
from buildlib.errors import AuthError, RegistryError
from buildlib.registry import Manifest, RegistryClient
from tests.support.http_replies import (
    CLOSE,
    RESET,
    Reply,
    ReplyServer,
    Seen,
    digest_of,
    json_reply,
)
from tests.support.ports import free_port

USER = Credentials("alice", "s3cret-never-shown")
HINT = "set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
USER_AGENT = "buildlib (registry client)"


# -- a registry played from a script -------------------------------------------------------


Answer = Reply | str | Callable[[Seen], "Reply | str"]


class Script(ReplyServer):
    """Routes (method, path) to answers; a list of answers is used in turn, its last one
    for every later request. A route that is not in the script answers 404."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls)
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self.start_serving()

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.routes[(method, path)] = list(answers)

    def client(self, credentials: Credentials | None = USER, **options: object) -> RegistryClient:
        options = {"retries": 0, "backoff": 0.01, "timeout": 5, **options}
        return RegistryClient(self.host, credentials, credential_hint=HINT, **options)  # type: ignore[arg-type]

    def to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def answer(self, seen: Seen) -> Reply | str:
        with self._lock:
            self.seen.append(seen)
            answers = self.routes.get((seen.method, seen.path))
            if not answers:
                return Reply(404)
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer(seen) if callable(answer) else answer


@pytest.fixture
def script() -> Iterator[Script]:
    started = Script()
    yield started
    started.close()


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"errors": [{"code": code, "message": message}]}, headers)


def manifest_reply(body: bytes, media_type: str | None = DOCKER_MANIFEST, **headers: str) -> Reply:
    sent = {"Docker-Content-Digest": digest_of(body)}
    if media_type is not None:
        sent["Content-Type"] = media_type
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    return Reply(200, sent, body)


def image(config: str = "sha256:" + "c" * 64, **fields: object) -> bytes:
    data: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config},
        "layers": [],
    }
    data.update(fields)
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


def index(*entries: object, media_type: str | None = OCI_INDEX) -> bytes:
    data: dict[str, object] = {"schemaVersion": 2, "manifests": list(entries)}
    if media_type is not None:
        data["mediaType"] = media_type
    return json.dumps(data).encode()


def entry(digest: str, platform: object) -> dict[str, object]:
    return {"mediaType": DOCKER_MANIFEST, "digest": digest, "size": 1, "platform": platform}


def attestation() -> dict[str, object]:
    return {
        "mediaType": OCI_MANIFEST,
        "digest": "sha256:" + "e" * 64,
        "size": 1,
        "platform": {"os": "unknown", "architecture": "unknown"},
        "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
    }


def serve_manifest(script: Script, repo: str, ref: str, reply: Reply) -> None:
    for method in ("GET", "HEAD"):
        script.on(method, f"/v2/{repo}/manifests/{ref}", reply)


class Tokens:
    """A Bearer token service on ``script``: it grants the scopes asked for, and ``guard``
    lets a request through only with a token that holds the scope the route needs."""

    def __init__(self, script: Script, challenge: str | None = None, **payload: object) -> None:
        self.script = script
        self.challenge = challenge or f'Bearer realm="{script.url}/token",service="svc"'
        self.payload = payload
        self.grants: dict[str, set[str]] = {}
        script.on("GET", "/token", self.issue)

    def issue(self, seen: Seen) -> Reply:
        token = f"tok-{len(self.grants) + 1}"
        self.grants[token] = set(seen.query.get("scope", []))
        return json_reply(200, {"token": token, **self.payload})

    def guard(self, scope: str | None, answer: Answer) -> Callable[[Seen], Reply | str]:
        def answered(seen: Seen) -> Reply | str:
            token = (seen.authorization or "").removeprefix("Bearer ")
            if token in self.grants and (scope is None or scope in self.grants[token]):
                return answer(seen) if callable(answer) else answer
            return Reply(401, {"WWW-Authenticate": self.challenge})

        return answered


def challenged(header: str) -> Reply:
    return error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": header})


def caught(call: Callable[[], object], kind: type[Exception] = RegistryError) -> RegistryError:
    with pytest.raises(kind) as raised:
        call()
    assert isinstance(raised.value, RegistryError)
    return raised.value


# -- failures name the registry, the operation and what the registry said ------------------

DENIED = error(400, "DENIED", "requested access to the resource is denied")


def _calls(script: Script) -> list[tuple[str, str, str, Callable[[RegistryClient], object]]]:
    """(method, path, operation, call) of each operation of the client."""
    config = json.dumps({"config": {"Labels": {"a": "b"}}}).encode()
    body = image(digest_of(config))
    serve_manifest(script, "team/app", "1.0.0", manifest_reply(body))
    manifest = Manifest(DOCKER_MANIFEST, body, digest_of(body))
    missing = "sha256:" + "0" * 64
    return [
        ("GET", "/v2/", "ping", lambda c: c.ping()),
        (
            "GET",
            "/v2/team/app/tags/list",
            "list the tags of team/app",
            lambda c: c.tags("team/app"),
        ),
        (
            "GET",
            "/v2/team/app/manifests/one",
            "read manifest team/app:one",
            lambda c: c.get_manifest("team/app", "one"),
        ),
        (
            "GET",
            f"/v2/team/app/manifests/{missing}",
            f"read manifest team/app@{missing}",
            lambda c: c.get_manifest("team/app", missing),
        ),
        (
            "GET",
            f"/v2/team/app/blobs/{digest_of(config)}",
            "read the image config of team/app:1.0.0",
            lambda c: c.config_labels("team/app", "1.0.0"),
        ),
        (
            "PUT",
            "/v2/team/app/manifests/two",
            f"add tag team/app:two -> {manifest.digest}",
            lambda c: c.put_manifest("team/app", "two", manifest),
        ),
    ]


@pytest.mark.parametrize("which", range(6))
def test_a_refusal_names_the_operation_and_shows_the_registry_error(
    script: Script, which: int
) -> None:
    method, path, operation, call = _calls(script)[which]
    script.on(method, path, DENIED)

    failure = caught(lambda: call(script.client()))

    assert failure.message == (
        f"{script.host}: {operation} failed: HTTP 400 "
        "(DENIED: requested access to the resource is denied)"
    )
    assert type(failure) is RegistryError


@pytest.mark.parametrize("which", range(6))
def test_a_registry_that_stays_down_names_the_operation(script: Script, which: int) -> None:
    method, path, operation, call = _calls(script)[which]
    script.on(method, path, error(503, "UNAVAILABLE", "down for maintenance"))

    failure = caught(lambda: call(script.client(retries=1)))

    assert failure.message == (
        f"{script.host}: {operation} failed after 2 attempts: "
        "HTTP 503 (UNAVAILABLE: down for maintenance)"
    )
    assert failure.hint == f"check that {script.url} is up and reachable, then retry"


def test_a_failed_look_up_names_the_tag(script: Script) -> None:
    script.on("HEAD", "/v2/team/app/manifests/one", Reply(400))

    failure = caught(lambda: script.client().manifest_digest("team/app", "one"))

    assert failure.message == f"{script.host}: look up team/app:one failed: HTTP 400"


def test_a_reference_by_digest_is_named_with_an_at_sign(script: Script) -> None:
    # a digest follows "@" in a reference (distribution/reference, reference.go's grammar)
    def served(body: bytes, media_type: str = DOCKER_MANIFEST) -> str:
        serve_manifest(script, "team/app", digest_of(body), manifest_reply(body, media_type))
        return digest_of(body)

    amd, arm = ({"os": "linux", "architecture": a} for a in ("amd64", "arm64"))
    images = (entry("sha256:" + "1" * 64, amd), entry("sha256:" + "2" * 64, arm))
    multi = served(index(*images), OCI_INDEX)
    no_config, not_json = served(image(config=None)), served(b"{not json", OCI_INDEX)
    config = served(image("sha256:" + "3" * 64))
    missing = "sha256:" + "4" * 64
    script.on("HEAD", f"/v2/team/app/manifests/{missing}", Reply(400))
    script.on("PUT", f"/v2/team/app/manifests/{missing}", Reply(400))
    put = Manifest(DOCKER_MANIFEST, image(), missing)
    client = script.client()

    expected = {
        lambda: client.config_digest("team/app", multi): (
            f"team/app@{multi} is a multi-platform image (linux/amd64, linux/arm64)"
        ),
        lambda: client.config_digest("team/app", no_config): (
            f"manifest team/app@{no_config} has no config digest"
        ),
        lambda: client.platforms("team/app", not_json): (
            f"manifest team/app@{not_json} is not valid JSON"
        ),
        lambda: client.config_labels("team/app", config): (
            f"read the image config of team/app@{config} failed: HTTP 404"
        ),
        lambda: client.manifest_digest("team/app", missing): (
            f"look up team/app@{missing} failed: HTTP 400"
        ),
        # a write by digest adds no tag (it used to say "add tag team/app@sha256:...")
        lambda: client.put_manifest("team/app", missing, put): (
            f"write manifest team/app@{missing} failed: HTTP 400"
        ),
    }
    shown = [caught(call).message for call in expected]
    assert shown == [f"{script.host}: {message}" for message in expected.values()]


@pytest.mark.parametrize(
    ("errors", "detail"),
    [
        ([{"code": "DENIED", "message": "no access"}], " (DENIED: no access)"),
        ([{"message": "something broke"}], " (?: something broke)"),
        ([{"code": "UNSUPPORTED"}], " (UNSUPPORTED)"),
        ([{"code": "UNSUPPORTED", "message": ""}], " (UNSUPPORTED)"),
        (
            [{"code": "NAME_INVALID", "message": "bad"}, {"code": "TAG_INVALID", "message": "x"}],
            " (NAME_INVALID: bad; TAG_INVALID: x)",
        ),
        ([{"code": "MANIFEST_INVALID", "message": "unknown field X"}], ""),
        ([], ""),
    ],
)
def test_the_registry_error_is_shown_as_code_and_message(
    script: Script, errors: list[dict[str, str]], detail: str
) -> None:
    if errors and not detail:  # shown whole, whatever its first and last letters
        detail = f" ({errors[0]['code']}: {errors[0]['message']})"
    script.on("GET", "/v2/", json_reply(400, {"errors": errors}))

    failure = caught(lambda: script.client().ping())

    assert failure.message == f"{script.host}: ping failed: HTTP 400{detail}"


def test_an_empty_error_body_adds_nothing_to_the_message(script: Script) -> None:
    script.on("GET", "/v2/", Reply(500))

    failure = caught(lambda: script.client().ping())

    assert failure.message == f"{script.host}: ping failed after 1 attempt: HTTP 500"


# -- authentication ------------------------------------------------------------------------


def test_a_denial_with_a_text_body_shows_the_challenge_error(script: Script) -> None:
    challenge = f'Bearer realm="{script.url}/token",error="insufficient_scope"'
    script.on("GET", "/v2/team/app/tags/list", Reply(403, {"WWW-Authenticate": challenge}, b"no"))

    failure = caught(lambda: script.client().tags("team/app"), AuthError)

    assert failure.message == (
        f"{script.host}: list the tags of team/app: user 'alice' was denied access (the "
        "repository does not exist or the user lacks permission) (insufficient_scope)"
    )
    assert failure.hint == HINT
    assert len(script.seen) == 1  # a 403 is an answer, not a challenge


def test_a_403_to_known_credentials_is_a_denial_not_a_rejection(script: Script) -> None:
    script.on("GET", "/v2/", Reply(403))

    failure = caught(lambda: script.client().ping(), AuthError)

    assert "user 'alice' was denied access" in failure.message
    assert failure.hint == HINT


@pytest.mark.parametrize("challenge", [None, "Negotiate", 'Bearer service="svc"'])
def test_credentials_go_only_where_the_challenge_asks_for_them(
    script: Script, challenge: str | None
) -> None:
    headers = {"WWW-Authenticate": challenge} if challenge else {}
    script.on("GET", "/v2/", Reply(401, headers))

    failure = caught(lambda: script.client().ping(), AuthError)

    assert "the credentials of user 'alice' were rejected" in failure.message
    assert [s.authorization for s in script.seen] == [None]  # asked once, nothing sent


def test_basic_credentials_are_sent_once_asked_for(script: Script) -> None:
    script.on("GET", "/v2/", challenged('Basic realm="registry"'), Reply(200))

    script.client().ping()

    sent = [s.authorization for s in script.seen]
    assert sent[0] is None and sent[1] is not None and sent[1].startswith("Basic ")


def test_a_registry_that_asks_for_credentials_when_none_were_given_says_so(
    script: Script,
) -> None:
    script.on("GET", "/v2/", challenged('Basic realm="registry"'))

    failure = caught(lambda: script.client(None).ping(), AuthError)

    assert failure.message == (
        f"{script.host}: ping: the registry requires credentials "
        "(UNAUTHORIZED: authentication required)"
    )
    assert failure.hint == HINT


def test_a_registry_down_after_its_challenge_names_the_operation(script: Script) -> None:
    down = error(503, "UNAVAILABLE", "down")
    script.on("GET", "/v2/", challenged('Basic realm="registry"'), down)

    failure = caught(lambda: script.client().ping())

    assert failure.message == (
        f"{script.host}: ping failed after 1 attempt: HTTP 503 (UNAVAILABLE: down)"
    )
    assert [s.authorization is not None for s in script.seen] == [False, True]


def test_the_token_request_carries_every_scope_the_service_and_the_account(
    script: Script,
) -> None:
    challenge = (
        f'Bearer realm="{script.url}/token?via=realm",service="svc",'
        'scope="repository:team/base:pull"'
    )
    tokens = Tokens(script, challenge)
    script.on("GET", "/v2/team/app/tags/list", tokens.guard(None, json_reply(200, {"tags": []})))

    assert script.client().tags("team/app") == []

    (request,) = script.to("/token")
    assert request.query == {
        "via": ["realm"],
        "service": ["svc"],
        "scope": ["repository:team/app:pull", "repository:team/base:pull"],
        "account": ["alice"],
    }
    assert request.headers["user-agent"] == USER_AGENT
    assert (request.authorization or "").startswith("Basic ")


def test_a_token_request_with_nothing_to_add_uses_the_realm_as_given(script: Script) -> None:
    tokens = Tokens(script, f'Bearer realm="{script.url}/token"')
    script.on("GET", "/v2/", tokens.guard(None, Reply(200)))

    script.client(None).ping()

    assert [s.target for s in script.to("/token")] == ["/token"]


@pytest.mark.parametrize(
    "params",
    [
        'realm="{url}/token", service="the \\"svc\\""',  # a space after each comma, a quote
        "realm={url}/token,service=the-svc",  # bare values
    ],
)
def test_challenge_parameters_are_read_quoted_or_bare(script: Script, params: str) -> None:
    tokens = Tokens(script, "Bearer " + params.format(url=script.url))
    script.on("GET", "/v2/", tokens.guard(None, Reply(200)))

    script.client().ping()

    (request,) = script.to("/token")
    assert request.query["service"] == ['the "svc"' if "\\" in params else "the-svc"]


def test_each_operation_asks_for_a_token_of_its_own_scope(script: Script) -> None:
    # The challenge names no scope: the client must know which one each call needs.
    tokens = Tokens(script)
    pull, push = "repository:team/app:pull", "repository:team/app:pull,push"
    config = json.dumps({"config": {"Labels": {"a": "b"}}}).encode()
    body = image(digest_of(config))
    script.on("GET", "/v2/team/app/manifests/one", tokens.guard(pull, manifest_reply(body)))
    script.on(
        "GET", f"/v2/team/app/blobs/{digest_of(config)}", tokens.guard(pull, Reply(200, {}, config))
    )
    put = Reply(201, {"Docker-Content-Digest": digest_of(body)})
    script.on("PUT", "/v2/team/app/manifests/two", tokens.guard(push, put))
    client = script.client()

    assert client.get_manifest("team/app", "one").digest == digest_of(body)
    assert client.config_labels("team/app", "one") == {"a": "b"}
    assert client.add_tag("team/app", "one", "two") == digest_of(body)

    scopes = [s.query.get("scope") for s in script.to("/token")]
    assert scopes == [[pull], [push]]  # one token per scope, reused for the config blob
    assert {s.headers.get("user-agent") for s in script.seen} == {USER_AGENT}


def test_a_token_without_a_scope_is_reused_too(script: Script) -> None:
    tokens = Tokens(script)
    script.on("GET", "/v2/", tokens.guard(None, Reply(200)))
    client = script.client()

    client.ping()
    client.ping()

    assert len(script.to("/token")) == 1
    assert [s.authorization for s in script.to("/v2/")] == [None, "Bearer tok-1", "Bearer tok-1"]


def test_a_token_is_read_from_access_token_too(script: Script) -> None:
    script.on("GET", "/token", json_reply(200, {"access_token": "tok-9"}))
    script.on(
        "GET",
        "/v2/",
        lambda s: Reply(200) if s.authorization == "Bearer tok-9" else challenged(_realm(script)),
    )

    script.client().ping()  # an AuthError unless tok-9 was read and sent


def _realm(script: Script) -> str:
    return f'Bearer realm="{script.url}/token",service="svc"'


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            error(503, "UNAVAILABLE", "down"),
            "list the tags of team/app (token request) failed after 1 attempt: "
            "HTTP 503 (UNAVAILABLE: down)",
        ),
        (
            error(400, "INVALID", "bad scope"),
            "list the tags of team/app (token request) failed: HTTP 400 (INVALID: bad scope)",
        ),
        (
            Reply(200, {}, b"<html>"),
            "list the tags of team/app (token request): the response is not a JSON object",
        ),
        (
            json_reply(200, {"token": 42}),
            "list the tags of team/app: the token service returned no token",
        ),
    ],
)
def test_a_token_service_failure_names_the_operation(
    script: Script, reply: Reply, message: str
) -> None:
    script.on("GET", "/token", reply)
    script.on("GET", "/v2/team/app/tags/list", challenged(_realm(script)))

    failure = caught(lambda: script.client().tags("team/app"))

    assert failure.message == f"{script.host}: {message}"
    assert type(failure) is RegistryError


def test_a_token_service_that_denies_is_an_auth_error(script: Script) -> None:
    script.on("GET", "/token", error(403, "DENIED", "not yours"))
    script.on("GET", "/v2/team/app/tags/list", challenged(_realm(script)))

    failure = caught(lambda: script.client().tags("team/app"), AuthError)

    assert failure.message.startswith(
        f"{script.host}: list the tags of team/app: user 'alice' was denied access"
    )
    assert failure.message.endswith("(DENIED: not yours)")


def test_a_token_realm_that_is_not_http_is_refused(script: Script) -> None:
    script.on("GET", "/v2/team/app/tags/list", challenged('Bearer realm="ftp://auth.example/t"'))

    failure = caught(lambda: script.client().tags("team/app"))

    assert failure.message == (
        f"{script.host}: list the tags of team/app: unusable token realm 'ftp://auth.example/t'"
    )


def test_an_https_token_realm_is_used(script: Script) -> None:
    realm = f"https://127.0.0.1:{free_port()}/token"
    script.on("GET", "/v2/team/app/tags/list", challenged(f'Bearer realm="{realm}"'))

    failure = caught(lambda: script.client().tags("team/app"))

    assert failure.message == (
        f"{script.host}: list the tags of team/app (token request) failed after 1 attempt: "
        "connection refused"
    )


@pytest.mark.parametrize(
    ("payload", "reused_at", "renewed_at"),
    [
        ({"expires_in": 100}, 89.9, 90.1),  # renewed at nine tenths of its lifetime
        ({}, 53.9, 54.1),  # no lifetime given: 60 s
        ({"expires_in": "300"}, 53.9, 54.1),  # not a number: 60 s
        # no positive finite number of seconds: 60 s, as if absent
        ({"expires_in": True}, 53.9, 54.1),
        ({"expires_in": float("nan")}, 53.9, 54.1),
        ({"expires_in": float("inf")}, 53.9, 54.1),
        ({"expires_in": -5}, 53.9, 54.1),
        ({"expires_in": 0}, 53.9, 54.1),
        ({"expires_in": 0.5}, 0.9, 1.0),  # never less than a second, and over when it is up
    ],
)
def test_a_token_is_reused_until_shortly_before_it_expires(
    script: Script,
    monkeypatch: pytest.MonkeyPatch,
    payload: dict[str, object],
    reused_at: float,
    renewed_at: float,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    tokens = Tokens(script, **payload)
    script.on("GET", "/v2/team/app/tags/list", tokens.guard(None, json_reply(200, {"tags": []})))
    client = script.client()

    client.tags("team/app")
    now[0] = 1000.0 + reused_at
    client.tags("team/app")
    assert len(script.to("/token")) == 1
    now[0] = 1000.0 + renewed_at
    client.tags("team/app")
    assert len(script.to("/token")) == 2


def test_a_redirected_put_is_not_followed_and_shows_the_reply(script: Script) -> None:
    body = image()
    moved = error(307, "MOVED", "try elsewhere", {"Location": f"{script.url}/elsewhere"})
    script.on("PUT", "/v2/team/app/manifests/two", moved)

    failure = caught(
        lambda: script.client().put_manifest(
            "team/app", "two", Manifest(DOCKER_MANIFEST, body, digest_of(body))
        )
    )

    assert failure.message == (
        f"{script.host}: add tag team/app:two -> {digest_of(body)} failed: "
        "HTTP 307 (MOVED: try elsewhere)"
    )
    assert script.to("/elsewhere") == []


# -- transport ------------------------------------------------------------------------------


def test_a_client_has_the_documented_defaults() -> None:
    client = RegistryClient("ghcr.io")

    assert (client.timeout, client.retries, client.backoff) == (30, 3, 0.5)


def test_retries_wait_longer_each_time(script: Script, monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[float] = []
    monkeypatch.setattr(time, "sleep", waited.append)
    script.on("GET", "/v2/", error(500, "INTERNAL", "oops"))

    caught(lambda: script.client(retries=3, backoff=0.5).ping())

    assert waited == [0.5, 1.0, 2.0]  # none after the last attempt


@pytest.mark.parametrize(
    ("retry_after", "waited"),
    [("7", 7.0), ("0", 0.5), ("3600", 30.0), ("soon", 0.5), ("inf", 0.5)],
)
def test_a_429_waits_as_long_as_asked_within_bounds(
    script: Script, monkeypatch: pytest.MonkeyPatch, retry_after: str, waited: float
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    busy = error(429, "TOOMANYREQUESTS", "slow down", {"Retry-After": retry_after})
    script.on("GET", "/v2/", busy, Reply(200))

    script.client(retries=1, backoff=0.5).ping()

    assert slept == [waited]


def test_loopback_registries_are_reached_without_the_environment_proxy(
    script: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = Script()
    try:
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        for name in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        script.on("GET", "/v2/", Reply(200))

        script.client().ping()

        assert proxy.seen == [] and len(script.seen) == 1
    finally:
        proxy.close()


# -- transport failures --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "described"),
    [(CLOSE, "connection closed without a response"), (RESET, "connection reset")],
)
def test_a_dropped_connection_is_retried_then_described(
    script: Script, fault: str, described: str
) -> None:
    script.on("GET", "/v2/", fault)

    failure = caught(lambda: script.client(retries=1).ping())

    assert failure.message == f"{script.host}: ping failed after 2 attempts: {described}"
    assert len(script.seen) == 2


def test_tls_to_a_plain_http_registry_fails_at_once_with_the_error_named(script: Script) -> None:
    client = script.client(insecure=False, retries=3)

    failure = caught(client.ping)

    assert failure.message.startswith(f"{script.host}: ping failed: SSLError: ")
    assert failure.hint == f"check the registry address https://{script.host}"
    assert len(script.seen) <= 1  # not retried


@pytest.mark.parametrize(("errno", "attempts"), [(socket.EAI_NONAME, 1), (socket.EAI_AGAIN, 3)])
def test_only_a_temporary_name_resolution_failure_is_retried(
    monkeypatch: pytest.MonkeyPatch, errno: int, attempts: int
) -> None:
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    asked: list[str] = []

    def unresolvable(host: str, *args: object, **kwargs: object) -> list[object]:
        asked.append(host)
        raise socket.gaierror(errno, "name resolution failed")

    monkeypatch.setattr(socket, "getaddrinfo", unresolvable)
    client = RegistryClient("registry.invalid", USER, insecure=True, retries=2, backoff=0.01)

    failure = caught(client.ping)

    assert asked == ["registry.invalid"] * attempts
    if attempts == 1:
        assert failure.message == (
            f"registry.invalid: ping failed: gaierror: [Errno {errno}] name resolution failed"
        )


# -- manifests -----------------------------------------------------------------------------


def test_a_look_up_without_a_digest_header_reads_the_manifest(script: Script) -> None:
    body = image()
    script.on("HEAD", "/v2/team/app/manifests/one", Reply(200, {"Content-Type": DOCKER_MANIFEST}))
    script.on("GET", "/v2/team/app/manifests/one", manifest_reply(body))

    assert script.client().manifest_digest("team/app", "one") == digest_of(body)


def test_a_tag_gone_between_look_up_and_read_has_no_digest(script: Script) -> None:
    script.on("HEAD", "/v2/team/app/manifests/one", Reply(200, {"Content-Type": DOCKER_MANIFEST}))
    script.on("GET", "/v2/team/app/manifests/one", Reply(404))

    assert script.client().manifest_digest("team/app", "one") is None


def test_manifests_are_asked_for_in_every_media_type(script: Script) -> None:
    serve_manifest(script, "team/app", "one", manifest_reply(image()))

    script.client().get_manifest("team/app", "one")

    (request,) = script.seen
    accepted = {t.strip() for t in request.headers["accept"].split(",")}
    assert accepted == {DOCKER_MANIFEST, OCI_MANIFEST, OCI_INDEX, _list_type()}


def _list_type() -> str:
    return "application/vnd.docker.distribution.manifest.list.v2+json"


def test_a_digest_header_that_does_not_match_the_body_is_refused(script: Script) -> None:
    body = image()
    claimed = "sha256:" + "0" * 64
    serve_manifest(script, "team/app", "one", manifest_reply(body, Docker_Content_Digest=claimed))

    failure = caught(lambda: script.client().get_manifest("team/app", "one"))

    assert failure.message == (
        f"{script.host}: manifest team/app:one does not match its digest {claimed} "
        f"(got {digest_of(body)})"
    )


def test_a_manifest_read_by_digest_names_that_digest_whatever_the_hash_seed(
    script: Script,
) -> None:
    # the body matches neither the digest asked for nor the header's: the one asked for is
    # named, in every run, not whichever a set of the two happens to give first
    asked, claimed, body = "sha256:" + "1" * 64, "sha256:" + "2" * 64, image()
    reply = manifest_reply(body, Docker_Content_Digest=claimed)
    script.on("GET", f"/v2/team/app/manifests/{asked}", reply)
    child = (
        "import sys\n"
        "from buildlib.errors import RegistryError\n"
        "from buildlib.registry import RegistryClient\n"
        "try:\n"
        "    RegistryClient(sys.argv[1], retries=0).get_manifest('team/app', sys.argv[2])\n"
        "except RegistryError as error:\n"
        "    print(error.message)\n"
    )
    said = {
        subprocess.run(
            [sys.executable, "-c", child, script.host, asked],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in map(str, range(10))
    }

    assert said == {
        f"{script.host}: manifest team/app@{asked} does not match its digest {asked} "
        f"(got {digest_of(body)})"
    }


@pytest.mark.parametrize(
    ("content_type", "body", "media_type"),
    [
        (OCI_MANIFEST, image(mediaType=None), OCI_MANIFEST),  # the body need not say
        (f"{OCI_INDEX}; charset=utf-8", index(media_type=None), OCI_INDEX),
        ("application/octet-stream", index(), OCI_INDEX),  # the body says better
        (None, index(), OCI_INDEX),
        ("application/json", json.dumps({"mediaType": ""}).encode(), "application/json"),
    ],
)
def test_the_media_type_comes_from_the_header_or_the_body(
    script: Script, content_type: str | None, body: bytes, media_type: str
) -> None:
    serve_manifest(script, "team/app", "one", manifest_reply(body, content_type))

    assert script.client().get_manifest("team/app", "one").media_type == media_type


@pytest.mark.parametrize("ref", ["one", "sha256:" + "0" * 64])
def test_a_manifest_of_no_media_type_is_refused(script: Script, ref: str) -> None:
    body = json.dumps({"schemaVersion": 2}).encode()
    reply = manifest_reply(body, None)
    if ref != "one":
        ref = digest_of(body)
    serve_manifest(script, "team/app", ref, reply)

    failure = caught(lambda: script.client().get_manifest("team/app", ref))

    shown = "team/app:one" if ref == "one" else f"team/app@{ref}"
    assert failure.message == f"{script.host}: manifest {shown} has no media type"


def test_a_manifest_that_is_not_an_object_is_named(script: Script) -> None:
    body = b"[1, 2]"
    serve_manifest(script, "team/app", "one", manifest_reply(body))

    failure = caught(lambda: script.client().config_digest("team/app", "one"))

    assert failure.message == (
        f"{script.host}: manifest team/app@{digest_of(body)} is not valid JSON"
    )


def test_a_missing_manifest_by_digest_is_named_by_digest(script: Script) -> None:
    missing = "sha256:" + "0" * 64

    failure = caught(lambda: script.client().get_manifest("team/app", missing))

    assert failure.message == f"{script.host}: manifest team/app@{missing} not found"
    assert failure.hint == "check that the image was pushed under that tag"


def test_a_manifest_that_is_not_json_is_named(script: Script) -> None:
    body = b"{not json"
    serve_manifest(script, "team/app", "one", manifest_reply(body))
    serve_manifest(script, "team/app", "multi", manifest_reply(body, OCI_INDEX))
    client = script.client()

    failure = caught(lambda: client.config_digest("team/app", "one"))
    assert failure.message == (
        f"{script.host}: manifest team/app@{digest_of(body)} is not valid JSON"
    )
    for call in (client.platforms, client.config_digest):
        failure = caught(functools.partial(call, "team/app", "multi"))
        assert failure.message == (
            f"{script.host}: manifest team/app:multi@{digest_of(body)} is not valid JSON"
        )


@pytest.mark.parametrize(
    "body",
    [image(config=None), json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST}).encode()],
)
def test_a_manifest_without_a_config_has_no_config_digest(script: Script, body: bytes) -> None:
    serve_manifest(script, "team/app", "one", manifest_reply(body))

    failure = caught(lambda: script.client().config_digest("team/app", "one"))

    assert failure.message == f"{script.host}: manifest team/app:one has no config digest"


def _platform_index(script: Script) -> dict[str, str]:
    """An index of three platforms after an attestation; platform -> config digest."""
    configs: dict[str, str] = {}
    entries: list[object] = [attestation()]
    for os_name, arch, variant in [("linux", "arm", "v7"), ("linux", "arm64", "v8")] + [
        ("linux", "amd64", None)
    ]:
        platform = "/".join(p for p in (os_name, arch, variant) if p)
        config = json.dumps({"config": {"Labels": {"platform": platform}}}).encode()
        body = image(digest_of(config))
        script.on("GET", f"/v2/team/app/manifests/{digest_of(body)}", manifest_reply(body))
        script.on("GET", f"/v2/team/app/blobs/{digest_of(config)}", Reply(200, {}, config))
        spec = {"os": os_name, "architecture": arch, **({"variant": variant} if variant else {})}
        entries.append(entry(digest_of(body), spec))
        configs[platform] = digest_of(config)
    serve_manifest(script, "team/app", "multi", manifest_reply(index(*entries), OCI_INDEX))
    return configs


def test_platforms_list_every_image_of_an_index_with_its_variant(script: Script) -> None:
    _platform_index(script)

    platforms = script.client().platforms("team/app", "multi")

    assert platforms == ("linux/amd64", "linux/arm/v7", "linux/arm64/v8")


def test_a_platform_without_its_variant_picks_the_one_image_of_it(script: Script) -> None:
    configs = _platform_index(script)
    client = script.client()

    assert (
        client.config_digest("team/app", "multi", platform="linux/arm") == configs["linux/arm/v7"]
    )
    labels = client.config_labels("team/app", "multi", platform="linux/arm64")
    assert labels == {"platform": "linux/arm64/v8"}


@pytest.mark.parametrize(
    ("platform", "listed", "end"),
    [
        (None, "linux/amd64, linux/arm/v7, linux/arm64/v8", ""),
        ("linux/s390x", "linux/amd64, linux/arm/v7, linux/arm64/v8", " without exactly one "),
    ],
)
def test_an_index_without_the_one_image_asked_for_says_which_there_are(
    script: Script, platform: str | None, listed: str, end: str
) -> None:
    _platform_index(script)

    failure = caught(lambda: script.client().config_digest("team/app", "multi", platform=platform))

    expected = f"{script.host}: team/app:multi is a multi-platform image ({listed})"
    if end:
        expected += f"{end}{platform} image"
    assert failure.message == expected
    assert failure.hint == "pass platform='os/arch' to pick one"


def test_an_index_of_no_image_says_it_is_empty(script: Script) -> None:
    serve_manifest(script, "team/app", "none", manifest_reply(index(attestation()), OCI_INDEX))

    failure = caught(lambda: script.client().config_digest("team/app", "none"))

    assert failure.message == f"{script.host}: team/app:none is a multi-platform image (empty)"


def test_an_index_entry_with_an_odd_platform_is_still_an_image(script: Script) -> None:
    body = image("sha256:" + "a" * 64)
    script.on("GET", f"/v2/team/app/manifests/{digest_of(body)}", manifest_reply(body))
    reply = manifest_reply(index(entry(digest_of(body), "linux/amd64")), OCI_INDEX)
    serve_manifest(script, "team/app", "odd", reply)

    assert script.client().config_digest("team/app", "odd") == "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("listed", "asked"),
    [
        (["linux/amd64", "linux/amd64"], None),
        (["linux/amd64", "linux/amd64"], "linux/amd64"),
        (["linux/arm64", "linux/arm64/v8"], "linux/arm64"),  # one platform by docker's names
    ],
)
def test_a_platform_listed_twice_in_an_index_is_its_first_image(
    script: Script, listed: list[str], asked: str | None
) -> None:
    # image-index.md (OCI image-spec): "the first matching entry SHOULD be used"
    entries = []
    for n, platform in enumerate(listed):
        body = image("sha256:" + str(n) * 64)
        script.on("GET", f"/v2/team/app/manifests/{digest_of(body)}", manifest_reply(body))
        os_name, arch, *variant = platform.split("/")
        spec = {"os": os_name, "architecture": arch, **({"variant": variant[0]} if variant else {})}
        entries.append(entry(digest_of(body), spec))
    serve_manifest(script, "team/app", "twice", manifest_reply(index(*entries), OCI_INDEX))
    client = script.client()

    assert client.config_digest("team/app", "twice", platform=asked) == "sha256:" + "0" * 64
    assert client.platforms("team/app", "twice") == tuple(sorted(set(listed)))


# -- image configs -------------------------------------------------------------------------


def _config(script: Script, blob: bytes) -> None:
    serve_manifest(script, "team/app", "1.0.0", manifest_reply(image(digest_of(blob))))
    script.on("GET", f"/v2/team/app/blobs/{digest_of(blob)}", Reply(200, {}, blob))


def test_a_config_that_is_not_json_is_named(script: Script) -> None:
    _config(script, b"{not json")

    failure = caught(lambda: script.client().config_labels("team/app", "1.0.0"))

    assert failure.message == (
        f"{script.host}: read the image config of team/app:1.0.0: not valid JSON"
    )


def test_a_config_that_is_not_an_object_has_no_labels(script: Script) -> None:
    _config(script, b"[]")

    assert script.client().config_labels("team/app", "1.0.0") == {}


@pytest.mark.parametrize("blob", [b'{"config": ["x"]}', b'{"config": {"Labels": ["x"]}}'])
def test_a_config_whose_labels_are_not_an_object_has_no_labels(script: Script, blob: bytes) -> None:
    _config(script, blob)

    assert script.client().config_labels("team/app", "1.0.0") == {}


# -- writing -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201])
def test_a_put_answered_without_a_digest_is_checked_by_a_look_up(
    script: Script, status: int
) -> None:
    body = image()
    script.on("PUT", "/v2/team/app/manifests/two", Reply(status))
    script.on("HEAD", "/v2/team/app/manifests/two", manifest_reply(body))
    manifest = Manifest(DOCKER_MANIFEST, body, digest_of(body))

    assert script.client().put_manifest("team/app", "two", manifest) == digest_of(body)
    assert [s.method for s in script.seen] == ["PUT", "HEAD"]


# -- tags ----------------------------------------------------------------------------------


def test_a_tag_list_that_is_not_json_is_named(script: Script) -> None:
    script.on("GET", "/v2/team/app/tags/list", Reply(200, {}, b"<html>"))

    failure = caught(lambda: script.client().tags("team/app"))

    assert failure.message == (
        f"{script.host}: list the tags of team/app: the response is not a JSON object"
    )


@pytest.mark.parametrize("listed", ["1.0.0", 5, {"1.0.0": 1}, ["1.0.0", 2]])
def test_tags_that_are_not_a_list_of_strings_are_named(script: Script, listed: object) -> None:
    script.on("GET", "/v2/team/app/tags/list", json_reply(200, {"tags": listed}))

    failure = caught(lambda: script.client().tags("team/app"))

    assert failure.message == (
        f"{script.host}: list the tags of team/app: the tags are not a list of strings"
    )


def test_a_repository_listed_with_null_tags_has_none(script: Script) -> None:
    script.on("GET", "/v2/team/app/tags/list", json_reply(200, {"name": "team/app", "tags": None}))

    assert script.client().tags("team/app") == []


def test_a_next_page_on_another_host_is_refused(script: Script) -> None:
    link = '<http://elsewhere.example/v2/team/app/tags/list?last=a>; rel="next"'
    script.on("GET", "/v2/team/app/tags/list", json_reply(200, {"tags": ["a"]}, {"Link": link}))

    failure = caught(lambda: script.client().tags("team/app"))

    assert failure.message == (
        f"{script.host}: list the tags of team/app: next page is on another host"
    )


def test_endless_pages_of_tags_stop(script: Script) -> None:
    link = '</v2/team/app/tags/list?last=a>; rel="next"'
    script.on("GET", "/v2/team/app/tags/list", json_reply(200, {"tags": ["a"]}, {"Link": link}))

    failure = caught(lambda: script.client().tags("team/app"))

    assert failure.message == (
        f"{script.host}: list the tags of team/app: more than 100 pages of tags"
    )


def test_a_hundred_pages_of_tags_are_all_read(script: Script) -> None:
    def page(seen: Seen) -> Reply:
        number = int(seen.query.get("last", ["0"])[0]) + 1
        link = f'</v2/team/app/tags/list?last={number}>; rel="next"' if number < 100 else None
        return json_reply(200, {"tags": [str(number)]}, {"Link": link} if link else None)

    script.on("GET", "/v2/team/app/tags/list", page)

    assert script.client().tags("team/app") == [str(n) for n in range(1, 101)]


# -- what a client shows of itself ---------------------------------------------------------


def test_a_client_shows_its_user_but_never_the_secret() -> None:
    shown = repr(RegistryClient("ghcr.io", USER))

    assert shown == "RegistryClient('ghcr.io', username='alice', base_url='https://ghcr.io')"


# -- https registries ----------------------------------------------------------------------


@pytest.fixture
def tls_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Script]:
    """A scripted registry behind TLS, with a certificate for 127.0.0.1 that the client
    trusts (``SSL_CERT_FILE``)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    started = Script(tls=context)
    yield started
    started.close()


def test_an_https_registry_never_sends_credentials_to_a_plain_http_token_service(
    tls_script: Script,
) -> None:
    realm = f"http://{tls_script.host}/token"
    tls_script.on("GET", "/v2/", challenged(f'Bearer realm="{realm}"'))
    client = tls_script.client(insecure=False)

    failure = caught(client.ping)

    assert failure.message == (
        f"{tls_script.host}: ping: the registry sends credentials to a plain http token "
        f"service ({realm}); refused"
    )
    assert failure.hint == "the registry's token realm must be https"
    assert tls_script.to("/token") == []
