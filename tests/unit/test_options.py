"""``buildlib.options``: defaults < pyproject < environment < flags, and the flag parsers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildlib import config as config_module
from buildlib.buildargs import secret_word
from buildlib.config import Config
from buildlib.errors import ConfigError, UsageError
from buildlib.flags import ImageFlags
from buildlib.options import (
    REGISTRY_ENV,
    SecretSpec,
    options_for,
    parse_build_args,
    parse_jobs,
    parse_platforms,
    parse_secrets,
    resolve_tag,
    secret_values,
)


def make_config(root: Path, extra: str = "") -> Config:
    (root / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (root / "pyproject.toml").write_text(
        f"""\
[project]
name = "demo"
version = "0.1.0"

[tool.buildlib]
{extra}

[tool.buildlib.images.app]
repository = "acme/app"
dockerfile = "Dockerfile"
""",
        encoding="utf-8",
    )
    return config_module.load(root)


@pytest.fixture
def plain(tmp_path: Path) -> Config:
    """No tag or registry settings: the built-in defaults apply."""
    return make_config(tmp_path)


@pytest.fixture
def configured(tmp_path: Path) -> Config:
    return make_config(
        tmp_path, 'default-tag = "from-pyproject"\ntag-env = "DEMO_TAG"\nregistry = "ghcr.io"'
    )


# --- the tag ------------------------------------------------------------------------------


def test_tag_default(plain: Config) -> None:
    assert plain.default_tag == "local"
    assert plain.tag_env == "BUILDLIB_IMAGE_TAG"
    assert resolve_tag(plain, None, {}) == "local"


def test_tag_pyproject_beats_default(configured: Config) -> None:
    assert resolve_tag(configured, None, {}) == "from-pyproject"


def test_tag_environment_beats_pyproject(configured: Config) -> None:
    assert resolve_tag(configured, None, {"DEMO_TAG": "from-env"}) == "from-env"
    # only the configured variable counts
    assert resolve_tag(configured, None, {"BUILDLIB_IMAGE_TAG": "other"}) == "from-pyproject"
    # an empty variable is "not set"
    assert resolve_tag(configured, None, {"DEMO_TAG": ""}) == "from-pyproject"


def test_tag_flag_beats_environment(configured: Config) -> None:
    assert resolve_tag(configured, "from-flag", {"DEMO_TAG": "from-env"}) == "from-flag"


def test_tag_from_environment_is_validated_with_its_source(configured: Config) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_tag(configured, None, {"DEMO_TAG": "-bad"})
    assert caught.value.location == "$DEMO_TAG"
    assert caught.value.message == "invalid Docker tag '-bad': it starts with '-'"
    assert caught.value.hint is not None and caught.value.hint.startswith("use 'bad'")


def test_tag_from_flag_is_validated_with_its_source(configured: Config) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_tag(configured, "bad tag", {"DEMO_TAG": "fine"})
    assert caught.value.location == "--tag"
    assert "character ' ' is not allowed" in caught.value.message


def test_options_for_tag_priority(configured: Config) -> None:
    env = {"DEMO_TAG": "from-env"}
    assert options_for(configured, ImageFlags(), environ={}).tag == "from-pyproject"
    assert options_for(configured, ImageFlags(), environ=env).tag == "from-env"
    assert options_for(configured, ImageFlags(), tag="from-flag", environ=env).tag == "from-flag"


# --- the registry -------------------------------------------------------------------------


def task_registry(config: Config, flag: str | None, environ: dict[str, str]) -> str | None:
    """The registry of a task given ``--registry flag`` (``None``: not given) in ``environ``."""
    return options_for(config, ImageFlags(), registry=flag, environ=environ).registry


def test_registry_default(plain: Config) -> None:
    assert task_registry(plain, None, {}) == "docker.io"


def test_registry_pyproject_beats_default(configured: Config) -> None:
    assert task_registry(configured, None, {}) == "ghcr.io"


def test_registry_environment_beats_pyproject(configured: Config) -> None:
    assert REGISTRY_ENV == "BUILDLIB_REGISTRY"
    assert task_registry(configured, None, {REGISTRY_ENV: "127.0.0.1:5000"}) == "127.0.0.1:5000"


def test_registry_flag_beats_environment(configured: Config) -> None:
    env = {REGISTRY_ENV: "127.0.0.1:5000"}
    assert task_registry(configured, "quay.io", env) == "quay.io"
    assert (
        options_for(configured, ImageFlags(), registry="quay.io", environ=env).registry == "quay.io"
    )
    assert options_for(configured, ImageFlags(), environ=env).registry == "127.0.0.1:5000"
    assert options_for(configured, ImageFlags(), environ={}).registry == "ghcr.io"


def test_builder_from_environment_and_flag(plain: Config) -> None:
    assert options_for(plain, ImageFlags(), environ={}).builder is None
    assert (
        options_for(plain, ImageFlags(), environ={"BUILDLIB_BUILDER": "remote"}).builder == "remote"
    )
    assert (
        options_for(
            plain, ImageFlags(builder="mine"), environ={"BUILDLIB_BUILDER": "remote"}
        ).builder
        == "mine"
    )


# --- --build-arg --------------------------------------------------------------------------


def test_parse_build_args_pairs_in_order() -> None:
    assert parse_build_args(["A=1", "BASE_IMAGE=python:3.12=slim", "EMPTY="]) == (
        ("A", "1"),
        ("BASE_IMAGE", "python:3.12=slim"),
        ("EMPTY", ""),
    )


def test_parse_build_args_key_only_reads_the_given_environment() -> None:
    assert parse_build_args(["APP_VERSION"], {"APP_VERSION": "9.9"}) == (("APP_VERSION", "9.9"),)
    assert parse_build_args(["APP_VERSION"], {}) == ()  # unset: left to the Dockerfile
    assert parse_build_args(["APP_VERSION", "A=1"], {}) == (("A", "1"),)  # only itself
    assert parse_build_args(["APP_VERSION"], {"APP_VERSION": ""}) == (("APP_VERSION", ""),)


def test_options_for_key_only_build_arg_uses_its_environ(
    plain: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_VERSION", "from-process")
    options = options_for(
        plain, ImageFlags(build_arg=["APP_VERSION"]), environ={"APP_VERSION": "given"}
    )
    assert options.build_args == (("APP_VERSION", "given"),)


@pytest.mark.parametrize("value", ["=x", "A B=1", "-X=1", "A.B=1", "1A=1", "É=1"])
def test_parse_build_args_rejects_malformed(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_build_args([value])
    assert caught.value.message == (
        "--build-arg number 1 is not KEY=VALUE with a KEY of letters, digits and _ "
        "(the value is not shown)"
    )
    assert caught.value.hint == "e.g. --build-arg BASE_IMAGE=..."


def test_a_malformed_build_arg_never_shows_its_value() -> None:
    with pytest.raises(UsageError) as caught:
        parse_build_args(["BASE=ok", "MY-TOKEN=ghp_s3cr3t"])
    assert "ghp_s3cr3t" not in str(caught.value) and "number 2" in caught.value.message


@pytest.mark.parametrize(
    "key", ["HF_TOKEN", "db_password", "API_KEY", "AWS_SECRET", "GCP_CREDENTIALS", "MYSQL_PASSWD"]
)
def test_parse_build_args_refuses_secret_looking_names(key: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_build_args([f"{key}=value"])
    assert caught.value.message.startswith(f"--build-arg {key} looks like a secret (the word ")
    assert caught.value.message.endswith("): build args are stored in the image history")
    assert caught.value.hint == (
        f"pass it as a BuildKit secret: --secret id={key.lower()},env={key}; if it holds no "
        f'secret, allow it: [tool.buildlib] allow-build-args = ["{key}"]'
    )
    assert "value" not in str(caught.value).replace("VALUE", "")


@pytest.mark.parametrize("key", ["MONKEY", "KEYBOARD_LAYOUT", "TOKENIZER_NAME", "BYPASS_CACHE"])
def test_a_word_that_merely_contains_a_secret_word_is_no_secret(key: str) -> None:
    assert parse_build_args([f"{key}=1"]) == ((key, "1"),)


def test_an_allowed_name_passes_and_only_that_one(tmp_path: Path) -> None:
    config = make_config(tmp_path, 'allow-build-args = ["SSH_KEY_PATH"]')
    assert config.allow_build_args == ("SSH_KEY_PATH",)
    options = options_for(config, ImageFlags(build_arg=["SSH_KEY_PATH=/k"]), environ={})
    assert options.build_args == (("SSH_KEY_PATH", "/k"),)
    with pytest.raises(UsageError, match="--build-arg SSH_KEY looks like a secret"):
        options_for(config, ImageFlags(build_arg=["SSH_KEY=/k"]), environ={})


def test_secret_word() -> None:
    assert secret_word("hf_token") == "TOKEN"
    assert secret_word("hfToken") == secret_word("HFToken") == "TOKEN"
    assert secret_word("API-KEY") == "KEY"
    assert secret_word("TOKEN2") == "TOKEN"
    assert secret_word("BASE_IMAGE") is None
    assert secret_word("APP_VERSION") is None
    assert secret_word("MONKEY") is None
    assert secret_word("HF_TOKEN", allowed=["HF_TOKEN"]) is None


# --- --secret -----------------------------------------------------------------------------


def test_parse_secrets_env_and_src(tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text("s3cret\n")
    specs = parse_secrets(
        ["id=hf,env=HF_TOKEN", f"id=ssh,src={key_file}", "type=env,id=t,env=HF_TOKEN"],
        {"HF_TOKEN": "s3cret"},
    )
    assert specs == (
        SecretSpec("hf", env="HF_TOKEN"),
        SecretSpec("ssh", src=str(key_file)),
        SecretSpec("t", env="HF_TOKEN"),
    )
    assert [s.flag() for s in specs] == [
        "id=hf,env=HF_TOKEN",
        f"id=ssh,src={key_file}",
        "id=t,env=HF_TOKEN",
    ]
    assert all("s3cret" not in s.flag() for s in specs)


def test_parse_secrets_takes_buildx_type_and_source_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The forms docker/buildx util/buildflags/secrets.go accepts: keys in any case, source=
    # for src=, type=env turning src= (or the id) into the variable's name, type=file the id
    # into the file's (as docs/reference/buildx_build.md says; see parse_secrets).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "HF_TOKEN").write_text("from a file\n")
    environ = {"HF_TOKEN": "s3cret", "GH_TOKEN": "s3cret2"}
    specs = parse_secrets(
        [
            "id=a,source=HF_TOKEN",
            "type=env,id=b,src=GH_TOKEN",
            "type=env,id=c,source=HF_TOKEN",
            "type=env,id=HF_TOKEN",
            "type=file,id=HF_TOKEN",
            "ID=d,Env=GH_TOKEN",
            "type=file,id=e,env=GH_TOKEN",  # the id is the file's name only without env= or src=
            "type=file,id=f,src=HF_TOKEN",
        ],
        environ,
    )
    assert [s.flag() for s in specs] == [
        "id=a,src=HF_TOKEN",
        "id=b,env=GH_TOKEN",
        "id=c,env=HF_TOKEN",
        "id=HF_TOKEN,env=HF_TOKEN",
        "id=HF_TOKEN,src=HF_TOKEN",
        "id=d,env=GH_TOKEN",
        "id=e,env=GH_TOKEN",
        "id=f,src=HF_TOKEN",
    ]
    with pytest.raises(UsageError) as caught:
        parse_secrets(["type=env,id=UNSET_VAR"], environ)
    assert caught.value.message == "--secret UNSET_VAR reads $UNSET_VAR, which is not set"


def test_parse_secrets_reads_the_value_as_buildx_csv(tmp_path: Path) -> None:
    # docker/buildx util/buildflags/secrets.go (Secret.UnmarshalText) reads the value with
    # github.com/tonistiigi/go-csvvalue: a quoted field may hold a comma; docker is given it
    # quoted again, as buildx's csvBuilder.Write (util/buildflags/export.go) writes it.
    key_file = tmp_path / 'with,comma "q"'
    key_file.write_text("s3cret\n")
    quoted = str(key_file).replace('"', '""')
    (spec,) = parse_secrets([f'id=a,"src={quoted}"'], {})
    assert spec == SecretSpec("a", src=str(key_file))
    assert spec.flag() == f'id=a,"src={quoted}"'
    # a comma alone or a quote alone is quoted too; a field is split at its first "=" only
    # (secrets.go: strings.SplitN(field, "=", 2))
    comma, quote, equals = tmp_path / "a,b", tmp_path / 'a"b', tmp_path / "k=v"
    for path in (comma, quote, equals):
        path.write_text("s3cret\n")
    given = [f'id=c,"src={comma}"', f'id=q,"src={tmp_path}/a""b"', f"id=e,src={equals}"]
    specs = parse_secrets(given, {})
    assert [s.src for s in specs] == [str(comma), str(quote), str(equals)]
    assert [s.flag() for s in specs] == given


def test_parse_secrets_takes_an_empty_env_or_src_as_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docker/buildx util/buildflags/secrets.go (Secret.UnmarshalText) stores env= and src= as
    # given; an empty one then counts as unset in BuildKit's secretsprovider NewStore.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "key").write_text("s3cret\n")
    specs = parse_secrets(
        ["id=HF_TOKEN,env=", "id=key,src=", "type=env,id=t,env=,src=HF_TOKEN"], {"HF_TOKEN": "v"}
    )
    assert [s.flag() for s in specs] == [
        "id=HF_TOKEN,env=HF_TOKEN",
        "id=key,src=key",
        "id=t,env=HF_TOKEN",
    ]


def test_an_empty_secret_is_skipped_as_buildx_skips_it(plain: Config) -> None:
    # docker/buildx util/buildflags/secrets.go (ParseSecretSpecs, at 461836b) skips a value
    # that is "" before parsing it (`--secret ""`, or `--secret "$UNSET"`).
    specs = parse_secrets(["", "id=hf,env=HF_TOKEN", ""], {"HF_TOKEN": "v"})
    assert specs == (SecretSpec("hf", env="HF_TOKEN"),)
    options = options_for(plain, ImageFlags(secret=[""]), environ={})
    assert options.secrets == ()
    with pytest.raises(UsageError) as caught:
        parse_secrets(["", "x"], {})
    assert caught.value.message.startswith("--secret number 2 is not id=NAME")


def test_parse_secrets_unset_variable() -> None:
    with pytest.raises(UsageError) as caught:
        parse_secrets(["id=x,env=UNSET_VAR"], {"OTHER": "1"})
    assert caught.value.message == "--secret x reads $UNSET_VAR, which is not set"
    assert caught.value.hint == "export UNSET_VAR=... before building"


def test_parse_secrets_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nope"
    with pytest.raises(UsageError) as caught:
        parse_secrets([f"id=x,src={missing}"], {})
    assert caught.value.message == f"--secret x: {str(missing)!r} does not exist"
    with pytest.raises(UsageError) as caught:
        parse_secrets(["id=x,src=key.txt"], {})
    assert caught.value.message == "--secret x: 'key.txt' does not exist"
    with pytest.raises(UsageError) as caught:
        parse_secrets(["id=x,src=hf_s3cr3t"], {})
    assert caught.value.message == "--secret x: the file it names does not exist"


@pytest.mark.parametrize(
    ("value", "leaked"),
    [
        ("id=hf,env=hf_s3cr3tT0ken", "hf_s3cr3tT0ken"),  # env=$HF_TOKEN, expanded by the shell
        ("hf_s3cr3tT0ken", "hf_s3cr3tT0ken"),  # --secret $HF_TOKEN
        ("id=hf,src=hf_s3cr3tT0ken", "hf_s3cr3tT0ken"),  # src=$HF_TOKEN
    ],
)
def test_secret_errors_never_repeat_a_value(value: str, leaked: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_secrets([value], {})
    assert leaked not in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        "x",
        "env=HF_TOKEN",
        "id=x,env=HF_TOKEN,mode=1",
        "id=,env=HF_TOKEN",
        "id=x,env",  # a field without "=": buildx's "must be a key=value pair"
        "id=x,src",
        "id=x,",
        "type=ssh,id=x,env=HF_TOKEN",
        "type=,id=x,env=HF_TOKEN",
        'id=x,env=HF"TOKEN',  # a quote in an unquoted field: go-csvvalue's ErrBareQuote
        '"id=x"y,env=HF_TOKEN',  # text after a closing quote: its ErrQuote
        'id=x,"env=HF_TOKEN',  # a quote never closed
    ],
)
def test_parse_secrets_rejects_malformed(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_secrets([value], {"HF_TOKEN": "v"})
    assert caught.value.message == (
        "--secret number 1 is not id=NAME,env=VAR or id=NAME,src=FILE (what was given is not shown)"
    )
    assert caught.value.hint == "e.g. --secret id=hf_token,env=HF_TOKEN"


def test_options_for_secrets_read_the_given_environ(plain: Config) -> None:
    options = options_for(
        plain, ImageFlags(secret=["id=hf,env=HF_TOKEN"]), environ={"HF_TOKEN": "v"}
    )
    assert options.secrets == (SecretSpec("hf", env="HF_TOKEN"),)
    with pytest.raises(UsageError):
        options_for(plain, ImageFlags(secret=["id=hf,env=HF_TOKEN"]), environ={})


# --- --platform ---------------------------------------------------------------------------


def test_parse_platforms() -> None:
    assert parse_platforms(None) == ()
    assert parse_platforms("") == ()
    assert parse_platforms("linux/amd64") == ("linux/amd64",)
    assert parse_platforms(" linux/amd64 , linux/arm/v7,") == ("linux/amd64", "linux/arm/v7")


def test_parse_platforms_refuses_a_mistyped_architecture_with_the_close_one() -> None:
    with pytest.raises(UsageError) as caught:
        parse_platforms("linux/arm64,linux/amd46")
    assert caught.value.message == (
        "--platform 'linux/amd46' names no known architecture 'amd46' (did you mean 'amd64'?)"
    )


@pytest.mark.parametrize(
    "value",
    ["amd64", "linux/arm/v7/x", "linux/amd64,arm64", "linux/", "linux amd64"],
)
def test_parse_platforms_rejects_non_os_arch(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_platforms(value)
    assert caught.value.message.endswith("is not os/arch[/variant]")
    assert caught.value.hint is not None and "--platform linux/amd64" in caught.value.hint


@pytest.mark.parametrize(
    ("flag", "env", "shown"),
    [
        ("https://ghcr.io", None, "--registry https://ghcr.io"),
        ("ghcr.io/acme", None, "--registry ghcr.io/acme"),
        # no port after ':', so it may be user:token: hidden
        (None, "localhost:port", "BUILDLIB_REGISTRY=localhost:***"),
        ("https://bob:s3cr3t@ghcr.io", None, "--registry https://***@ghcr.io"),
        ("HTTPS://bob:s3cr3t@ghcr.io", None, "--registry HTTPS://***@ghcr.io"),
        (None, "bob:s3cr3t@ghcr.io", "BUILDLIB_REGISTRY=***@ghcr.io"),
        ("https://u:dGVzdA==@ghcr.io", None, "--registry https://***@ghcr.io"),
        (None, "https://AWS:eyJw/Zm9v==@x.example/p", "BUILDLIB_REGISTRY=https://***@x.example/p"),
    ],
)
def test_a_registry_must_be_a_host_and_port(configured, flag, env, shown) -> None:
    environ = {"BUILDLIB_REGISTRY": env} if env else {}
    with pytest.raises(UsageError) as caught:
        task_registry(configured, flag, environ)
    assert caught.value.message == f"{shown}: not a registry host[:port] (no scheme, no path)"
    assert caught.value.hint is not None and "127.0.0.1:5000" in caught.value.hint


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("...", "not a registry host[:port] (no scheme, no path)"),
        ("-", "not a registry host[:port] (no scheme, no path)"),
        ("host:99999999", "port 99999999 is not between 1 and 65535"),
    ],
)
def test_a_registry_flag_follows_the_reference_grammar(configured, value, problem) -> None:
    with pytest.raises(UsageError) as caught:
        task_registry(configured, value, {})
    assert caught.value.message == f"--registry {value}: {problem}"


def test_an_ipv6_registry_flag_is_accepted(configured) -> None:
    assert task_registry(configured, "[::1]:5000", {}) == "[::1]:5000"
    assert task_registry(configured, None, {REGISTRY_ENV: "[::1]"}) == "[::1]"


def test_registry_priority_flag_then_environment_then_pyproject(configured) -> None:
    env = {"BUILDLIB_REGISTRY": "127.0.0.1:5000"}
    assert task_registry(configured, "quay.io", env) == "quay.io"
    assert task_registry(configured, None, env) == "127.0.0.1:5000"
    assert task_registry(configured, None, {}) == "ghcr.io"


# --- --jobs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jobs", "sequential", "expected"),
    [
        (None, False, None),
        ("", False, None),
        ("3", False, 3),
        (2, False, 2),
        ("1", True, 1),  # they agree
        (None, True, 1),
        ("", True, 1),
    ],
)
def test_parse_jobs(jobs: int | str | None, sequential: bool, expected: int | None) -> None:
    assert parse_jobs(jobs, sequential) == expected


@pytest.mark.parametrize(
    ("jobs", "message", "hint"),
    [
        ("two", "--jobs 'two' is not a number", "e.g. --jobs 2"),
        ("0", "--jobs must be at least 1", "--jobs 1 (or --sequential)"),
        (-1, "--jobs must be at least 1", "--jobs 1 (or --sequential)"),
    ],
)
def test_parse_jobs_rejects(jobs: int | str, message: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_jobs(jobs, False)
    assert caught.value.message == message
    assert caught.value.hint == hint


def test_parse_jobs_refuses_sequential_with_more_jobs() -> None:
    with pytest.raises(UsageError) as caught:
        parse_jobs("3", True)
    assert (
        caught.value.message
        == "--sequential and --jobs 3 both say how many images to build at once"
    )
    assert caught.value.hint == "pass one of them: --jobs 3 or --sequential"


def test_options_for_defaults(plain: Config) -> None:
    options = options_for(plain, ImageFlags(), environ={})
    assert options.tag == "local"
    assert options.platforms == ()
    assert options.build_args == ()
    assert options.secrets == ()
    assert options.jobs is None
    assert options.no_cache is False
    assert options.dry_run is False
    assert options.registry == "docker.io"


def test_options_for_sequential_is_one_job(plain: Config) -> None:
    assert options_for(plain, ImageFlags(jobs="3"), environ={}).jobs == 3
    assert options_for(plain, ImageFlags(sequential=True), environ={}).jobs == 1


def test_secret_values_are_read_for_redaction(tmp_path: Path) -> None:
    from buildlib.options import secret_values

    token_file = tmp_path / "token"
    token_file.write_text("file-s3cr3t\n")
    specs = parse_secrets(
        ["id=a,env=HF_TOKEN", f"id=b,src={token_file}"], {"HF_TOKEN": "env-s3cr3t"}
    )
    assert secret_values(specs, {"HF_TOKEN": "env-s3cr3t"}) == [
        ("--secret a", "env-s3cr3t"),
        ("--secret b", "file-s3cr3t"),
    ]


def test_a_secret_file_gone_after_its_flag_was_checked_leaves_the_others(tmp_path: Path) -> None:
    from buildlib.options import secret_values

    gone, kept = tmp_path / "gone", tmp_path / "kept"
    gone.write_text("old\n")
    kept.write_text("kept-s3cr3t\n")
    specs = parse_secrets([f"id=a,src={gone}", f"id=b,src={kept}"], {})
    gone.unlink()  # docker says so when it reads it; redaction has nothing to hide
    assert secret_values(specs, {}) == [("--secret b", "kept-s3cr3t")]


def test_a_secret_file_too_large_to_redact_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from buildlib.options import SECRET_FILE_MAX, secret_values

    big = tmp_path / "bundle"
    big.write_text("x" * (SECRET_FILE_MAX + 1))
    specs = parse_secrets([f"id=bundle,src={big}"], {})
    assert secret_values(specs, {}) == []
    warned = capsys.readouterr().err
    assert "--secret bundle: its file is larger than 64 KiB, too large to read" in warned
    assert "xxxx" not in warned


def test_secret_values_read_a_file_of_the_largest_size_and_go_on_past_a_larger_one(
    tmp_path: Path,
) -> None:
    from buildlib.options import SECRET_FILE_MAX, secret_values

    (tmp_path / "big").write_text("x" * (SECRET_FILE_MAX + 1))
    (tmp_path / "largest").write_text("y" * SECRET_FILE_MAX)
    specs = parse_secrets(
        [f"id=big,src={tmp_path / 'big'}", f"id=largest,src={tmp_path / 'largest'}"], {}
    )
    assert secret_values(specs, {}) == [("--secret largest", "y" * SECRET_FILE_MAX)]


def test_secret_files_are_read_as_utf8_as_the_output_they_are_redacted_from(
    tmp_path: Path, ascii_locale: None
) -> None:
    # The runner decodes a build's output as UTF-8 with replacement (runner.ENCODING): a value
    # read otherwise would not match the text to redact, and bytes that are no UTF-8 must not
    # stop the build.
    (tmp_path / "text").write_text("t\u00f6k\u00e9n\n", encoding="utf-8")
    (tmp_path / "binary").write_bytes(b"s3cr3t\xff\n")
    specs = parse_secrets([f"id=t,src={tmp_path / 'text'}", f"id=b,src={tmp_path / 'binary'}"], {})
    assert secret_values(specs, {}) == [
        ("--secret t", "t\u00f6k\u00e9n"),
        ("--secret b", "s3cr3t\ufffd"),
    ]


# --- the environment readers, each from a given environment ----------------------------


def test_ci_branch_is_the_branch_github_actions_checked_out() -> None:
    from buildlib.options import ci_branch

    actions = {"GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "main"}
    assert ci_branch(actions) == "main"
    assert ci_branch({**actions, "GITHUB_REF_TYPE": "branch"}) == "main"
    assert ci_branch({**actions, "GITHUB_REF_TYPE": "tag"}) is None
    assert ci_branch({"GITHUB_REF_NAME": "main"}) is None
    assert ci_branch({"GITHUB_ACTIONS": "true"}) is None


def test_docker_selection_reads_what_the_docker_client_reads() -> None:
    from buildlib.options import DockerSelection, docker_selection

    env = {
        "DOCKER_HOST": "unix:///run/other.sock",
        "DOCKER_CONTEXT": "remote",
        "DOCKER_CONFIG": "/etc/docker-ci",
        "BUILDX_BUILDER": "k8s",
    }
    assert docker_selection(env) == DockerSelection(
        "unix:///run/other.sock", "remote", "/etc/docker-ci", "k8s"
    )
    assert docker_selection({"DOCKER_HOST": ""}) == DockerSelection(None, None, None, None)


def test_verdict_cache_follows_xdg_then_home_and_can_be_turned_off() -> None:
    from buildlib.options import NO_CACHE_ENV, verdict_cache

    assert verdict_cache({"HOME": "/home/dev"}) == "/home/dev/.cache/buildlib"
    assert verdict_cache({"HOME": "/home/dev", "XDG_CACHE_HOME": "/var/cache/dev"}) == (
        "/var/cache/dev/buildlib"
    )
    assert verdict_cache({"HOME": "/home/dev", NO_CACHE_ENV: "1"}) is None
    home = os.path.expanduser("~")  # without $HOME in the given environment: the user's
    assert verdict_cache({}) == os.path.join(home, ".cache", "buildlib")


def test_parse_secrets_id_alone_reads_the_variable_then_the_file_named_like_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # buildx's fallback (BuildKit secretsprovider.NewStore): variable first, then file.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pypi").write_text("from-file\n")
    (tmp_path / "npmrc").write_text("from-file\n")
    specs = parse_secrets(["id=pypi", "id=npmrc"], {"pypi": "from-env-value"})
    assert specs == (SecretSpec("pypi", env="pypi"), SecretSpec("npmrc", src="npmrc"))
    assert [s.flag() for s in specs] == ["id=pypi,env=pypi", "id=npmrc,src=npmrc"]
    assert secret_values(specs, {"pypi": "from-env-value"}) == [
        ("--secret pypi", "from-env-value"),
        ("--secret npmrc", "from-file"),
    ]


def test_parse_secrets_id_alone_with_neither_says_what_to_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as caught:
        parse_secrets(["id=pypi"], {"PYPI_TOKEN": "v"})
    assert caught.value.message == (
        "--secret pypi has no env= or src=, and neither a variable nor a file is named like its id"
    )
    assert caught.value.hint == "add env=VAR or src=FILE, e.g. --secret id=pypi,env=VAR"
