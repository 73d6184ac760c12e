"""credentials, registry-auth, git-branch, release-tag."""

from __future__ import annotations

import base64
import json

import pytest

from buildlib.checks.project import Project
from buildlib.checks.publishing import (
    check_branch,
    check_credentials,
    check_registry_auth,
    check_release_tag,
    find_credentials,
)
from buildlib.errors import AuthError, RegistryError
from tests.support.fixture_repo import TOKEN_ENV, USER_ENV, commit, git, make_repo

pytestmark = pytest.mark.usefixtures("isolated")

SECRET = "s3cr3t-token-value"


def load(repo, **env):
    return Project.load(repo, environ=env)


def log_in_as_bob(tmp_path, monkeypatch, registry="ghcr.io"):
    """A docker login of bob (token SECRET) for ``registry``, in a config dir of its own."""
    config_dir = tmp_path / "docker-login"
    config_dir.mkdir()
    auth = base64.b64encode(f"bob:{SECRET}".encode()).decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))


# --- credentials -----------------------------------------------------------------------


def test_missing_credentials_fail_for_push_and_name_the_variables(repo):
    result = check_credentials(load(repo), for_="push")

    assert (result.id, result.status) == ("credentials", "fail")
    assert USER_ENV in result.message and TOKEN_ENV in result.message
    assert f"export {USER_ENV}=<user> {TOKEN_ENV}=<token>" in result.hint
    assert "docker login" in result.hint


def test_missing_credentials_are_skipped_without_for(repo):
    result = check_credentials(load(repo))

    assert result.status == "skipped"
    assert "--for push" in result.message


def test_credentials_from_env_never_show_the_secret(repo):
    result = check_credentials(load(repo, **{USER_ENV: "alice", TOKEN_ENV: SECRET}), for_="push")

    assert result.status == "ok"
    assert "'alice'" in result.message and f"${USER_ENV}" in result.message
    assert SECRET not in json.dumps(result.as_dict())


def test_a_docker_config_the_sdk_cannot_read_fails_in_one_line(repo, tmp_path, monkeypatch):
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    (config_dir / "config.json").write_text("[]\n")  # JSON, but no object: the SDK raises
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))

    result = check_credentials(Project.load(repo, environ={}, registry="ghcr.io"))

    assert (result.status, result.hint) == (
        "fail",
        "check $DOCKER_CONFIG/config.json (or ~/.docker/config.json)",
    )
    assert result.message.startswith("could not read the docker login for ghcr.io: ")
    assert result.message.endswith(": AttributeError: 'list' object has no attribute 'get'")


def test_half_set_credentials_fail(repo):
    result = check_credentials(load(repo, **{USER_ENV: "alice"}), for_="push")

    assert result.status == "fail"
    assert TOKEN_ENV in result.message


def test_existing_docker_login_counts(repo, tmp_path, monkeypatch):
    log_in_as_bob(tmp_path, monkeypatch, "https://index.docker.io/v1/")

    result = check_credentials(load(repo), for_="push")

    assert result.status == "ok"
    assert "'bob'" in result.message and "docker login for docker.io" in result.message
    assert SECRET not in result.message


def test_local_registry_without_credentials_only_warns(repo):
    result = check_credentials(
        Project.load(repo, environ={}, registry="127.0.0.1:5000"), for_="push"
    )

    assert result.status == "warn"
    assert "127.0.0.1:5000" in result.message


# --- registry-auth ---------------------------------------------------------------------


def test_registry_auth_needs_for(repo):
    result = check_registry_auth(load(repo, **{USER_ENV: "alice", TOKEN_ENV: SECRET}))

    assert result.status == "skipped"
    assert "network" in result.message


def test_registry_auth_without_credentials_is_skipped(repo):
    result = check_registry_auth(load(repo), for_="push")

    assert result.status == "skipped"
    assert "see credentials" in result.message


class FakeClient:
    error: Exception | None = None
    seen: list[tuple[str, str]] = []

    def __init__(self, host, credentials, **kwargs):
        self.host = host
        self.base_url = f"https://{host}"
        FakeClient.seen.append((host, credentials.username))

    def ping(self):
        if FakeClient.error is not None:
            raise FakeClient.error
        return True


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        (None, "ok", "accepted the credentials of 'alice'"),
        (
            AuthError("docker.io: ping: 401 unauthorized", hint="check the token"),
            "fail",
            "docker.io: 401 unauthorized; they came from $",
        ),
        (RegistryError("docker.io: ping: connection refused"), "fail", "did not answer"),
    ],
)
def test_registry_auth_round_trip(repo, monkeypatch, error, status, words):
    import buildlib.registry

    FakeClient.error, FakeClient.seen = error, []
    monkeypatch.setattr(buildlib.registry, "RegistryClient", FakeClient)

    result = check_registry_auth(load(repo, **{USER_ENV: "alice", TOKEN_ENV: SECRET}), for_="push")

    assert (result.id, result.status) == ("registry-auth", status)
    assert words in result.message
    assert FakeClient.seen == [("docker.io", "alice")]
    assert SECRET not in json.dumps(result.as_dict())


# --- git-branch ------------------------------------------------------------------------


def test_non_main_branch_fails_for_push(repo):
    git(repo, "switch", "-q", "-c", "feature/x")

    result = check_branch(load(repo), for_="push")

    assert (result.id, result.status) == ("git-branch", "fail")
    assert "on branch feature/x" in result.message
    assert result.hint.startswith("git switch main")


def test_non_main_branch_is_fine_for_a_local_build(repo):
    git(repo, "switch", "-q", "-c", "feature/x")
    assert check_branch(load(repo)).status == "skipped"


def test_main_branch_passes(repo):
    assert check_branch(load(repo), for_="push").status == "ok"
    assert check_branch(load(repo)).status == "ok"


def test_detached_head_fails_for_push(repo):
    git(repo, "checkout", "-q", "--detach")
    result = check_branch(load(repo), for_="push")
    assert result.status == "fail" and "detached" in result.message


def test_branch_without_git_is_skipped(tmp_path):
    repo = make_repo(tmp_path, with_git=False)
    result = check_branch(load(repo), for_="push")
    assert (result.status, result.message) == ("skipped", "not a git repository")


# --- release-tag -----------------------------------------------------------------------


def test_release_tag_at_head(repo):
    result = check_release_tag(load(repo), for_="release")
    assert result.status == "ok" and "v0.1.0 points at HEAD" in result.message


def test_missing_release_tag(tmp_path):
    repo = make_repo(tmp_path, tagged=False)

    release = check_release_tag(load(repo), for_="release")
    local = check_release_tag(load(repo))

    assert (release.id, release.status) == ("release-tag", "fail")
    assert (
        "git tag v0.1.0 for version 0.1.0 ([project].version in pyproject.toml) does not exist"
        in release.message
    )
    assert "git tag v0.1.0 && git push origin v0.1.0" in release.hint
    assert local.status == "warn"
    assert local.message.endswith(": `invoke release` would stop")
    # the fixture runs release-please: it is named as the tag's maker
    assert release.hint == local.hint
    assert release.hint.startswith("merge the release-please PR (it creates v0.1.0)")


def test_missing_release_tag_without_release_please_names_no_release_please(tmp_path):
    repo = make_repo(tmp_path, tagged=False, with_release_please=False)

    release = check_release_tag(load(repo), for_="release")
    local = check_release_tag(load(repo))

    assert release.message == (
        "git tag v0.1.0 for version 0.1.0 ([project].version in pyproject.toml) does not exist"
    )
    assert local.message == release.message + ": `invoke release` would stop"
    assert (
        release.hint
        == local.hint
        == (
            "`git fetch --tags` if it was pushed; else tag HEAD, the commit to release: "
            "git tag v0.1.0 && git push origin v0.1.0"
        )
    )


def test_release_tag_behind_head(repo):
    commit(repo, "fix: later change")

    release = check_release_tag(load(repo), for_="release")
    local = check_release_tag(load(repo))

    assert release.status == "fail" and "not at HEAD" in release.message
    assert release.hint == "git checkout v0.1.0"
    assert local.status == "ok"


def test_release_tag_without_history(tmp_path):
    repo = tmp_path / "empty"
    make_repo(tmp_path, name="empty", with_git=False)
    git(repo, "init", "-q", "-b", "main")

    result = check_release_tag(load(repo), for_="release")

    assert result.status == "skipped" and "no commits" in result.message


def test_doctor_and_publish_find_the_same_credentials(repo, tmp_path, monkeypatch):
    """One lookup: doctor reports the credentials push and release would use."""
    from buildlib import config as config_module
    from buildlib.publish import resolve_access

    config = config_module.load(repo)
    log_in_as_bob(tmp_path, monkeypatch)
    for env, user, source in [
        ({USER_ENV: "alice", TOKEN_ENV: SECRET}, "alice", f"${USER_ENV} and ${TOKEN_ENV}"),
        ({}, "bob", "the docker login for ghcr.io"),
    ]:
        project = Project.load(repo, environ=env, registry="ghcr.io")
        creds, found_source, problem = find_credentials(project)
        access = resolve_access(config, "ghcr.io", env)
        assert problem is None
        assert creds == access.credentials and creds.username == user
        assert found_source == source
        assert creds.from_environment is bool(env)


def test_the_fix_for_rejected_credentials_names_where_they_came_from(repo, tmp_path, monkeypatch):
    """Credentials that were set and refused need checking, not setting."""
    from buildlib import config as config_module
    from buildlib.publish import resolve_access

    config = config_module.load(repo)
    log_in_as_bob(tmp_path, monkeypatch)

    from_env = resolve_access(config, "ghcr.io", {USER_ENV: "alice", TOKEN_ENV: SECRET})
    from_login = resolve_access(config, "ghcr.io", {})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    none = resolve_access(config, "ghcr.io", {})

    assert from_env.hint == (
        f"check {USER_ENV} and {TOKEN_ENV} (a user and token ghcr.io accepts, allowed to push)"
    )
    assert from_login.hint == (
        f"log in again: `docker login ghcr.io` (as a user allowed to push), "
        f"or set {USER_ENV} and {TOKEN_ENV}"
    )
    assert none.hint == f"set {USER_ENV} and {TOKEN_ENV} (or `docker login ghcr.io`)"


def test_credentials_a_registry_refuses_are_to_be_checked_not_set(repo):
    from tests.support.http_replies import Reply, ReplyServer

    class Refusing(ReplyServer):
        def answer(self, seen):
            return Reply(401, {"WWW-Authenticate": 'Basic realm="basic-realm"'})

    server = Refusing()
    server.start_serving()
    try:
        env = {USER_ENV: "alice", TOKEN_ENV: SECRET}
        project = Project.load(repo, environ=env, registry=server.host)
        result = check_registry_auth(project, for_="push")
    finally:
        server.close()

    assert result.status == "fail" and result.message == (
        f"{server.host}: the credentials of user 'alice' were rejected; they came from "
        f"${USER_ENV} and ${TOKEN_ENV}"
    )
    assert result.hint == (
        f"check {USER_ENV} and {TOKEN_ENV} (a user and token {server.host} accepts, "
        "allowed to push)"
    )


@pytest.mark.parametrize(
    ("reply", "status", "message"),
    [
        (401, "fail", "{host} requires a login, and there are no credentials"),
        (200, "ok", "{host} answers without a login (GET http://{host}/v2/)"),
    ],
)
def test_a_local_registry_without_credentials_is_asked_whether_it_needs_a_login(
    repo, reply, status, message
):
    # a loopback registry may need no login (credentials only warns): the push that needs
    # one would stop only after every build, so doctor --for push asks it
    from tests.support.http_replies import Reply, ReplyServer

    class Registry(ReplyServer):
        def answer(self, seen):
            assert seen.authorization is None
            return Reply(reply, {"WWW-Authenticate": 'Basic realm="basic-realm"'})

    server = Registry()
    server.start_serving()
    try:
        result = check_registry_auth(
            Project.load(repo, environ={}, registry=server.host), for_="push"
        )
    finally:
        server.close()

    assert result.status == status
    assert result.message == message.format(host=server.host)  # the registry said once
    if status == "fail":
        assert result.hint.startswith(f"export {USER_ENV}=<user> {TOKEN_ENV}=<token>")
