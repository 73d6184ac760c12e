"""Each run pushes the image it built: loaded builds get a local name of their own run, the
push tags the image by id, and the registry must hold that image under the tag (else
"another writer replaced" it)."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import threading
from pathlib import Path

import pytest

from buildlib import pushing
from buildlib.credentials import Credentials
from buildlib.errors import AuthError, CommandFailed, NotVerified, PublishError, RegistryError
from buildlib.pushing import (
    Access,
    add_tag_verified,
    forget_local_names,
    push_verified,
    still_ours,
)
from buildlib.releaseplan import Published, push_stopped, release_stopped, run_local
from buildlib.runner import Result, Runner
from tests.unit.test_publish_multiplatform import MULTI, a_build, plan

OURS = "sha256:" + "1" * 64  # the image id this run built (its config digest)
PUSHED = "sha256:" + "2" * 64  # the manifest digest docker push reported
THEIRS = "sha256:" + "3" * 64


def test_loaded_builds_get_a_local_name_of_their_own_run() -> None:
    original = plan(a_build("gpu", ("linux/amd64",)), a_build("lb", MULTI))

    one, two = run_local(original), run_local(original)

    gpu, lb = one.builds
    assert gpu.published == "acme/gpu:1.2.3"
    assert gpu.primary.startswith("acme/gpu:1.2.3-buildlib-")
    assert gpu.primary != two.builds[0].primary  # another run, another name
    assert lb == original.builds[1]  # buildx pushes it from the build: no local name


def test_a_local_name_keeps_the_registry_port_and_is_a_tag_docker_takes() -> None:
    # at most 128 characters, starting with neither "." nor "-": the run's suffix pushes a
    # long tag's start out, and what is left begins where a tag may
    tag = "v" * 15 + ".-X" + "b" * 107
    build = dataclasses.replace(
        a_build("gpu", ("linux/amd64",)), references=(f"registry.example:5000/acme/gpu:{tag}",)
    )

    (local,) = run_local(plan(build)).builds

    assert re.fullmatch(
        r"registry\.example:5000/acme/gpu:Xb{107}-buildlib-[0-9a-f]{8}", local.primary
    )
    assert local.published == f"registry.example:5000/acme/gpu:{tag}"
    short = run_local(plan(a_build("gpu", ("linux/amd64",)))).builds[0]
    assert re.fullmatch(r"acme/gpu:1\.2\.3-buildlib-[0-9a-f]{8}", short.primary)


class FakeCLI:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def tag(self, source: str, target: str) -> Result:
        self.calls.append(["tag", source, target])
        return Result(["docker", "tag"], 0)

    def push(self, reference: str) -> Result:
        self.calls.append(["push", reference])
        return Result(["docker", "push"], 0, "", f"1.2.3: digest: {PUSHED} size: 1234")


class FakeRegistry:
    host = "registry.test"
    credential_hint = "set ACME_USER and ACME_TOKEN (or `docker login registry.test`)"

    def __init__(self, tag_holds: str, content: str = OURS) -> None:
        self.tag_holds = tag_holds
        self.content = content

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        return self.tag_holds

    def config_digest(self, repo: str, ref: str, *, platform: str | None = None) -> str:
        return self.content


def loaded_build():
    return run_local(plan(a_build("gpu", ("linux/amd64",)))).builds[0]


def test_the_image_is_tagged_by_id_and_pushed_as_the_published_name() -> None:
    cli = FakeCLI()
    build = loaded_build()

    digest = push_verified(cli, FakeRegistry(PUSHED), build, "1.2.3", OURS)  # type: ignore[arg-type]

    assert digest == PUSHED
    assert cli.calls == [["tag", OURS, "acme/gpu:1.2.3"], ["push", "acme/gpu:1.2.3"]]


@pytest.mark.parametrize(
    ("holds", "content"), [(THEIRS, OURS), (PUSHED, THEIRS)], ids=["tag-moved", "other-image"]
)
def test_a_tag_another_writer_replaced_is_an_error(holds: str, content: str) -> None:
    with pytest.raises(PublishError) as caught:
        push_verified(FakeCLI(), FakeRegistry(holds, content), loaded_build(), "1.2.3", OURS)  # type: ignore[arg-type]
    assert "another writer replaced acme/gpu:1.2.3 during this run" in caught.value.message


class LooksUpCLI(FakeCLI):
    """An image id lookup that finds ``found`` under the local name."""

    def __init__(self, found: str | None = None) -> None:
        super().__init__()
        self.found = found

    def image_id(self, reference: str) -> str | None:
        return self.found


class SaysNoDigestCLI(LooksUpCLI):
    """A docker push that names no digest (its output is all it has to say)."""

    def push(self, reference: str) -> Result:
        self.calls.append(["push", reference])
        return Result(["docker", "push"], 0, "", "1.2.3: Pushed")


def test_a_push_that_names_no_digest_is_checked_by_the_image_it_holds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = push_verified(SaysNoDigestCLI(), FakeRegistry(THEIRS), loaded_build(), "1.2.3", OURS)  # type: ignore[arg-type]

    assert digest == THEIRS
    assert f"pushed acme/gpu:1.2.3 ({THEIRS})" in capsys.readouterr().err.splitlines()
    with pytest.raises(PublishError) as caught:
        push_verified(
            SaysNoDigestCLI(), FakeRegistry(THEIRS, THEIRS), loaded_build(), "1.2.3", OURS
        )  # type: ignore[arg-type]
    assert caught.value.message == (
        f"another writer replaced acme/gpu:1.2.3 during this run: the registry has "
        f"{THEIRS[:19]}, this run pushed ? (image {OURS[7:19]})"
    )


def test_an_image_whose_id_cannot_be_found_is_pushed_by_name_and_checked_by_digest() -> None:
    cli = LooksUpCLI(found=None)
    build = loaded_build()

    with pytest.raises(PublishError) as caught:
        push_verified(cli, FakeRegistry(THEIRS), build, "1.2.3", None)  # type: ignore[arg-type]

    assert cli.calls == [["tag", build.primary, "acme/gpu:1.2.3"], ["push", "acme/gpu:1.2.3"]]
    assert f"this run pushed {PUSHED[:19]} (image ?)" in caught.value.message


def test_the_image_checked_is_the_pushed_ones_for_the_builds_platform() -> None:
    class PerPlatform(FakeRegistry):
        def config_digest(self, repo: str, ref: str, *, platform: str | None = None) -> str:
            return OURS if (repo, ref, platform) == ("acme/gpu", PUSHED, "linux/arm64") else THEIRS

    build = run_local(plan(a_build("gpu", ("linux/arm64",)))).builds[0]

    assert push_verified(FakeCLI(), PerPlatform(PUSHED), build, "1.2.3", OURS) == PUSHED  # type: ignore[arg-type]


def test_a_release_pushes_the_image_its_build_made_though_its_local_name_moved() -> None:
    from buildlib.pushing import push_full_tags

    cli = LooksUpCLI(found=THEIRS)  # the local name now holds another image
    build = loaded_build()

    (result,) = push_full_tags(
        cli,  # type: ignore[arg-type]
        FakeRegistry(PUSHED),  # type: ignore[arg-type]
        (build,),
        "1.2.3",
        set(),
        {"gpu": OURS},
        {},
    )

    assert cli.calls[0] == ["tag", OURS, "acme/gpu:1.2.3"]
    assert result == Published("gpu", "acme/gpu", "acme/gpu:1.2.3", PUSHED, ["1.2.3"])


def test_a_tag_replaced_after_its_push_is_found_at_the_end() -> None:
    pushed = Published("gpu", "acme/gpu", "acme/gpu:main", PUSHED, ["main"])
    still_ours(FakeRegistry(PUSHED), [pushed])  # type: ignore[arg-type]
    with pytest.raises(PublishError) as caught:
        still_ours(FakeRegistry(THEIRS), [dataclasses.replace(pushed)])  # type: ignore[arg-type]
    assert "another writer replaced acme/gpu:main (now sha256:333333333333" in (
        caught.value.message
    )


TAKE_TURNS = "run it again; runs that push the same tag must take turns (a CI concurrency group)"


class Tagger:
    """``add_tag`` then ``manifest_digest``: the tag holds ``holds`` after the tagging, or
    the registry fails with ``error``."""

    host = "registry.test"

    def __init__(self, holds: str | None, error: RegistryError | None = None) -> None:
        self.holds, self.error = holds, error
        self.added: list[tuple[str, str, str]] = []

    def add_tag(self, repo: str, source: str, tag: str) -> str:
        if self.error is not None:
            raise self.error
        self.added.append((repo, source, tag))
        return source

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        if self.error is not None:
            raise self.error
        return self.holds


def test_another_tag_of_a_push_is_added_in_the_registry_and_read_back(capsys) -> None:
    registry = Tagger(PUSHED)

    add_tag_verified(registry, "acme/gpu", PUSHED, "sha-abc1234")  # type: ignore[arg-type]

    assert registry.added == [("acme/gpu", PUSHED, "sha-abc1234")]
    assert f"tagged acme/gpu:sha-abc1234 ({PUSHED})" in capsys.readouterr().err


def test_another_tag_replaced_at_once_is_an_error() -> None:
    with pytest.raises(PublishError) as caught:
        add_tag_verified(Tagger(THEIRS), "acme/gpu", PUSHED, "nightly")  # type: ignore[arg-type]

    assert caught.value.message == (
        f"another writer replaced acme/gpu:nightly during this run: the registry has "
        f"{THEIRS[:19]}, this run tagged {PUSHED[:19]}"
    )
    assert caught.value.hint == TAKE_TURNS


def test_another_tag_the_registry_lists_nothing_under_is_not_verified_as_a_push() -> None:
    """Right after this run wrote the tag, nothing listed there is the registry's failure to
    confirm a write, as after a push, not another writer (no run deletes tags)."""
    with pytest.raises(NotVerified) as caught:
        add_tag_verified(Tagger(None), "acme/gpu", PUSHED, "nightly")  # type: ignore[arg-type]

    assert caught.value.message == (
        "acme/gpu:nightly was pushed, but the registry could not confirm it: registry.test "
        "lists nothing under acme/gpu:nightly"
    )
    assert caught.value.hint == "check registry.test's storage, then push again"


def test_another_tag_the_registry_does_not_confirm_is_not_verified() -> None:
    cause = RegistryError("registry.test: add tag failed", hint="check the registry")
    with pytest.raises(NotVerified) as caught:
        add_tag_verified(Tagger(PUSHED, cause), "acme/gpu", PUSHED, "nightly")  # type: ignore[arg-type]

    assert caught.value.reference == "acme/gpu:nightly"
    assert caught.value.message.endswith("could not confirm it: registry.test: add tag failed")
    assert caught.value.hint == "check the registry"


def test_what_buildx_pushed_is_checked_against_the_digest_it_reported() -> None:
    build = a_build("lb", MULTI)

    assert push_verified(None, FakeRegistry(PUSHED), build, "1.2.3", None, PUSHED) == PUSHED  # type: ignore[arg-type]
    with pytest.raises(PublishError) as caught:
        push_verified(None, FakeRegistry(THEIRS), build, "1.2.3", None, PUSHED)  # type: ignore[arg-type]
    assert caught.value.message.startswith("another writer replaced acme/lb:1.2.3 during")
    with pytest.raises(NotVerified) as unverified:
        push_verified(None, Tagger(None, RegistryError("down")), build, "1.2.3", None, PUSHED)  # type: ignore[arg-type]
    assert unverified.value.reference == "acme/lb:1.2.3"
    assert unverified.value.message.endswith("could not confirm it: down")


def test_a_push_the_registry_does_not_list_is_not_verified_whoever_pushed_it() -> None:
    """docker and buildx both said the push landed: a registry that lists nothing under the
    tag leaves it unconfirmed, one message for both, and a stopped release names it as
    pushed but not verified (not as "Nothing was pushed")."""

    class ListsNothing(FakeRegistry):
        def manifest_digest(self, repo: str, tag: str) -> str | None:
            return None

    errors = []
    for push in (
        lambda: push_verified(FakeCLI(), ListsNothing(PUSHED), loaded_build(), "1.2.3", OURS),  # type: ignore[arg-type]
        lambda: push_verified(
            None,  # type: ignore[arg-type]
            ListsNothing(PUSHED),
            a_build("gpu", MULTI),
            "1.2.3",
            None,
            PUSHED,
        ),
    ):
        with pytest.raises(NotVerified) as caught:
            push()
        errors.append(caught.value)

    for error in errors:
        assert error.message == (
            "acme/gpu:1.2.3 was pushed, but the registry could not confirm it: registry.test "
            "lists nothing under acme/gpu:1.2.3"
        )
        assert error.hint == "check registry.test's storage, then push again"
        assert error.exit_code == 8
        stopped = release_stopped(error, [], at="acme/gpu:1.2.3")
        assert "Pushed, not verified: acme/gpu:1.2.3. " in stopped.message
        assert "Nothing was pushed" not in stopped.message


def test_every_tag_of_a_push_is_checked_at_the_end() -> None:
    pushed = Published("gpu", "acme/gpu", "docker.io/acme/gpu:main", PUSHED, ["main", "nightly"])

    class OneMoved(FakeRegistry):
        def manifest_digest(self, repo: str, tag: str) -> str | None:
            return THEIRS if tag == "nightly" else PUSHED

    with pytest.raises(PublishError) as caught:
        still_ours(OneMoved(PUSHED), [pushed])  # type: ignore[arg-type]
    assert caught.value.message == (
        f"another writer replaced acme/gpu:nightly (now {THEIRS[:19]}, this run pushed "
        f"{PUSHED[:19]}) during this run"
    )
    with pytest.raises(NotVerified) as unverified:
        still_ours(Tagger(None, RegistryError("down")), [pushed])  # type: ignore[arg-type]
    assert unverified.value.reference == "docker.io/acme/gpu:main"


class FlakyCLI(FakeCLI):
    """``docker push`` fails with each of ``failures`` (its stderr) before it succeeds."""

    def __init__(self, *failures: str) -> None:
        super().__init__()
        self.failures = list(failures)
        self.runner = Runner(quiet=True)

    def push(self, reference: str) -> Result:
        if self.failures:
            self.calls.append(["push", reference])
            return Result(["docker", "push"], 1, "", self.failures.pop(0))
        return super().push(reference)


def push_flaky(cli: FlakyCLI) -> str:
    return push_verified(cli, FakeRegistry(PUSHED), loaded_build(), "1.2.3", OURS)  # type: ignore[arg-type]


def test_a_transient_push_failure_is_retried_after_a_growing_wait(monkeypatch, capsys) -> None:
    waits: list[float] = []
    monkeypatch.setattr(pushing.time, "sleep", waits.append)
    cli = FlakyCLI("step 1\nconnection reset by peer\n", "EOF")

    assert push_flaky(cli) == PUSHED

    assert waits == [1, 2]
    err = capsys.readouterr().err
    assert "push of acme/gpu:1.2.3 failed (connection reset by peer); retrying in 1s" in err
    assert "push of acme/gpu:1.2.3 failed (EOF); retrying in 2s" in err


def test_a_push_stops_after_three_attempts_or_at_once_when_not_transient(monkeypatch) -> None:
    monkeypatch.setattr(pushing.time, "sleep", lambda seconds: None)
    cli = FlakyCLI("i/o timeout", "i/o timeout", "i/o timeout", "never reached")
    with pytest.raises(CommandFailed) as caught:
        push_flaky(cli)
    assert caught.value.message == "push of acme/gpu:1.2.3 failed after 3 attempt(s): i/o timeout"
    assert len([c for c in cli.calls if c[0] == "push"]) == 3

    with pytest.raises(CommandFailed) as caught:
        push_flaky(FlakyCLI(""))
    assert caught.value.message == "push of acme/gpu:1.2.3 failed after 1 attempt(s): "


@pytest.mark.parametrize("name", ["geofence", "timeout-probe", "edge-503"])
def test_a_repository_named_like_a_transient_error_fails_at_once(monkeypatch, name) -> None:
    monkeypatch.setattr(pushing.time, "sleep", lambda seconds: None)
    build = run_local(plan(a_build(name, ("linux/amd64",)))).builds[0]
    # moby's distribution/push.go words when the engine holds no image of that name
    missing = f"An image does not exist locally with the tag: acme/{name}"
    cli = FlakyCLI(missing, "never reached")

    with pytest.raises(CommandFailed) as caught:
        push_verified(cli, FakeRegistry(PUSHED), build, "1.2.3", OURS)  # type: ignore[arg-type]
    assert caught.value.message == f"push of acme/{name}:1.2.3 failed after 1 attempt(s): {missing}"


def test_a_repository_named_like_a_transient_error_on_a_registry_port_fails_at_once(
    monkeypatch,
) -> None:
    """The name docker's error repeats is the repository with its host and port, not the host
    alone: ``:5000/acme/edge-503`` left in the output would read as an HTTP 503."""
    monkeypatch.setattr(pushing.time, "sleep", lambda seconds: None)
    repository = "127.0.0.1:5000/acme/edge-503"
    build = dataclasses.replace(
        a_build("edge-503", ("linux/amd64",)),
        image=dataclasses.replace(a_build("edge-503", ()).image, repository=repository),
        references=(f"{repository}:1.2.3",),
    )
    build = run_local(plan(build)).builds[0]
    missing = f"An image does not exist locally with the tag: {repository}"
    cli = FlakyCLI(missing, "never reached")

    with pytest.raises(CommandFailed) as caught:
        push_verified(cli, FakeRegistry(PUSHED), build, "1.2.3", OURS)  # type: ignore[arg-type]
    assert caught.value.message == (
        f"push of {build.published} failed after 1 attempt(s): {missing}"
    )


def test_a_refused_push_is_an_auth_error_with_the_way_to_fix_it() -> None:
    with pytest.raises(AuthError) as caught:
        push_flaky(FlakyCLI("unauthorized: authentication required"))
    assert caught.value.message == (
        "registry.test refused the push of acme/gpu:1.2.3: unauthorized: authentication required"
    )
    # the variables the project's [tool.buildlib.credentials] names, and this registry
    assert caught.value.hint == FakeRegistry.credential_hint


def test_a_push_without_any_login_is_an_auth_error_not_a_failed_command() -> None:
    # docker's words when neither the environment nor a docker login has credentials
    output = "a1b2c3: Preparing\nno basic auth credentials\n"
    with pytest.raises(AuthError) as caught:
        push_flaky(FlakyCLI(output))
    assert caught.value.exit_code == 7
    assert caught.value.message == (
        "registry.test refused the push of acme/gpu:1.2.3: no basic auth credentials"
    )
    assert caught.value.hint == FakeRegistry.credential_hint


# --- the lock that makes two runs on this machine take turns -------------------------------
# (tests/conftest.py makes each test's tmp_path its temporary directory)


def test_the_push_lock_is_in_a_directory_only_this_user_can_write(tmp_path: Path) -> None:
    push_verified(FakeCLI(), FakeRegistry(PUSHED), loaded_build(), "1.2.3", OURS)  # type: ignore[arg-type]

    private = tmp_path / f"buildlib-{os.getuid()}"
    assert [path.name for path in tmp_path.iterdir()] == [private.name]
    assert stat.S_IMODE(private.lstat().st_mode) == 0o700
    (lock,) = private.iterdir()
    assert lock.name.startswith("buildlib-push-") and lock.name.endswith(".lock")
    assert stat.S_IMODE(lock.lstat().st_mode) & 0o077 == 0


def planted_by_another_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    # the test runs as one user: a directory it made while "being" another uid is foreign
    monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 4242)
    planted = tmp_path / f"buildlib-{os.geteuid() + 4242}"
    planted.mkdir(mode=0o700)
    return planted


def open_to_others(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    planted = tmp_path / f"buildlib-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    return planted


def a_link(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    planted = tmp_path / f"buildlib-{os.getuid()}"
    planted.symlink_to(elsewhere, target_is_directory=True)
    return planted


@pytest.mark.parametrize("plant", [planted_by_another_user, open_to_others, a_link])
def test_a_lock_directory_others_could_write_is_refused_before_the_push(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plant
) -> None:
    planted = plant(monkeypatch, tmp_path)
    cli = FakeCLI()

    with pytest.raises(PublishError) as caught:
        push_verified(cli, FakeRegistry(PUSHED), loaded_build(), "1.2.3", OURS)  # type: ignore[arg-type]

    assert caught.value.message == (
        f"{planted} is not a directory only this user can write, so it cannot hold the lock "
        "that makes pushes of one tag take turns"
    )
    assert caught.value.hint == f"remove {planted}, or set TMPDIR to a directory of your own"
    assert cli.calls == []
    assert not any(path.name.endswith(".lock") for path in tmp_path.rglob("*"))


def test_a_link_in_place_of_the_lock_is_not_followed(tmp_path: Path) -> None:
    push_verified(FakeCLI(), FakeRegistry(PUSHED), loaded_build(), "1.2.3", OURS)  # type: ignore[arg-type]
    (lock,) = (tmp_path / f"buildlib-{os.getuid()}").iterdir()
    lock.unlink()
    target = tmp_path / "target"
    lock.symlink_to(target)
    cli = FakeCLI()

    with pytest.raises(PublishError) as caught:
        push_verified(cli, FakeRegistry(PUSHED), loaded_build(), "1.2.3", OURS)  # type: ignore[arg-type]

    assert caught.value.hint == f"remove {lock}"
    assert not target.exists()
    assert cli.calls == []


def test_a_temporary_directory_that_cannot_hold_the_lock_says_to_set_tmpdir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "a-file").touch()
    monkeypatch.setattr(pushing.tempfile, "tempdir", str(tmp_path / "a-file"))
    cli = FakeCLI()

    with pytest.raises(PublishError) as caught:
        push_verified(cli, FakeRegistry(PUSHED), loaded_build(), "1.2.3", OURS)  # type: ignore[arg-type]

    assert caught.value.message == (
        "the lock that makes pushes of acme/gpu:1.2.3 take turns cannot be opened: Not a "
        f"directory ({tmp_path / 'a-file' / f'buildlib-{os.getuid()}'})"
    )
    assert caught.value.hint == "set TMPDIR to a directory of your own that has room"
    assert cli.calls == []


def test_two_runs_that_push_one_reference_take_turns(tmp_path: Path) -> None:
    first_pushing, release = threading.Event(), threading.Event()

    class HeldCLI(FakeCLI):
        def push(self, reference: str) -> Result:
            first_pushing.set()
            assert release.wait(30)
            return super().push(reference)

    first, second = HeldCLI(), FakeCLI()
    build = loaded_build()
    held = threading.Thread(
        target=push_verified, args=(first, FakeRegistry(PUSHED), build, "1.2.3", OURS)
    )
    held.start()
    assert first_pushing.wait(30)
    waiting = threading.Thread(
        target=push_verified, args=(second, FakeRegistry(PUSHED), build, "1.2.3", OURS)
    )
    waiting.start()
    waiting.join(0.3)

    assert second.calls == []  # not even its `docker tag`: the first run holds the name
    release.set()
    held.join(30)
    waiting.join(30)
    assert second.calls == [["tag", OURS, "acme/gpu:1.2.3"], ["push", "acme/gpu:1.2.3"]]


# --- what the registry reads go through, and what a run leaves behind ---------------------


def test_a_quick_client_tries_once_briefly_with_the_same_login() -> None:
    login = Credentials("robot", "s3cret-" + "x" * 10, from_environment=True)
    access = Access("ghcr.io", login, "set USER and TOKEN")

    normal, quick = access.client(), access.client(quick=True)

    for client in (normal, quick):
        assert (client.host, client.credentials) == ("ghcr.io", login)
        assert client.credential_hint == "set USER and TOKEN"
    assert (normal.retries, normal.timeout) == (3, 30)
    assert (quick.retries, quick.timeout) == (0, 5)


def test_a_replaced_push_names_both_digests_and_this_run_s_image() -> None:
    with pytest.raises(PublishError) as caught:
        push_verified(FakeCLI(), FakeRegistry(THEIRS), loaded_build(), "1.2.3", OURS)  # type: ignore[arg-type]

    assert caught.value.message == (
        f"another writer replaced acme/gpu:1.2.3 during this run: the registry has "
        f"{THEIRS[:19]}, this run pushed {PUSHED[:19]} (image {OURS[7:19]})"
    )
    assert caught.value.hint == TAKE_TURNS


def test_a_loaded_image_is_found_by_its_run_s_own_name_when_no_id_is_given() -> None:
    class Inspecting(FakeCLI):
        def image_id(self, reference: str) -> str | None:
            self.calls.append(["inspect", reference])
            return OURS

    cli = Inspecting()
    build = loaded_build()

    push_verified(cli, FakeRegistry(PUSHED), build, "1.2.3", None)  # type: ignore[arg-type]

    assert cli.calls[:2] == [["inspect", build.primary], ["tag", OURS, "acme/gpu:1.2.3"]]


def test_a_tag_gone_at_the_end_is_named_as_deleted_not_replaced() -> None:
    pushed = Published("gpu", "acme/gpu", "acme/gpu:main", PUSHED, ["main"])
    with pytest.raises(PublishError) as caught:
        still_ours(Tagger(None), [pushed])  # type: ignore[arg-type]
    assert caught.value.message == (
        f"the registry no longer holds acme/gpu:main (this run pushed {PUSHED[:19]}): "
        "deleted during this run"
    )


def test_tags_replaced_and_gone_at_the_end_are_each_named_for_what_became_of_them() -> None:
    class Holds:
        def manifest_digest(self, repository: str, tag: str) -> str | None:
            return {"main": THEIRS, "nightly": None}.get(tag, PUSHED)

    pushed = Published("gpu", "acme/gpu", "acme/gpu:main", PUSHED, ["main", "nightly", "sha-1"])
    with pytest.raises(PublishError) as caught:
        still_ours(Holds(), [pushed])  # type: ignore[arg-type]
    assert caught.value.message == (
        f"another writer replaced acme/gpu:main (now {THEIRS[:19]}, this run pushed "
        f"{PUSHED[:19]}) during this run; the registry no longer holds acme/gpu:nightly "
        f"(this run pushed {PUSHED[:19]}): deleted during this run"
    )


def test_every_tag_replaced_or_gone_is_named_in_one_line() -> None:
    class Holds:
        def manifest_digest(self, repository: str, tag: str) -> str | None:
            return {"main": THEIRS, "edge": THEIRS, "nightly": None, "dev": None}[tag]

    pushed = Published(
        "gpu", "acme/gpu", "acme/gpu:main", PUSHED, ["main", "edge", "nightly", "dev"]
    )
    with pytest.raises(PublishError) as caught:
        still_ours(Holds(), [pushed])  # type: ignore[arg-type]
    now, ours = (
        f"now {THEIRS[:19]}, this run pushed {PUSHED[:19]}",
        f"this run pushed {PUSHED[:19]}",
    )
    assert caught.value.message == (
        f"another writer replaced acme/gpu:main ({now}), acme/gpu:edge ({now}) during this "
        f"run; the registry no longer holds acme/gpu:nightly ({ours}), acme/gpu:dev ({ours}): "
        "deleted during this run"
    )


def test_a_release_whose_only_push_was_replaced_does_not_say_nothing_was_pushed() -> None:
    pushed = Published("gpu", "acme/gpu", "acme/gpu:1.2.3", PUSHED, ["1.2.3"])
    with pytest.raises(PublishError) as replaced:
        still_ours(Tagger(THEIRS), [pushed])  # type: ignore[arg-type]

    message = release_stopped(replaced.value, [pushed]).message

    assert message == (
        f"release stopped: {replaced.value.message}. No floating tag (X.Y, X, latest) of any "
        "image was moved"
    )
    assert message.startswith("release stopped: another writer replaced acme/gpu:1.2.3 (now ")


def test_a_push_stopped_at_the_final_check_names_only_the_tags_still_its_own() -> None:
    """The final check names a first tag by the reference it was pushed as (with the
    registry's host); the tags a stopped push names are ``REPOSITORY:TAG``: one tag, once."""

    class Holds:
        def manifest_digest(self, repository: str, tag: str) -> str | None:
            return THEIRS if tag == "main" else PUSHED

    pushed = Published("gpu", "acme/gpu", "r.example:5000/acme/gpu:main", PUSHED, ["main", "sha-1"])
    with pytest.raises(PublishError) as replaced:
        still_ours(Holds(), [pushed])  # type: ignore[arg-type]

    message = push_stopped(replaced.value, ["acme/gpu:main", "acme/gpu:sha-1"]).message

    assert message == (
        f"push stopped: another writer replaced r.example:5000/acme/gpu:main (now {THEIRS[:19]}"
        f", this run pushed {PUSHED[:19]}) during this run. Pushed and verified before it: "
        "acme/gpu:sha-1; no image after it was pushed"
    )
    only = push_stopped(replaced.value, ["acme/gpu:main"]).message
    assert only.endswith(f"{PUSHED[:19]}) during this run; no image after it was pushed")


def test_only_this_run_s_local_names_are_removed() -> None:
    class Untagging:
        def __init__(self) -> None:
            self.removed: list[str] = []

        def untag(self, reference: str) -> Result:
            self.removed.append(reference)
            return Result(["docker", "image", "rm"], 0)

    local = run_local(plan(a_build("gpu", ("linux/amd64",)), a_build("lb", MULTI)))
    cli = Untagging()

    forget_local_names(cli, local)  # type: ignore[arg-type]

    assert cli.removed == [local.builds[0].primary]  # lb was pushed by its build: no local name
