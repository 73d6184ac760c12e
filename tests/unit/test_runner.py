"""``buildlib.runner.Runner`` on real child processes (``sys.executable -c ...``)."""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from buildlib.errors import BuildlibError, CommandFailed
from buildlib.runner import REDACTED, Runner, ask, echo_queries, find_program
from tests.support.shown import commands

PY = sys.executable


def py(code: str, *args: str) -> list[str]:
    return [PY, "-c", code, *args]


# --- echo and dry-run ---------------------------------------------------------------------


def test_echoes_the_command_line_before_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "ran"
    runner = Runner()
    written: list[tuple[str, bool]] = []

    class Stderr(io.StringIO):
        def write(self, text: str) -> int:
            written.append((text, marker.exists()))
            return super().write(text)

    monkeypatch.setattr(sys, "stderr", Stderr())
    argv = py("import sys; open(sys.argv[1], 'w').close(); print('hello there')", str(marker))
    result = runner.run(argv, capture=True)
    assert written == [(f"$ {shlex.join(argv)}\n", False)]  # before the process existed
    assert marker.exists()
    assert result.ok and result.returncode == 0
    assert result.stdout == "hello there\n"


def test_echo_shows_the_added_environment(capsys: pytest.CaptureFixture[str]) -> None:
    runner = Runner()
    result = runner.run(
        py("import os; print(os.environ['BUILDLIB_T'])"), env={"BUILDLIB_T": "a b"}, capture=True
    )
    assert result.stdout == "a b\n"
    assert commands(capsys.readouterr().err)[0].startswith("BUILDLIB_T='a b' ")


def test_dry_run_prints_but_does_not_run_mutating_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "created"
    runner = Runner(dry_run=True)
    argv = py("import sys; open(sys.argv[1], 'w').close()", str(marker))
    result = runner.run(argv)
    assert commands(capsys.readouterr().err) == [shlex.join(argv)]
    assert not marker.exists()
    assert result.ok and result.argv == argv and result.stdout == ""


def test_dry_run_does_not_look_for_the_binary(capsys: pytest.CaptureFixture[str]) -> None:
    runner = Runner(dry_run=True)
    assert runner.run(["no-such-binary-for-buildlib", "x"]).ok
    assert commands(capsys.readouterr().err) == ["no-such-binary-for-buildlib x"]


def test_dry_run_still_runs_read_only_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "queried"
    runner = Runner(dry_run=True)
    argv = py("import sys; open(sys.argv[1], 'w').close(); print('answer')", str(marker))
    result = runner.run(argv, mutating=False, capture=True)
    assert marker.exists()
    assert result.stdout == "answer\n"
    assert commands(capsys.readouterr().err) == [shlex.join(argv)]


def test_read_only_commands_are_not_echoed_outside_dry_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runner = Runner()
    assert runner.run(py("print(1)"), mutating=False, capture=True).stdout == "1\n"
    assert capsys.readouterr().err == ""


def test_a_query_is_asked_quietly_and_a_no_is_its_answer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # doctor's checks (uv lock --check, actionlint): a tool that says "no" is a result to
    # read, neither an error nor a line of output of its own
    code = "import os; print('no, in ' + os.path.basename(os.getcwd())); raise SystemExit(1)"
    result = ask(py(code), cwd=tmp_path)
    assert result.returncode == 1 and not result.ok
    assert result.stdout == f"no, in {tmp_path.name}\n"
    assert capsys.readouterr().err == ""


def test_a_query_is_echoed_when_every_command_is_asked_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = py("print('answer')")
    previous = echo_queries(True)
    try:
        assert ask(argv).stdout == "answer\n"
    finally:
        echo_queries(previous)
    assert shlex.join(argv) in capsys.readouterr().err


def test_quiet_echoes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    runner = Runner(quiet=True)
    runner.run(py("print('streamed')"))
    assert capsys.readouterr().err == ""


# --- streaming and failures ---------------------------------------------------------------


def test_streams_stdout_and_stderr_lines(capsys: pytest.CaptureFixture[str]) -> None:
    runner = Runner()
    code = "import sys; print('out-1', flush=True); print('err-1', file=sys.stderr)"
    result = runner.run(py(code))
    err = capsys.readouterr().err.splitlines()
    assert "out-1" in err and "err-1" in err
    assert result.ok
    assert set(result.stderr.splitlines()) == {"out-1", "err-1"}  # the kept tail


def test_a_streamed_command_given_no_input_finds_its_end_at_once() -> None:
    # a tool that would prompt on its input (a login without --password-stdin) must get
    # no answer at once, not wait for one nobody gives
    code = (
        "import select, sys; ready = select.select([sys.stdin], [], [], 10)[0]; "
        "print('end of input' if ready and sys.stdin.read() == '' else 'left waiting')"
    )
    assert Runner(quiet=True).run(py(code)).stderr == "end of input"


def test_stdin_is_passed() -> None:
    runner = Runner()
    result = runner.run(
        py("import sys; print(sys.stdin.read().upper())"), stdin="abc", capture=True
    )
    assert result.stdout == "ABC\n"


@pytest.mark.parametrize("capture", [True, False])
def test_stdin_bytes_are_passed_as_they_are(capture: bool) -> None:
    runner = Runner(quiet=True)
    code = "import sys; print(sys.stdin.buffer.read().hex())"
    result = runner.run(py(code), stdin=b"\xe9\xff", capture=capture)
    assert (result.stdout or result.stderr).strip() == "e9ff"


@pytest.mark.parametrize("capture", [True, False])
def test_a_str_stdin_that_utf8_cannot_encode_goes_with_a_question_mark(capture: bool) -> None:
    # a lone surrogate (an environment byte that is no UTF-8) must not stop the command:
    # the error would quote a character of what may be a secret
    runner = Runner(quiet=True)
    code = "import sys; print(sys.stdin.buffer.read().hex())"
    result = runner.run(py(code), stdin="ab\udce9c", capture=capture)
    assert (result.stdout or result.stderr).strip() == b"ab?c".hex()


def test_captured_output_has_its_carriage_returns_made_newlines() -> None:
    # as a text-mode pipe reads it: "\r\n" and a lone "\r" (a progress line) end a line
    runner = Runner(quiet=True)
    result = runner.run(["sh", "-c", r"printf 'a\r\nb\rc\n'; printf 'd\re\r\n' >&2"], capture=True)
    assert result.stdout == "a\nb\nc\n"
    assert result.stderr == "d\ne\n"


def test_cwd_is_honoured(tmp_path: Path) -> None:
    runner = Runner()
    argv = py("import os; print(os.getcwd())")
    result = runner.run(argv, cwd=str(tmp_path), capture=True)
    assert Path(result.stdout.strip()).resolve() == tmp_path.resolve()
    assert result.argv == argv


FAIL = "import sys; [print(f'line {n}', file=sys.stderr) for n in range(1, 6)]; sys.exit(3)"


@pytest.mark.parametrize("capture", [False, True])
def test_failure_raises_with_exit_code_and_last_stderr_lines(capture: bool) -> None:
    runner = Runner(quiet=True)
    with pytest.raises(CommandFailed) as caught:
        runner.run(py(FAIL), capture=capture, what="build of gpu", hint="look above")
    message = caught.value.message
    assert message.startswith("build of gpu failed (exit 3): ")
    assert message.endswith(": line 3 | line 4 | line 5")
    assert "line 2" not in message
    assert caught.value.hint == "look above"
    assert caught.value.exit_code == 4
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("capture", [False, True])
def test_a_failure_that_printed_nothing_ends_with_its_command(capture: bool) -> None:
    argv = py("raise SystemExit(2)")
    with pytest.raises(CommandFailed) as caught:
        Runner(quiet=True).run(argv, capture=capture)
    assert caught.value.message == f"command failed (exit 2): {shlex.join(argv)}"


def test_failure_without_check_returns_the_result() -> None:
    runner = Runner(quiet=True)
    result = runner.run(py(FAIL), capture=True, check=False)
    assert result.returncode == 3 and not result.ok
    assert result.stderr.splitlines()[-1] == "line 5"


def test_missing_binary_is_one_line_error() -> None:
    runner = Runner(quiet=True)
    with pytest.raises(BuildlibError) as caught:
        runner.run(["no-such-binary-for-buildlib", "--version"])
    assert not isinstance(caught.value, CommandFailed)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith("'no-such-binary-for-buildlib' was not found on PATH (fix: install")
    assert "BUILDLIB_DOCKER" in text


# --- secrets ------------------------------------------------------------------------------

SECRET = "s3cr3t-Value-42"


def test_secret_is_redacted_from_echo_output_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    runner = Runner()
    runner.add_secret(SECRET)
    runner.add_secret("")  # ignored: would otherwise redact everything
    runner.add_secret(None)
    code = (
        "import os, sys; v = os.environ['BUILDLIB_TEST_SECRET']\n"
        "print('token is', v, flush=True)\n"
        "print('bad token', v, file=sys.stderr)\n"
        "sys.exit(1)"
    )
    with pytest.raises(CommandFailed) as caught:
        runner.run(py(code), env={"BUILDLIB_TEST_SECRET": SECRET})
    streamed = capsys.readouterr().err
    assert f"token is {REDACTED}" in streamed.splitlines()
    assert f"bad token {REDACTED}" in streamed.splitlines()
    assert commands(streamed)[0].startswith(f"BUILDLIB_TEST_SECRET={REDACTED} ")
    assert f"bad token {REDACTED}" in str(caught.value)
    for text in (streamed, str(caught.value)):
        assert SECRET not in text


def test_secret_is_redacted_from_captured_error_detail() -> None:
    runner = Runner(quiet=True)
    runner.add_secret(SECRET)
    code = (
        f"import sys; print('denied: {SECRET[:8]}' + '{SECRET[8:]}', file=sys.stderr); sys.exit(2)"
    )
    with pytest.raises(CommandFailed) as caught:
        runner.run(py(code), capture=True)
    assert SECRET not in str(caught.value)
    assert f"denied: {REDACTED}" in str(caught.value)


# a token from the environment with a byte that is no UTF-8: Python holds it as a surrogate
# escape, the output that echoes it reads U+FFFD there
ODD_SECRET = os.fsdecode(b"s3cr3t-\xe9-Value-42")
ECHOED_ODD_SECRET = "s3cr3t-\ufffd-Value-42"


@pytest.mark.parametrize("capture", [False, True])
def test_a_secret_with_a_byte_no_utf8_is_redacted_as_the_output_shows_it(
    capsys: pytest.CaptureFixture[str], capture: bool
) -> None:
    runner = Runner()
    runner.add_secret(ODD_SECRET)
    code = (
        "import os, sys; v = os.environb[b'BUILDLIB_TEST_SECRET']\n"
        "sys.stdout.buffer.write(b'token is ' + v + b'\\n'); sys.stdout.flush()\n"
        "sys.stderr.buffer.write(b'bad token ' + v + b'\\n'); sys.exit(1)"
    )
    with pytest.raises(CommandFailed) as caught:
        runner.run(py(code), env={"BUILDLIB_TEST_SECRET": ODD_SECRET}, capture=capture)
    streamed = capsys.readouterr().err
    assert f"bad token {REDACTED}" in str(caught.value)
    assert capture or f"token is {REDACTED}" in streamed.splitlines()
    for text in (streamed, str(caught.value)):
        assert ODD_SECRET not in text and ECHOED_ODD_SECRET not in text


def test_a_secrets_echoed_form_too_short_to_redact_is_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 8 characters as Python holds them; 6 once each cut-off UTF-8 sequence reads one U+FFFD
    runner = Runner()
    runner.add_secret(os.fsdecode(b"abcd\xe2\x82\xe2\x82"))
    assert runner.redact("abcd\ufffd\ufffd") == "abcd\ufffd\ufffd"
    assert "a secret is shorter than 8 characters" in capsys.readouterr().err


def test_a_secret_with_a_lone_surrogate_is_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a docker login's password is read from JSON, which may escape a lone surrogate: no
    # bytes stand for it, and registering it must not fail on that
    runner = Runner()
    runner.add_secret("s3cr3t-\ud800-Value", "the token for ghcr.io")
    assert runner.redact("login s3cr3t-\ud800-Value ok") == f"login {REDACTED} ok"
    assert capsys.readouterr().err == ""


def test_longer_secret_is_redacted_first() -> None:
    runner = Runner()
    runner.add_secret("abcdefgh")
    runner.add_secret("abcdefgh-ijk")
    assert runner.redact("x abcdefgh-ijk y abcdefgh") == f"x {REDACTED} y {REDACTED}"


PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
    "q3Jv0bnR2W1kX9yZ8c4uT6mL0pA5sD2fG7hJ3kK1lL8zX4cV9bN\n"
    "-----END PRIVATE KEY-----\n"
)


def test_each_line_of_a_multi_line_secret_is_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runner = Runner()
    runner.add_secret(PEM.strip(), "--secret key")
    code = "import sys; [print('step:', line) for line in sys.stdin.read().splitlines()]"
    runner.run(py(code), stdin=PEM)
    streamed = capsys.readouterr().err
    for line in PEM.splitlines():
        assert line not in streamed
    assert streamed.count(f"step: {REDACTED}") == 4
    assert "warning" not in streamed


def test_a_short_secret_is_not_redacted_but_warned_about(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runner = Runner()
    runner.add_secret("e", "--secret short")
    runner.add_secret("e", "--secret short")  # warned once
    assert runner.redact("released the engine") == "released the engine"
    warned = capsys.readouterr().err
    assert warned.count("warning") == 1
    assert "--secret short is shorter than 8 characters: it cannot be redacted" in warned
    assert "'e'" not in warned


def test_short_lines_of_a_multi_line_secret_are_warned_about(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runner = Runner()
    runner.add_secret("machine example.com\nlogin bob\npassword hunter2\n}", "--secret netrc")
    assert runner.redact("password hunter2") == REDACTED
    assert runner.redact("} bob") == "} bob"
    assert "--secret netrc is shorter" not in capsys.readouterr().err
    runner.add_secret("user\npin1234", "--secret pair")
    assert "--secret pair has lines shorter than 8 characters" in capsys.readouterr().err


def test_secret_in_argv_is_refused_and_nothing_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    runner = Runner()
    runner.add_secret(SECRET)
    with pytest.raises(BuildlibError) as caught:
        runner.run(
            py("import sys; open(sys.argv[1], 'w').close()", str(marker), f"--password={SECRET}")
        )
    assert caught.value.message.endswith("a secret value would be on its command line")
    assert SECRET not in str(caught.value)
    assert not marker.exists()
    assert commands(capsys.readouterr().err) == []


def test_a_short_secret_may_equal_an_ordinary_word(capsys: pytest.CaptureFixture[str]) -> None:
    # a local registry's admin/admin: the user name is on the login's command line
    runner = Runner(dry_run=True)
    runner.add_secret("admin")
    runner.run(["docker", "login", "--username", "admin", "--password-stdin"])
    assert commands(capsys.readouterr().err) == ["docker login --username admin --password-stdin"]


def test_secret_in_argv_is_refused_in_dry_run_too(capsys: pytest.CaptureFixture[str]) -> None:
    runner = Runner(dry_run=True)
    runner.add_secret(SECRET)
    with pytest.raises(BuildlibError):
        runner.run(["docker", "login", "-p", SECRET])
    assert commands(capsys.readouterr().err) == []


# --- cancel -------------------------------------------------------------------------------


def test_cancel_terminates_a_running_command_from_another_thread(tmp_path: Path) -> None:
    started = tmp_path / "started"
    runner = Runner(quiet=True)
    outcome: list[BaseException | int] = []
    code = "import sys, time; open(sys.argv[1], 'w').close(); time.sleep(60); print('slept')"

    def work() -> None:
        try:
            outcome.append(runner.run(py(code, str(started)), check=False).returncode)
        except BaseException as exc:  # pragma: no cover - reported by the assert below
            outcome.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    began = time.monotonic()
    thread.start()
    deadline = began + 20
    while not started.exists():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.02)
    assert not runner.cancelled
    runner.cancel()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert runner.cancelled
    assert len(outcome) == 1 and isinstance(outcome[0], int)
    assert outcome[0] != 0  # terminated (-15 on POSIX)
    assert time.monotonic() - began < 30


def test_a_signal_while_input_is_written_stops_the_command(tmp_path: Path) -> None:
    # The child never reads its input, so writing 1 MiB blocks until the alarm's
    # KeyboardInterrupt (what Ctrl-C or tasks' SIGTERM handler raise) arrives in that write,
    # before a single line of output was read: the command must not outlive the run.
    pid_file = tmp_path / "pid"
    code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
    runner = Runner(quiet=True)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run(py(code, str(pid_file)), stdin="x" * (1 << 20), check=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pid = int(pid_file.read_text(encoding="utf-8"))
    try:
        with pytest.raises(ProcessLookupError):  # ended and reaped by the runner
            os.kill(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("capture", [False, True], ids=["streamed", "captured"])
def test_a_command_that_stops_reading_its_input_fails_with_its_own_words(capture: bool) -> None:
    # docker login --password-stdin refusing at once: its exit status and message are the
    # error, not "could not start" with the broken pipe of the unread input
    code = "import os, sys; os.close(0); print('refused: bad flag', file=sys.stderr); sys.exit(3)"
    runner = Runner(quiet=True)
    with pytest.raises(CommandFailed) as caught:
        runner.run(py(code), stdin="x" * (1 << 20), capture=capture, what="docker login")
    assert "exit 3" in caught.value.message and "refused: bad flag" in caught.value.message
    assert "could not start" not in caught.value.message


def test_cancelled_check_raises_command_failed(tmp_path: Path) -> None:
    started = tmp_path / "started"
    runner = Runner(quiet=True)
    errors: list[BaseException] = []
    code = "import sys, time; open(sys.argv[1], 'w').close(); time.sleep(60)"

    def work() -> None:
        try:
            runner.run(py(code, str(started)), what="build of cpu")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not started.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    runner.cancel()
    thread.join(timeout=20)
    assert len(errors) == 1 and isinstance(errors[0], CommandFailed)
    assert errors[0].message.startswith("build of cpu failed (exit ")


def test_a_program_that_cannot_start_is_one_command_failed(tmp_path: Path) -> None:
    script = tmp_path / "not-a-program"
    script.write_text("no shebang, not a binary\n")
    script.chmod(0o755)
    runner = Runner(quiet=True)
    with pytest.raises(CommandFailed) as caught:
        runner.run([str(script)], capture=True)
    assert caught.value.message == f"could not start {script}: Exec format error ({script})"
    assert caught.value.hint == "check the program and the directory it runs in"
    missing = tmp_path / "missing"
    with pytest.raises(CommandFailed) as caught:
        runner.run([sys.executable, "-c", "pass"], cwd=str(missing), what="docker build")
    assert caught.value.message == (
        f"could not start docker build: No such file or directory ({missing})"
    )


def test_a_command_that_cannot_start_through_no_file_of_its_own_names_none() -> None:
    # too many open files: its pipes cannot be made, and neither program nor directory is
    # to blame
    import resource

    runner = Runner(quiet=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.open(os.devnull, os.O_RDONLY)
    os.close(lowest_free)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        with pytest.raises(CommandFailed) as caught:
            runner.run(py("pass"), capture=True, what="docker build")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert caught.value.message == "could not start docker build: Too many open files"


def test_a_urls_userinfo_is_never_echoed() -> None:
    """A token in a URL is a credential even when nobody registered it as a secret."""
    runner = Runner()
    shown = runner.format(["git", "clone", "https://ci:TOKEN1234@host.example/o/r.git"])
    assert "TOKEN1234" not in shown and f"https://{REDACTED}@host.example/o/r.git" in shown


@pytest.mark.parametrize(("secret", "refused"), [("12345678", True), ("1234567", False)])
def test_a_secret_of_eight_characters_never_goes_on_a_command_line(
    secret: str, refused: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = Runner(quiet=True, dry_run=True)
    runner.add_secret(secret)
    # warned about exactly when it cannot be redacted
    assert ("shorter than 8 characters" in capsys.readouterr().err) is not refused
    argv = ["/usr/local/bin/docker", "build", "--build-arg", f"TOKEN={secret}", "."]
    if refused:
        with pytest.raises(BuildlibError) as e:
            runner.run(argv)
        assert e.value.message == (
            "refusing to run docker: a secret value would be on its command line"
        )
        assert e.value.hint == "a token must not also be a tag, name or path given to buildlib"
    else:
        assert runner.run(argv).ok  # too short to tell from a word: a name, a tag


def test_a_program_is_found_on_path_or_beside_the_running_python(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from buildlib.runner import find_program

    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    interpreter = Path(sys.executable)
    assert find_program(interpreter.name) == str(interpreter.parent / interpreter.name)
    assert find_program("buildlib-no-such-program") is None
    tool = tmp_path / "buildlib-test-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert find_program("buildlib-test-tool") == str(tool)


# --- text encoding --------------------------------------------------------------------------


ECHO = py(
    "import sys; out = sys.stdout.buffer; "
    "out.write(sys.stdin.buffer.read() + b' caf\\xc3\\xa9 \\xff\\n'); out.flush()"
)


@pytest.mark.usefixtures("ascii_locale")
def test_tool_output_and_stdin_are_utf8_whatever_the_locale() -> None:
    lines: list[str] = []
    captured = Runner(quiet=True).run(ECHO, stdin="Jos\u00e9", capture=True, mutating=False)
    Runner(quiet=True).run(ECHO, stdin="Jos\u00e9", on_line=lines.append)
    # an invalid byte is shown as U+FFFD instead of stopping the command's reader
    assert captured.stdout == "Jos\u00e9 caf\u00e9 \ufffd\n"
    assert lines == ["Jos\u00e9 caf\u00e9 \ufffd"]


def test_find_program_looks_beside_the_running_python_when_path_lacks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = tmp_path / "bin" / "some-tool"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(tool.parent / "python"))
    assert find_program("some-tool") == str(tool)
    assert find_program("no-such-tool") is None
