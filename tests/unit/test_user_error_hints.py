"""The hints of errors a user meets first (a bad --platform, --secret file, version,
project folder, a program that cannot start): each says what to do."""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from pathlib import Path

import pytest

from buildlib.checks import CheckResult
from buildlib.config import Config, ImageSpec, load
from buildlib.doctor import render
from buildlib.errors import BuildlibError, CommandFailed, ConfigError, UsageError, split_location
from buildlib.options import SecretSpec, parse_platforms, parse_secrets, secret_values
from buildlib.plan import CommitFacts, oci_labels
from buildlib.references import validate_repository
from buildlib.runner import Runner
from buildlib.versions import parse_version


def test_a_bad_platform_shows_how_to_write_one() -> None:
    with pytest.raises(UsageError) as refused:
        parse_platforms("linux")
    assert refused.value.hint == (
        "e.g. --platform linux/amd64 or --platform linux/amd64,linux/arm64"
    )


def test_a_missing_secret_file_that_may_be_a_value_is_not_repeated(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as refused:
        parse_secrets(["id=key,src=hunter2hunter2"], {})
    assert refused.value.message == "--secret key: the file it names does not exist"


def test_a_missing_secret_file_with_a_path_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "key.pem")
    with pytest.raises(UsageError) as refused:
        parse_secrets([f"id=key,src={missing}"], {})
    assert refused.value.message == f"--secret key: {missing!r} does not exist"


def test_secret_values_are_labelled_by_the_flag_counted_from_one() -> None:
    specs = [SecretSpec("token", env="A_TOKEN"), SecretSpec("sk-1/x", env="B_TOKEN")]
    values = secret_values(specs, {"A_TOKEN": "value-a", "B_TOKEN": "value-b"})
    assert values == [("--secret token", "value-a"), ("--secret number 2", "value-b")]


def test_a_repository_that_is_not_text_is_located() -> None:
    with pytest.raises(ConfigError) as refused:
        validate_repository(1.5, location="pyproject.toml:7")  # type: ignore[arg-type]
    assert refused.value.location == "pyproject.toml:7"


def test_a_project_path_that_is_a_file_asks_for_the_folder(tmp_path: Path) -> None:
    file = tmp_path / "pyproject.toml"
    file.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load(file)
    assert refused.value.hint == "pass the folder that holds pyproject.toml"


def test_a_bad_version_shows_versions_that_are_good() -> None:
    with pytest.raises(BuildlibError) as refused:
        parse_version("one.two")
    assert refused.value.hint == (
        "use a version such as '1.2.3', '1.2.3rc1', '1.2.3.post1' or '1.2.3.dev4' "
        "(https://peps.python.org/pep-0440/)"
    )


def test_a_program_that_cannot_start_says_what_to_check(tmp_path: Path) -> None:
    with pytest.raises(CommandFailed) as failed:
        Runner(quiet=True).run([sys.executable, "-c", "pass"], cwd=str(tmp_path / "gone"))
    assert failed.value.hint == "check the program and the directory it runs in"


def test_an_image_built_outside_git_is_created_now_in_utc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # nine hours ahead of UTC, all year
    time.tzset()
    try:
        image = ImageSpec("gpu", "acme/gpu", "Dockerfile", ".")
        labels = dict(oci_labels(Config(root=tmp_path), image, CommitFacts(None, None, None)))
    finally:
        monkeypatch.undo()
        time.tzset()
    created = _dt.datetime.strptime(
        labels["org.opencontainers.image.created"], "%Y-%m-%dT%H:%M:%SZ"
    )
    now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    assert abs(created - now) < _dt.timedelta(minutes=5)


def test_a_secret_file_is_read_for_redaction_with_the_process_environment(
    tmp_path: Path,
) -> None:
    key = tmp_path / "key.pem"
    key.write_text("a-private-key-line\n", encoding="utf-8")
    assert secret_values([SecretSpec("key", src=str(key))], os.environ) == [
        ("--secret key", "a-private-key-line")
    ]


def test_a_failed_command_without_a_name_is_called_a_command() -> None:
    with pytest.raises(CommandFailed) as failed:
        Runner(quiet=True).run([sys.executable, "-c", "raise SystemExit(3)"])
    assert failed.value.message.startswith("command failed (exit 3): ")


def test_a_value_that_is_not_text_is_shown_quoted() -> None:
    with pytest.raises(ConfigError) as refused:
        validate_repository(1.5)  # type: ignore[arg-type]
    assert refused.value.hint == 'quote it: "1.5"'


@pytest.mark.parametrize(
    ("location", "message", "shown"),
    [
        ("uv.lock", "uv.lock is out of date", "uv.lock is out of date"),
        ("uv.lock:3", "uv.lock's entry says 0.1.0", "uv.lock:3: uv.lock's entry says 0.1.0"),
        ("Dockerfile", "Dockerfile-cpu has CRLF", "Dockerfile: Dockerfile-cpu has CRLF"),
        ("pyproject.toml", "missing [project] table", "pyproject.toml: missing [project] table"),
        ("Dockerfile-lb:1", "Dockerfile-lb has CRLF", "Dockerfile-lb:1 has CRLF"),
        ("cfg.json:3", "cfg.json: bad key", "cfg.json:3: bad key"),
        ("uv.lock", "no uv, so uv.lock is unchecked", "no uv, so uv.lock is unchecked"),
        (".gitignore:2", "uv.lock is ignored (.gitignore:2)", "uv.lock is ignored (.gitignore:2)"),
    ],
)
def test_an_error_names_its_place_once(location: str, message: str, shown: str) -> None:
    error = BuildlibError(message, location=location)
    assert (str(error), error.location) == (shown, location)
    # doctor's line says it the same way
    result = CheckResult("x", "fail", message, *split_location(location))
    assert f"  x  {shown}" in render([result])
