"""What a streamed command hands on: each line as it was written (only the newline taken
off) to ``show`` and ``on_line``, and a result that holds its argv and its output's tail;
which of two overlapping secrets is redacted first; how a short secret without a label is
named in its warning."""

from __future__ import annotations

import sys

import pytest

from buildlib.runner import REDACTED, TAIL_LINES, Runner

PY = sys.executable
# lines with trailing blanks and a trailing "X", as a build may print
WRITES = "import sys; sys.stdout.write('indented  \\nBOX\\nXX\\nprogress\\nend')"
LINES = ["indented  ", "BOX", "XX", "progress", "end"]


def test_show_and_on_line_see_each_line_as_written() -> None:
    shown: list[str] = []
    seen: list[str] = []
    Runner().run([PY, "-c", WRITES], show=shown.append, on_line=seen.append)
    assert shown == LINES
    assert seen == LINES


def test_a_quiet_run_still_hands_each_line_to_on_line(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []
    Runner(quiet=True).run([PY, "-c", WRITES], on_line=seen.append)
    assert seen == LINES
    assert "indented" not in capsys.readouterr().err


def test_a_streamed_result_holds_its_argv_and_the_output_as_its_tail() -> None:
    argv = [PY, "-c", WRITES]
    result = Runner(quiet=True).run(argv, check=False)
    assert result.argv == argv
    assert result.stdout == ""
    assert result.stderr == "\n".join(LINES)
    assert result.ok


def test_a_streamed_result_keeps_only_the_last_lines_of_a_long_output() -> None:
    # a build prints thousands of lines: its result holds the tail a failure's error needs
    result = Runner(quiet=True).run([PY, "-c", "for n in range(250): print(n)"], check=False)
    assert result.stderr.splitlines() == [str(n) for n in range(250 - TAIL_LINES, 250)]


def test_a_secret_inside_a_longer_one_does_not_leave_the_rest_of_it_shown() -> None:
    runner = Runner(quiet=True)
    runner.add_secret("zzzzzzzz")
    runner.add_secret("aaaa-zzzzzzzz")  # sorts before the shorter one by its letters
    assert runner.redact("token aaaa-zzzzzzzz and zzzzzzzz") == (f"token {REDACTED} and {REDACTED}")


def test_a_short_secret_without_a_label_is_called_a_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Runner(quiet=True).add_secret("abc")
    assert "a secret is shorter than 8 characters" in capsys.readouterr().err
