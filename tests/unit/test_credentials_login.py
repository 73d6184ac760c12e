"""The temporary docker login (``Docker.login``), with a runner that records
``docker login`` instead of running it: where the token goes, what the temporary config
holds, that it is removed, and what a failed login says."""

from __future__ import annotations

import base64
import json
import os
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from buildlib.credentials import Credentials
from buildlib.docker import Docker
from buildlib.errors import AuthError, RegistryError
from buildlib.runner import REDACTED, Result, Runner

SECRET = "dckr_pat_s3cr3t-t0ken-value"
CREDS = Credentials("alice", SECRET)


class LoginRunner(Runner):
    """Records each login (argv, env, stdin, and the config file as it was then)."""

    def __init__(self, returncode: int = 0, output: str = "Login Succeeded") -> None:
        super().__init__(quiet=True)
        self.returncode = returncode
        self.output = output
        self.logins: list[dict] = []

    def run(self, argv, **kwargs):  # type: ignore[override]
        config_dir = Path(kwargs["env"]["DOCKER_CONFIG"])
        self.logins.append(
            {
                "argv": list(argv),
                "stdin": kwargs.get("stdin"),
                "config": json.loads((config_dir / "config.json").read_text()),
                "dir": config_dir,
                "entries": sorted(p.name for p in config_dir.iterdir()),
            }
        )
        stream = {"stdout": self.output} if self.returncode == 0 else {"stderr": self.output}
        return Result(list(argv), self.returncode, **stream)


def logged_in(
    runner: Runner, host: str = "docker.io", hint: str | None = None
) -> AbstractContextManager[None]:
    """What a push does: log in, with its client, for the block."""
    return Docker.client("docker", runner).login(host, CREDS, hint)


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user docker config with a credential store, helpers, a login, and shared setup."""
    user = tmp_path / "user-docker"
    (user / "cli-plugins").mkdir(parents=True)
    (user / "contexts").mkdir()
    (user / "config.json").write_text(
        json.dumps(
            {
                "auths": {"https://index.docker.io/v1/": {"auth": "dXNlcjpvbGQ="}},
                "credsStore": "desktop",
                "credHelpers": {"registry.example": "pass"},
                "currentContext": "remote",
                "proxies": {"default": {"httpProxy": "http://proxy.invalid:3128"}},
            }
        )
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(user))
    return user


def test_the_login_reads_the_token_from_stdin_in_a_private_config(user_config: Path) -> None:
    runner = LoginRunner()
    docker = Docker.client("docker", runner)
    with docker.login("docker.io", CREDS):
        login = runner.logins[0]
        assert docker.env == {"DOCKER_CONFIG": str(login["dir"])}
        assert login["dir"] != user_config
        assert os.stat(login["dir"] / "config.json").st_mode & 0o077 == 0

    assert login["argv"] == ["docker", "login", "--username", "alice", "--password-stdin"]
    assert login["stdin"] == SECRET.encode()
    assert not any(SECRET in word for word in login["argv"])
    assert SECRET in runner.secrets  # redacted from anything the runner prints


def test_another_registry_is_named_on_the_login(user_config: Path) -> None:
    runner = LoginRunner()
    with logged_in(runner, "registry.example:5000"):
        pass
    login = runner.logins[0]
    assert login["argv"][:3] == ["docker", "login", "registry.example:5000"]
    assert login["config"]["auths"] == {"registry.example:5000": {}}


def test_the_user_credential_store_never_reaches_the_temporary_login(user_config: Path) -> None:
    runner = LoginRunner()
    with logged_in(runner):
        pass

    config = runner.logins[0]["config"]
    assert "credsStore" not in config and "credHelpers" not in config
    # only an empty entry for the registry, so the login is written into this file
    assert config["auths"] == {"https://index.docker.io/v1/": {}}
    # the rest of the user's setup is kept: same context, proxies, plugins
    assert config["currentContext"] == "remote"
    assert config["proxies"] == {"default": {"httpProxy": "http://proxy.invalid:3128"}}
    assert runner.logins[0]["entries"] == ["cli-plugins", "config.json", "contexts"]
    # the user's own config is untouched
    user = json.loads((user_config / "config.json").read_text())
    assert user["credsStore"] == "desktop"


def test_the_temporary_login_is_removed_after_use(user_config: Path) -> None:
    runner = LoginRunner()
    with logged_in(runner):
        assert runner.logins[0]["dir"].is_dir()
    assert not runner.logins[0]["dir"].exists()


def test_the_temporary_login_is_removed_when_the_body_raises(user_config: Path) -> None:
    runner = LoginRunner()
    with pytest.raises(RuntimeError, match="push failed"):
        with logged_in(runner):
            raise RuntimeError("push failed")
    assert not runner.logins[0]["dir"].exists()


@pytest.mark.parametrize(
    ("output", "kind", "start"),
    [
        (
            f"Error response from daemon: Get: unauthorized: incorrect password {SECRET}",
            AuthError,
            "docker.io rejected the login of user 'alice': ",
        ),
        (
            f"Error response from daemon: Get: denied: requested access {SECRET}",
            RegistryError,
            "docker login to docker.io failed: ",
        ),
    ],
)
def test_a_failed_login_is_redacted_and_removed(
    user_config: Path, output: str, kind: type, start: str
) -> None:
    runner = LoginRunner(returncode=1, output="first line\n" + output)
    with pytest.raises(kind) as caught:
        with logged_in(runner, hint="set T"):
            raise AssertionError("the body must not run after a failed login")

    error = caught.value
    assert type(error) is kind
    assert error.message == start + output.replace(SECRET, REDACTED)
    assert SECRET not in str(error) and SECRET not in (error.hint or "")
    assert error.hint is not None and "set T" in error.hint
    assert not runner.logins[0]["dir"].exists()


@pytest.mark.parametrize(
    "output",
    [
        # docker 28's words for a registry that is not running (a stopped 127.0.0.1:5055)
        'Error response from daemon: Get "http://127.0.0.1:5055/v2/": dial tcp '
        "127.0.0.1:5055: connect: connection refused",
        'Error response from daemon: Get "https://reg.invalid/v2/": dial tcp: lookup '
        "reg.invalid: no such host",
    ],
)
def test_a_login_to_a_registry_that_does_not_answer_names_only_the_reachability(
    user_config: Path, output: str
) -> None:
    # the credentials were never sent: advice to check them would send the user astray
    runner = LoginRunner(returncode=1, output=output)
    with pytest.raises(RegistryError) as caught:
        with logged_in(runner, hint="check SHOP_REG_USER and SHOP_REG_PASSWORD"):
            pass
    assert type(caught.value) is RegistryError
    assert caught.value.hint == "check that the registry is reachable"


def test_a_login_without_output_still_says_what_failed(user_config: Path) -> None:
    runner = LoginRunner(returncode=1, output="")
    with pytest.raises(RegistryError) as caught:
        with logged_in(runner):
            pass
    assert caught.value.message == "docker login to docker.io failed: no output"
    assert caught.value.hint == "check that the registry is reachable"


def test_a_long_login_error_is_cut(user_config: Path) -> None:
    runner = LoginRunner(returncode=1, output="x" * 400)
    with pytest.raises(RegistryError) as caught:
        with logged_in(runner):
            pass
    detail = caught.value.message.removeprefix("docker login to docker.io failed: ")
    assert detail == "x" * 297 + "..."


def test_without_a_user_config_the_login_still_gets_its_own_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "missing"))
    runner = LoginRunner()
    with logged_in(runner):
        pass
    assert runner.logins[0]["config"] == {"auths": {"https://index.docker.io/v1/": {}}}
    assert runner.logins[0]["entries"] == ["config.json"]


# --- an existing docker login ---------------------------------------------------------------


def fake_helper(bin_dir: Path, name: str, script: str) -> None:
    """A docker credential helper (``docker-credential-NAME get``) on PATH."""
    bin_dir.mkdir(exist_ok=True)
    helper = bin_dir / f"docker-credential-{name}"
    helper.write_text("#!/bin/sh\n" + script)
    helper.chmod(0o755)


def test_a_login_kept_by_a_credential_helper_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildlib.credentials import from_docker_config

    bin_dir = tmp_path / "bin"
    fake_helper(
        bin_dir,
        "fake",
        'read server\necho "{\\"ServerURL\\": \\"$server\\", \\"Username\\": \\"carol\\", '
        f'\\"Secret\\": \\"{SECRET}\\"}}"\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "config.json").write_text(json.dumps({"credHelpers": {"registry.example": "fake"}}))

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    found = from_docker_config("registry.example")

    assert found == Credentials("carol", SECRET)


def test_a_broken_credential_helper_is_a_check_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildlib.credentials import from_docker_config
    from buildlib.errors import CheckFailed

    bin_dir = tmp_path / "bin"
    fake_helper(bin_dir, "broken", "echo 'keychain locked' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "config.json").write_text(
        json.dumps({"credHelpers": {"registry.example": "broken"}})
    )

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with pytest.raises(CheckFailed) as caught:
        from_docker_config("registry.example")

    assert caught.value.message.startswith("could not read the docker login for registry.example: ")
    assert (
        caught.value.hint == "check the credsStore/credHelpers entries of your docker config.json"
    )


def test_an_entry_without_a_password_is_no_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildlib.credentials import from_docker_config

    # a user name and an empty password: the docker SDK reads an entry's "auth" only (one
    # without it is no entry at all, docker/auth.py parse_auth)
    auth = base64.b64encode(b"dave:").decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"registry.example": {"auth": auth, "username": "dave"}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert from_docker_config("registry.example") is None


def test_the_user_docker_config_defaults_to_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(json.dumps({"currentContext": "home"}))
    runner = LoginRunner()
    with logged_in(runner):
        pass
    assert runner.logins[0]["config"]["currentContext"] == "home"


def test_credentials_from_the_environment_are_stripped() -> None:
    from buildlib.credentials import from_env

    environ = {"BUILDLIB_TEST_USER": " erin ", "BUILDLIB_TEST_TOKEN": f"{SECRET}\n"}
    assert from_env("BUILDLIB_TEST_USER", "BUILDLIB_TEST_TOKEN", environ) == Credentials(
        "erin", SECRET, from_environment=True
    )


@pytest.mark.parametrize("last", ["\xa0", "\x85"])
def test_only_ascii_whitespace_is_stripped_from_a_token(last: str) -> None:
    # how os.environ holds a token ending in byte 0xA0 or 0x85 under a Latin-1 locale
    from buildlib.credentials import from_env

    environ = {"BUILDLIB_TEST_USER": "erin", "BUILDLIB_TEST_TOKEN": f"{SECRET}{last}\r\n"}
    found = from_env("BUILDLIB_TEST_USER", "BUILDLIB_TEST_TOKEN", environ)
    assert found is not None and found.secret == SECRET + last


@pytest.mark.parametrize("last", ["\xa0", "\x85"])
def test_only_ascii_whitespace_is_stripped_from_a_username(last: str) -> None:
    from buildlib.credentials import from_env

    environ = {"BUILDLIB_TEST_USER": f" erin{last}\r\n", "BUILDLIB_TEST_TOKEN": SECRET}
    found = from_env("BUILDLIB_TEST_USER", "BUILDLIB_TEST_TOKEN", environ)
    assert found is not None and found.username == "erin" + last


def test_a_docker_login_that_utf8_cannot_encode_is_sent_with_question_marks() -> None:
    # a credential helper's JSON may hold "\udce9": the SDK decodes it to a lone surrogate;
    # encoding must not raise, the error would quote a character of the secret
    creds = Credentials("fr\udce9d", "dckr_pat_\udce9-t0ken")
    assert creds.encoded() == (b"fr?d", b"dckr_pat_?-t0ken")


def test_a_docker_login_that_utf8_cannot_encode_reaches_docker_login(
    tmp_path: Path, user_config: Path
) -> None:
    docker = tmp_path / "docker"
    docker.write_text('#!/bin/sh\ncat > "$0.stdin"\n', encoding="utf-8")
    docker.chmod(0o755)
    creds = Credentials("alice", "dckr_pat_\udce9-t0ken")
    with Docker.client(str(docker), Runner(quiet=True)).login("docker.io", creds):
        pass
    assert (tmp_path / "docker.stdin").read_bytes() == b"dckr_pat_?-t0ken"


@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_every_docker_hub_name_finds_the_docker_hub_login(
    tmp_path: Path, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from buildlib.credentials import from_docker_config

    auth = base64.b64encode(f"hubuser:{SECRET}".encode()).decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": auth}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert from_docker_config(host) == Credentials("hubuser", SECRET)


@pytest.mark.parametrize("auth", ["!!notbase64", "bm8tY29sb24=", "/w==:"])
def test_a_malformed_auth_entry_is_a_check_failure_that_quotes_none_of_it(
    tmp_path: Path, auth: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildlib.credentials import from_docker_config
    from buildlib.errors import CheckFailed

    entry = {"auths": {"registry.example": {"auth": auth}}}
    (tmp_path / "config.json").write_text(json.dumps(entry))

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with pytest.raises(CheckFailed) as caught:
        from_docker_config("registry.example")

    assert caught.value.message == (
        "could not read the docker login for registry.example: its auth entry in the docker "
        "config.json is not base64 of user:password"
    )
    assert (
        caught.value.hint == "log in again: `docker login registry.example` (it rewrites the entry)"
    )


def test_a_missing_credential_store_is_one_error_and_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildlib.credentials import from_docker_config
    from buildlib.errors import CheckFailed

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "nosuchhelper"}))

    # warnings are errors in this suite: the SDK's UserWarning would fail the test here
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with pytest.raises(CheckFailed) as caught:
        from_docker_config("registry.example")
    assert "docker-credential-nosuchhelper not installed" in caught.value.message


def test_a_token_reaches_docker_login_as_the_bytes_the_environment_held(
    tmp_path: Path, user_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a token byte that is not UTF-8 (or any non-ASCII byte under a non-UTF-8 locale):
    # os.environ holds it decoded, here surrogate-escaped
    from buildlib.credentials import from_env

    monkeypatch.setenv("BUILDLIB_TEST_USER", "alice")
    monkeypatch.setenv("BUILDLIB_TEST_TOKEN", "dckr_pat_\udce9-t0ken")
    docker = tmp_path / "docker"
    docker.write_text('#!/bin/sh\ncat > "$0.stdin"\n', encoding="utf-8")
    docker.chmod(0o755)
    creds = from_env("BUILDLIB_TEST_USER", "BUILDLIB_TEST_TOKEN", os.environ)
    assert creds is not None
    with Docker.client(str(docker), Runner(quiet=True)).login("docker.io", creds):
        pass
    assert os.environb[b"BUILDLIB_TEST_TOKEN"] == b"dckr_pat_\xe9-t0ken"
    assert (tmp_path / "docker.stdin").read_bytes() == b"dckr_pat_\xe9-t0ken"


def test_each_source_keeps_its_bytes_under_a_locale_that_is_not_utf8(tmp_path: Path) -> None:
    # the environment's token as the bytes it held; a docker login's as docker sends it,
    # UTF-8, which this locale's codec (ASCII) could not even encode
    import base64
    import subprocess
    import sys

    auth = base64.b64encode("bob:p\u00e4ssw\u00f6rd-t0ken".encode()).decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"registry.example": {"auth": auth}}})
    )
    code = (
        "import os, sys\n"
        "from buildlib.credentials import from_docker_config, from_env\n"
        "print(sys.getfilesystemencoding())\n"
        "print(from_env('U', 'T', os.environ).encoded()[1].hex())\n"
        "print(from_docker_config('registry.example').encoded()[1].hex())\n"
    )
    env = {
        **os.environ,
        "LC_ALL": "C",
        "PYTHONUTF8": "0",
        "PYTHONCOERCECLOCALE": "0",
        "DOCKER_CONFIG": str(tmp_path),
        "U": "alice",
        "T": "dckr_pat_\udce9-t0ken",  # goes to the child as byte 0xE9
    }
    child = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    encoding, from_environment, from_login = child.stdout.split()
    if encoding == "utf-8":
        pytest.skip("this Python decodes the environment as UTF-8 even in the C locale")
    assert bytes.fromhex(from_environment) == b"dckr_pat_\xe9-t0ken"
    assert bytes.fromhex(from_login) == "p\u00e4ssw\u00f6rd-t0ken".encode()
