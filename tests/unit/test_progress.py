"""Logs a person can read: whole lines under one lock (real threads), GitHub groups per
image, live status lines on a terminal, and a failed build located at its Dockerfile line."""

from __future__ import annotations

import io
import re
import sys
import threading
import time
from pathlib import Path

import pytest

from buildlib import buildlog, console
from buildlib.bake import BakeLines
from buildlib.config import ImageSpec
from buildlib.docker import build_failed
from buildlib.plan import ImageBuild
from buildlib.progress import BuildDisplay, choose_mode
from buildlib.runner import Runner


class SlowStream(io.StringIO):
    """Writes one character at a time and lets other threads run in between: without a lock
    around whole lines, concurrent writers mix within a line."""

    def write(self, text: str) -> int:
        for char in text:
            super().write(char)
            # a real sleep, not sleep(0): on Python 3.10 the writer may take the GIL
            # straight back after sleep(0), and the other never gets in
            time.sleep(1e-6)
        return len(text)

    def isatty(self) -> bool:
        return False


def slow_stderr(monkeypatch: pytest.MonkeyPatch) -> SlowStream:
    """sys.stderr as a SlowStream, for the rest of the test. (Called in the test's body:
    pytest puts its own capture back on sys.stderr between a fixture and the test.)"""
    stream = SlowStream()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(console, "style", lambda: console.Style(False))
    return stream


def run_threads(*targets) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- one lock around line writes -----------------------------------------------------------


def test_concurrent_writers_never_share_a_line(monkeypatch) -> None:
    stderr = slow_stderr(monkeypatch)

    def writer(name: str, say) -> None:
        for number in range(60):
            say(f"{name} line {number} " + "x" * 20)

    run_threads(
        lambda: writer("a", console.info),
        lambda: writer("b", console.command),
        lambda: writer("c", console.warn),
        lambda: writer("d", lambda text: console.emit_lines([text, text])),
    )
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 60 * 5
    pattern = re.compile(r"^(?:\$ |warning: )?([abcd]) line \d+ x{20}$")
    assert all(pattern.match(line) for line in lines), [
        line for line in lines if not pattern.match(line)
    ][:3]


def test_the_slow_stream_does_mix_lines_without_the_lock() -> None:
    # The control for the tests above: that they would see mixed lines. Mixing needs the
    # scheduler to switch threads mid-line, which a loaded machine may not do in one round;
    # a stream that cannot mix lines fails all five.
    def mixed_once() -> bool:
        stream = SlowStream()
        # both start writing together: a thread that starts late would find the other done
        together = threading.Barrier(2)

        def writer(name: str) -> None:
            together.wait()
            for number in range(30):
                stream.write(f"{name} line {number}\n")

        run_threads(lambda: writer("a"), lambda: writer("b"))
        lines = stream.getvalue().split("\n")[:-1]
        return any(not re.fullmatch(r"[ab] line \d+", line) for line in lines)

    assert any(mixed_once() for _ in range(5))


def test_concurrent_commands_echo_and_stream_whole_lines(monkeypatch) -> None:
    stderr = slow_stderr(monkeypatch)
    runner = Runner()
    code = "import sys; [print(f'{sys.argv[1]} out {i}', flush=True) for i in range(40)]"
    display = BuildDisplay(["gpu", "cpu", "lb"], concurrent=True, mode="plain")

    def build(name: str) -> None:
        runner.run([sys.executable, "-c", code, name], show=display.output(name))

    run_threads(*(lambda n=n: build(n) for n in ("gpu", "cpu", "lb")))
    lines = stderr.getvalue().splitlines()
    outputs = [line for line in lines if not line.startswith("$ ")]
    echoes = [line for line in lines if line.startswith("$ ")]
    assert len(echoes) == 3 and all(line.endswith(("gpu", "cpu", "lb")) for line in echoes)
    assert len(outputs) == 120
    assert all(re.fullmatch(r"\[(gpu|cpu|lb)\] \1 out \d+", line) for line in outputs), outputs[:3]


# --- where the output goes ------------------------------------------------------------------


def test_the_mode_follows_github_actions_then_the_terminal(monkeypatch) -> None:
    assert choose_mode(True, {"GITHUB_ACTIONS": "true"}) == "github"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert choose_mode(True, {}) == "plain"  # a pipe

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    assert choose_mode(True, {}) == "tty"
    assert choose_mode(False, {}) == "plain", "one build on a terminal: its lines as they come"
    assert choose_mode(True, {"TERM": "dumb"}) == "plain"


def test_plain_mode_prefixes_concurrent_lines(monkeypatch) -> None:
    stderr = slow_stderr(monkeypatch)
    with BuildDisplay(["gpu", "cpu"], concurrent=True, mode="plain") as display:
        display.start("gpu")
        display.line("gpu", "#1 [1/2] FROM base")
        display.finish("gpu", True)
    assert stderr.getvalue() == "[gpu] #1 [1/2] FROM base\n"


def test_github_groups_each_image_when_it_finishes(monkeypatch) -> None:
    stderr = slow_stderr(monkeypatch)
    display = BuildDisplay(["gpu", "cpu"], concurrent=True, mode="github")

    def build(name: str, ok: bool) -> None:
        display.start(name, f"build of {name} (Dockerfile-{name})")
        for number in range(30):
            display.line(name, f"#{number} [{name} {number}/30] RUN step {number}")
            display.line(name, f"#{number} {name} output {number}")
        display.finish(name, ok)

    run_threads(lambda: build("gpu", True), lambda: build("cpu", False))
    display.close()
    lines = stderr.getvalue().splitlines()
    groups = [i for i, line in enumerate(lines) if line.startswith("::group::")]
    assert len(groups) == 2
    for start in groups:
        name = "gpu" if "gpu" in lines[start] else "cpu"
        state = "done in" if name == "gpu" else "failed after"
        assert lines[start].startswith(f"::group::build of {name} (Dockerfile-{name}): {state}")
        body = lines[start + 1 : start + 61]
        assert all(f" {name} " in line or f"[{name} " in line for line in body), body[:3]
        assert lines[start + 61] == "::endgroup::"
    # while they build, only the step lines show, prefixed
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == 60
    assert all(re.fullmatch(r"\[(gpu|cpu)\] #\d+ \[\1 \d+/30\] RUN step \d+", p) for p in progress)


def test_github_folds_a_single_build_live(monkeypatch) -> None:
    stderr = slow_stderr(monkeypatch)
    with BuildDisplay(["cpu"], concurrent=False, mode="github") as display:
        display.start("cpu", "build of cpu (Dockerfile-cpu)")
        display.line("cpu", "#5 [2/5] RUN make")
        assert stderr.getvalue() == "::group::build of cpu (Dockerfile-cpu)\n#5 [2/5] RUN make\n"
        display.finish("cpu", True)
    assert stderr.getvalue().endswith("::endgroup::\n")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_terminal_shows_one_live_line_per_image_and_the_failed_log(monkeypatch) -> None:
    stderr = slow_stderr(monkeypatch)
    clock = Clock()
    display = BuildDisplay(
        ["gpu", "cpu"], concurrent=True, mode="tty", clock=clock, tick_seconds=3600
    )
    display.start("gpu", "build of gpu (Dockerfile)")
    display.start("cpu", "build of cpu (Dockerfile-cpu)")
    display.line("gpu", "#7 [stage-0 3/6] RUN pip install torch")
    display.line("gpu", "#7 12.3 Downloading torch")
    display.line("cpu", "#8 [4/5] RUN false")
    display.line("cpu", "#8 ERROR: exit code: 1")
    clock.now += 75
    assert display.render() == [
        "gpu  building 1m15s  RUN pip install torch",
        "cpu  building 1m15s  RUN false",
    ]
    console.info("a line from elsewhere")  # goes above the live lines
    display.finish("cpu", False)
    clock.now += 5
    display.finish("gpu", True)
    display.close()
    out = stderr.getvalue()
    assert "a line from elsewhere\n" in out
    # the output of a build that succeeded is not printed; the failed one's log is
    assert "Downloading torch" not in out
    tail = out.split("--- log of build of cpu (Dockerfile-cpu) (failed) ---\n", 1)[1]
    assert tail == "#8 [4/5] RUN false\n#8 ERROR: exit code: 1\n"
    final = out.split("\x1b[J")[-1].split("---")[0]
    assert "gpu  done in 1m20s" in final and "cpu  failed after 1m15s" in final


def test_a_terminal_keeps_a_bakes_shared_lines_and_the_last_lines_of_a_long_log(
    monkeypatch,
) -> None:
    stderr = slow_stderr(monkeypatch)
    monkeypatch.setattr("buildlib.progress.MAX_KEPT_LINES", 3)
    display = BuildDisplay(["gpu", "cpu"], concurrent=True, mode="tty", tick_seconds=3600)
    display.start("gpu")
    display.start("cpu")
    display.shared("#1 [internal] load local bake definitions")
    display.line("gpu", "#2 [gpu 1/1] RUN false")
    for number in range(1, 5):
        display.line("cpu", f"#3 cpu line {number}")
    display.finish("gpu", False)
    display.finish("cpu", False)
    display.close()
    out = stderr.getvalue()
    gpu = out.split("--- log of gpu (failed) ---\n", 1)[1].split("---")[0]
    assert gpu == "#1 [internal] load local bake definitions\n#2 [gpu 1/1] RUN false\n"
    cpu = out.split("--- log of cpu (failed) ---\n", 1)[1]
    assert cpu == "(2 earlier lines not kept)\n#3 cpu line 2\n#3 cpu line 3\n#3 cpu line 4\n"


def test_live_lines_fit_the_terminal(monkeypatch) -> None:
    monkeypatch.setattr(console, "style", lambda: console.Style(False))
    monkeypatch.setattr(
        "shutil.get_terminal_size", lambda fallback=(0, 0): __import__("os").terminal_size((40, 9))
    )
    display = BuildDisplay(["gpu"], concurrent=True, mode="tty", clock=Clock())
    display.images["gpu"].started = 100.0
    display.line("gpu", "#7 [3/6] RUN " + "x" * 200)
    (row,) = display.render()
    assert len(row) == 39 and row.endswith("…")


def test_bake_lines_go_to_their_target(monkeypatch) -> None:
    stderr = slow_stderr(monkeypatch)
    display = BuildDisplay(["gpu", "cpu"], concurrent=True, mode="github")
    route = BakeLines(display, ["gpu", "cpu"])
    for name in ("gpu", "cpu"):
        display.start(name)
    for line in [
        "#0 building with default instance",
        "#1 [gpu internal] load build definition from Dockerfile",
        "#1 DONE 0.0s",
        "#2 [cpu 2/3] RUN make",
        "#2 0.1 compiling",
        "#3 [gpu 2/3] RUN pip install",
        "#2 DONE 1.0s",
        "------",
    ]:
        route(line)
    display.finish("gpu", True)
    display.finish("cpu", True)
    out = stderr.getvalue()
    cpu = out.split("::group::cpu")[1].split("::endgroup::")[0]
    gpu = out.split("::group::gpu")[1].split("::endgroup::")[0]
    assert "compiling" in cpu and "#2 DONE" in cpu and "pip install" not in cpu
    assert "load build definition" in gpu and "pip install" in gpu
    assert "------" in cpu, "a line without a step number: the target of the last step seen"
    assert out.startswith("#0 building with default instance\n"), "shared lines: once"


# --- a failed build, located --------------------------------------------------------------

DOCKERFILE = """\
FROM stand-in/debian:bookworm
WORKDIR /app

# the dependencies
RUN echo hello
RUN echo about to fail && \\
    false
COPY . .
"""

BUILDKIT_20_10 = """\
#7 [4/5] RUN echo about to fail &&     false
#7 0.457 about to fail
#7 ERROR: executor failed running [/bin/sh -c echo about to fail &&     false]: exit code: 1
------
 > [4/5] RUN echo about to fail &&     false:
------
executor failed running [/bin/sh -c echo about to fail &&     false]: exit code: 1
"""

BUILDX_WITH_SOURCE = """\
#9 [stage-0 4/5] RUN echo about to fail &&     false
#9 0.2 about to fail
#9 ERROR: process "/bin/sh -c echo about to fail &&     false" did not complete successfully: \
exit code: 1
------
 > [stage-0 4/5] RUN echo about to fail &&     false:
0.2 about to fail
------
Dockerfile-cpu:6
--------------------
   5 |     RUN echo hello
   6 | >>> RUN echo about to fail && \\
   7 | >>>     false
   8 |     COPY . .
--------------------
ERROR: failed to build: failed to solve: process "/bin/sh -c echo about to fail &&     false" \
did not complete successfully: exit code: 1
"""

LEGACY = """\
Step 4/5 : RUN echo about to fail &&     false
 ---> Running in 70cea11f8e63
about to fail
ERROR: this line is the program's own output
The command '/bin/sh -c echo about to fail &&     false' returned a non-zero code: 1
"""


@pytest.fixture
def dockerfile(tmp_path: Path) -> Path:
    path = tmp_path / "Dockerfile-cpu"
    path.write_text(DOCKERFILE, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        (
            BUILDKIT_20_10,
            "executor failed running [/bin/sh -c echo about to fail && false]: exit code: 1",
        ),
        (
            BUILDX_WITH_SOURCE,
            'process "/bin/sh -c echo about to fail && false" did not complete successfully: '
            "exit code: 1",
        ),
        (
            LEGACY,
            "The command '/bin/sh -c echo about to fail && false' returned a non-zero code: 1",
        ),
    ],
    ids=["buildkit-20.10", "buildx-source", "legacy"],
)
def test_the_failing_instruction_is_found(dockerfile: Path, output: str, reason: str) -> None:
    found = buildlog.failure(output.splitlines(), dockerfile)
    assert found.line == 6
    assert found.instruction == "RUN echo about to fail && false"
    assert found.reason == reason


def test_the_source_line_of_buildkit_wins_over_the_text_match(dockerfile: Path) -> None:
    output = BUILDX_WITH_SOURCE.replace("Dockerfile-cpu:6", "Dockerfile-cpu:7")
    assert buildlog.failure(output.splitlines(), dockerfile).line == 7


def test_an_escape_directive_and_a_continuation_locate_the_instruction(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile-windows"
    dockerfile.write_text(
        "# escape=`\n"
        "FROM stand-in/windows\n"
        "WORKDIR C:\\app\\\n"  # a backslash at the end is a path here, not a continuation
        "RUN echo about to fail `\n"
        "    && exit 1\n",
        encoding="utf-8",
    )
    output = (
        "Step 3/3 : RUN echo about to fail     && exit 1\n"
        "The command 'cmd /S /C echo about to fail     && exit 1' returned a non-zero code: 1\n"
    )
    found = buildlog.failure(output.splitlines(), dockerfile)
    assert (found.line, found.instruction) == (4, "RUN echo about to fail && exit 1")


def test_an_unlocatable_failure_still_says_why(dockerfile: Path) -> None:
    found = buildlog.failure(["#3 ERROR: failed to do request: no such host"], dockerfile)
    assert (found.line, found.instruction) == (None, None)
    assert found.describe() == "failed to do request: no such host"


def test_a_failed_build_is_one_short_line_at_its_dockerfile_line(dockerfile: Path) -> None:
    build = ImageBuild(
        image=ImageSpec("cpu", "acme/cpu", "Dockerfile-cpu", "."),
        references=("acme/cpu:t",),
        dockerfile=dockerfile,
        context=dockerfile.parent,
        platforms=("linux/amd64",),
        build_args=(),
        labels=(),
        workdir=dockerfile.parent,
    )
    noise = [f"#9 {n} pip output line {n}" for n in range(150)]
    error = build_failed(build, 1, noise + BUILDX_WITH_SOURCE.splitlines())
    assert error.location == "Dockerfile-cpu:6"
    assert error.message == (
        "build of cpu failed (exit 1): RUN echo about to fail && false: "
        'process "/bin/sh -c echo about to fail && false" did not complete successfully: '
        "exit code: 1"
    )
    assert len(error.message) < 200


def test_github_gets_an_error_annotation_at_the_line(monkeypatch, capsys) -> None:
    from invoke import Exit

    from buildlib.errors import CommandFailed
    from buildlib.tasks import user_errors

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setattr(console, "style", lambda: console.Style(False))
    with pytest.raises(Exit), user_errors():
        raise CommandFailed(
            "build of cpu failed (exit 1): RUN false: exit code: 1",
            location="Dockerfile-cpu:12",
            hint="fix the error above",
        )
    out = capsys.readouterr().out
    assert out == (
        "::error file=Dockerfile-cpu,line=12::build of cpu failed (exit 1): "
        "RUN false: exit code: 1\n"
    )


def test_a_tab_after_the_instruction_keeps_its_here_document_out_of_the_lines(
    tmp_path: Path,
) -> None:
    # BuildKit splits the instruction at any whitespace: `RUN<TAB><<EOF` has a here-document
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nRUN\t<<EOF\nRUN make\nEOF\nRUN make\n", encoding="utf-8")
    output = "Step 3/3 : RUN make\nThe command '/bin/sh -c make' returned a non-zero code: 2\n"
    assert buildlog.failure(output.splitlines(), dockerfile).line == 5


def test_a_step_named_with_its_build_arg_expanded_is_found(tmp_path: Path) -> None:
    # BuildKit names a step after expanding its variables (moby/buildkit frontend/dockerfile/
    # dockerfile2llb/convert.go: WithCustomName(... processCmdEnv(...))); 20.10 prints no source
    dockerfile = tmp_path / "Dockerfile.app"
    dockerfile.write_text(
        'FROM stand-in/debian:bookworm\nARG GREETING=hi\nRUN echo "${GREETING}" > /g\n'
        'RUN echo "$GREETING" > /greeting && false\n',
        encoding="utf-8",
    )
    output = (
        '#5 [3/4] RUN echo "hello" > /greeting && false\n'
        '#5 ERROR: executor failed running [/bin/sh -c echo "$GREETING" > /greeting && false]'
        ": exit code: 1\n------\n"
        ' > [3/4] RUN echo "hello" > /greeting && false:\n'
    )
    assert buildlog.failure(output.splitlines(), dockerfile).line == 4
