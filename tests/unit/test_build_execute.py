"""buildlib.build's scheduler with a stand-in docker CLI (threads and progress lines are
real; no engine): followers start when their leader's last shared step is done, failures
stop the rest, and the image ids come from the iid files.

A stand-in build that must outlast another waits for that one's events, not for a time: a
loaded machine changes no order. Only a build that must *not* start early is given a time
to do so, wrongly: a test of something that never happens can wait for no event."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from buildlib.build import StepWatch, execute
from buildlib.config import ImageSpec
from buildlib.engine import Capabilities
from buildlib.errors import CommandFailed
from buildlib.plan import BuildPlan, ImageBuild
from buildlib.runner import Result, Runner
from tests.support.shown import commands

BUILDKIT = Capabilities("docker", "buildkit", "20.10.24", server_version="20.10.24")

# BuildKit's plain progress for a leader whose step 2 of stage-0 is the last shared one.
LEADER_LOG = [
    "#1 [internal] load build definition from Dockerfile",
    "#1 DONE 0.0s",
    "#4 [stage-0 1/3] FROM docker.io/library/debian:bookworm",
    "#4 DONE 0.0s",
    "#5 [stage-0 2/3] RUN echo shared && sleep 2",
    "#5 CACHED",
    "#6 [stage-0 3/3] RUN echo first",
]


# The longest a stand-in build waits for what it waits for: a scheduler that never brings
# it fails the test instead of hanging it.
AT_MOST = 30.0


@dataclass
class StandInCLI:
    """Plays each build: prints its lines to ``on_line``, runs until every event ``until``
    names for it was logged (``"second end"``), or else for ``seconds`` (0.05), or until
    the runner is cancelled; then writes the iid file."""

    runner: Runner
    caps: Capabilities = BUILDKIT
    env: dict[str, str] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)
    until: dict[str, tuple[str, ...]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    fail: set[str] = field(default_factory=set)
    events: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # the builds the runner's cancel ended
    iidfiles: list[Path] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def log(self, name: str, what: str) -> None:
        with self.changed:
            self.events.append(f"{name} {what}")
            self.changed.notify_all()

    def wait_for(self, wanted: tuple[str, ...], seconds: float = AT_MOST) -> None:
        """Until every event of ``wanted`` (none: ``seconds``) was logged or the runner
        cancelled, for ``seconds`` at most."""
        deadline = time.monotonic() + seconds
        with self.changed:
            while not (wanted and set(wanted) <= set(self.events)):
                left = deadline - time.monotonic()
                if self.runner.cancelled or left <= 0:
                    return
                self.changed.wait(min(left, 0.01))  # a cancel notifies no one: look again

    def build(self, build, builder=None, iidfile=None, on_line=None, show=None, **more):
        self.iidfiles.append(Path(iidfile))
        self.log(build.name, "start")
        for line in self.lines.get(build.name, []):
            if show:
                show(line)
            if on_line:
                on_line(line)
        wanted = self.until.get(build.name, ())
        self.wait_for(wanted, AT_MOST if wanted else self.seconds.get(build.name, 0.05))
        if self.runner.cancelled:
            self.stopped.append(build.name)
        self.log(build.name, "end")
        if build.name in self.fail:
            raise CommandFailed(f"build of {build.name} failed (exit 1)")
        Path(iidfile).write_text(f"sha256:{build.name:0>64}")

    def order(self) -> list[str]:
        with self.changed:
            return list(self.events)


def a_build(name: str, after: str | None = None, step=None) -> ImageBuild:
    return ImageBuild(
        image=ImageSpec(name, f"acme/{name}", "Dockerfile", "."),
        references=(f"acme/{name}:t",),
        dockerfile=Path("Dockerfile"),
        context=Path("."),
        platforms=("linux/amd64",),
        build_args=(),
        labels=(),
        after=after,
        after_step=step,
    )


def run(cli: StandInCLI, *builds: ImageBuild, jobs: int = 3):
    return execute(BuildPlan(BUILDKIT, builds, jobs=jobs), cli.runner, cli)  # type: ignore[arg-type]


def test_a_follower_starts_when_the_shared_step_is_done_not_when_the_leader_ends() -> None:
    cli = StandInCLI(
        Runner(quiet=True), lines={"first": LEADER_LOG}, until={"first": ("second end",)}
    )

    built = run(cli, a_build("first"), a_build("second", "first", ("stage-0", 2, "RUN")))

    assert cli.order() == ["first start", "second start", "second end", "first end"]
    assert [b.image_id for b in built] == [f"sha256:{n:0>64}" for n in ("first", "second")]
    assert cli.iidfiles and not any(path.parent.exists() for path in cli.iidfiles)


def test_the_id_files_are_in_a_private_directory_not_the_shared_one() -> None:
    import stat
    import tempfile

    seen: list[tuple[Path, int]] = []

    class Watching(StandInCLI):
        def build(self, build, builder=None, iidfile=None, on_line=None, show=None, **more):
            directory = Path(iidfile).parent
            seen.append((directory, stat.S_IMODE(directory.stat().st_mode)))
            return super().build(build, builder, iidfile, on_line, show)

    run(Watching(Runner(quiet=True)), a_build("first"), a_build("second"))

    shared = Path(tempfile.gettempdir()).resolve()
    assert len(seen) == 2 and seen[0][0] == seen[1][0]
    directory, mode = seen[0]
    assert directory.resolve() != shared and directory.resolve().parent == shared
    assert mode == 0o700  # tempfile.mkdtemp: no other user may look in or plant a file
    assert not directory.exists()  # removed with its files afterwards


def test_without_the_step_in_the_output_the_follower_waits_for_the_end() -> None:
    cli = StandInCLI(Runner(quiet=True), lines={"first": LEADER_LOG[:5]}, seconds={"first": 0.2})

    run(cli, a_build("first"), a_build("second", "first", ("stage-0", 2, "RUN")))

    assert cli.order() == ["first start", "first end", "second start", "second end"]


def test_a_follower_without_a_known_step_waits_for_the_end() -> None:
    cli = StandInCLI(Runner(quiet=True), lines={"first": LEADER_LOG}, seconds={"first": 0.2})

    run(cli, a_build("first"), a_build("second", "first", None))

    assert cli.order() == ["first start", "first end", "second start", "second end"]


def test_jobs_limit_how_many_run_at_once() -> None:
    cli = StandInCLI(Runner(quiet=True), seconds={"a": 0.2, "b": 0.2, "c": 0.2})

    run(cli, a_build("a"), a_build("b"), a_build("c"), jobs=1)

    assert cli.order() == ["a start", "a end", "b start", "b end", "c start", "c end"]


def test_one_failure_stops_the_others_and_names_them() -> None:
    cli = StandInCLI(
        Runner(quiet=True),
        until={"broken": ("slow start",)},
        seconds={"slow": AT_MOST},
        fail={"broken"},
    )

    with pytest.raises(CommandFailed) as caught:
        run(cli, a_build("slow"), a_build("broken"), a_build("quick"), jobs=2)

    assert cli.stopped == ["slow"]  # by the runner's cancel, not at its end
    assert "quick start" not in cli.order()
    assert caught.value.message == "build of broken failed (exit 1); stopped: slow, quick"


def test_step_watch_reads_buildkit_and_buildx_progress() -> None:
    single, multi, other = threading.Event(), threading.Event(), threading.Event()
    watch = StepWatch(
        {
            ("stage-0", 2, "RUN"): [single],
            ("deps", 3, "RUN"): [multi],
            ("stage-0", 9, "COPY"): [other],
        }
    )
    for line in LEADER_LOG + [
        "#7 [deps 2/4] RUN other",  # another stage's step 2 is not stage-0's
        "#7 DONE 0.1s",
        "#8 [linux/amd64 deps 3/4] RUN make",
        "#8 DONE 12.3s",
        "#9 [stage-0 9/9] COPY x y",
        "#9 ERROR: failed",
    ]:
        watch(line)
    assert single.is_set() and multi.is_set()
    assert not other.is_set()  # an error is not done


def test_step_watch_reads_a_single_stage_dockerfile() -> None:
    # BuildKit names no stage when there is only one: "[2/3]"
    done = threading.Event()
    watch = StepWatch({("stage-0", 2, "RUN"): [done]})
    watch("#5 [1/3] FROM docker.io/library/debian:bookworm")
    watch("#5 DONE 0.0s")
    assert not done.is_set()
    watch("#6 [2/3] RUN echo shared && sleep 2")
    watch("#6 DONE 2.1s")
    assert done.is_set()


def test_step_watch_needs_the_same_instruction() -> None:
    # an ONBUILD trigger of the base image is a step BuildKit adds: the numbers shift
    done = threading.Event()
    watch = StepWatch({("stage-0", 2, "RUN"): [done]})
    watch("#6 [stage-0 2/4] ONBUILD COPY . /src")
    watch("#6 DONE 0.1s")
    assert not done.is_set()


def test_every_follower_of_the_same_step_starts_early() -> None:
    cli = StandInCLI(
        Runner(quiet=True),
        lines={"first": LEADER_LOG},
        until={"first": ("second end", "third end")},
    )
    step = ("stage-0", 2, "RUN")

    run(cli, a_build("first"), a_build("second", "first", step), a_build("third", "first", step))

    order = cli.order()
    assert order.index("second end") < order.index("first end")
    assert order.index("third end") < order.index("first end")


@pytest.fixture
def dry_run_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``build_images`` of image gpu as a dry run, in a written repository, on a BuildKit
    client, with a fresh lock and a pre-flight that only says it ran (on stderr)."""
    import sys

    import buildlib.build
    import buildlib.checks.lock
    import buildlib.checks.preflight
    from buildlib.build import build_images
    from buildlib.checks import CheckResult
    from buildlib.flags import BuildFlags
    from tests.support.config_repo import write_repo

    write_repo(tmp_path)
    monkeypatch.setattr(buildlib.build, "detect", lambda: BUILDKIT)
    monkeypatch.setattr(
        buildlib.checks.lock,
        "check_lock_fresh",
        lambda project: CheckResult("uv-lock-fresh", "ok", ""),
    )
    monkeypatch.setattr(
        buildlib.checks.preflight, "preflight", lambda *a, **k: print("pre-flight", file=sys.stderr)
    )

    def build(**flags: Any) -> None:
        flags = {"images": ("gpu",), "dry_run": True, **flags}
        build_images(tmp_path, BuildFlags(**flags), runner=Runner(dry_run=True))

    return build


def test_the_plan_and_the_other_checks_do_not_wait_for_uvs_lock_check(
    dry_run_build: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """uv's lock check is the slowest step before a build: the plan and the pre-flight's
    other checks run beside it, and only the lock's own verdict waits for it."""
    import threading

    import buildlib.checks.lock
    import buildlib.checks.preflight
    from buildlib.checks import CheckResult

    checks_started, verdicts = threading.Event(), []

    def slow_uv(project: object) -> CheckResult:
        started = checks_started.wait(timeout=5)
        return CheckResult("uv-lock-fresh", "ok" if started else "fail", "")

    def checks(*args: Any, lock_fresh: Callable[[], CheckResult], **kwargs: Any) -> None:
        checks_started.set()
        verdicts.append(lock_fresh().status)

    monkeypatch.setattr(buildlib.checks.lock, "check_lock_fresh", slow_uv)
    monkeypatch.setattr(buildlib.checks.preflight, "preflight", checks)
    dry_run_build()
    assert verdicts == ["ok"]


def test_the_lock_check_beside_a_build_leaves_pyproject_to_the_build(
    dry_run_build: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildlib import config as config_module

    reads, read = [], config_module.read
    monkeypatch.setattr(config_module, "read", lambda root: reads.append(root) or read(root))
    dry_run_build()
    assert len(reads) == 1


@pytest.mark.parametrize(("tag", "version"), [(None, "local"), ("main", "main")])
def test_a_local_build_labels_its_tag_not_the_release_version(
    dry_run_build: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
    tag: str | None,
    version: str,
) -> None:
    """A build of the working tree is no release: its version label is its tag (the
    default ``local``, or ``--tag``), as metadata-action labels a branch push."""
    dry_run_build(tag=tag)

    [command] = [line for line in commands(capsys.readouterr().err) if " build " in line]
    assert f"org.opencontainers.image.version={version}" in command
    assert "1.2.3" not in command


def test_all_and_image_together_are_refused_not_one_ignored(tmp_path, monkeypatch, capsys) -> None:
    import buildlib.build
    from buildlib.build import build_images
    from buildlib.errors import UsageError
    from buildlib.flags import BuildFlags
    from tests.support.config_repo import write_repo

    write_repo(tmp_path)
    monkeypatch.setattr(buildlib.build, "detect", lambda: BUILDKIT)

    with pytest.raises(UsageError) as caught:
        build_images(
            tmp_path,
            BuildFlags(images=("gpu",), all_images=True, dry_run=True),
            runner=Runner(dry_run=True),
        )

    assert caught.value.message == "--all and --image both choose the images to build"
    assert caught.value.hint == "pass one of them: --image gpu or --all"
    assert commands(capsys.readouterr().err) == []


def test_a_build_warns_of_an_ignored_build_arg_as_soon_as_it_is_planned(
    dry_run_build: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """The plan's warnings come before the pre-flight and the plan itself are shown."""
    dry_run_build(build_arg=("EXTRAS=2",))

    warning, after = capsys.readouterr().err.split("\n", 1)
    assert warning == "warning: --build-arg EXTRAS is ignored: no ARG EXTRAS in Dockerfile"
    assert after.startswith("pre-flight\n")


# --- docker/cli#2971: a build docker finished but got no image id for -----------------------


class LosingRunner(Runner):
    """Plays ``docker build`` without a process: ``lose`` names builds whose first run
    (each run, with ``always``) ends as docker/cli#2971 ends one, ``fail`` builds that fail
    otherwise; the others write their iid file. ``cpu`` runs until another build's run has
    ended, and a while longer: time for a retry wrongly started beside it to show."""

    def __init__(self, lose: set[str], fail: str | None = None, always: bool = False) -> None:
        super().__init__(quiet=True)
        self.lose, self.fail, self.always = lose, fail, always
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.other_ended = threading.Event()

    def run(self, argv, **kwargs):  # type: ignore[override]
        name = argv[argv.index("--tag") + 1].split("/")[1].split(":")[0]
        iidfile = argv[argv.index("--iidfile") + 1]
        with self.lock:
            self.events.append(f"{name} start")
        if name == "cpu":
            self.other_ended.wait(AT_MOST)
            time.sleep(0.3)
        with self.lock:
            self.events.append(f"{name} end")
            lost = name in self.lose and (self.always or self.events.count(f"{name} end") == 1)
        if name != "cpu":
            self.other_ended.set()
        if lost:
            said = f"cannot write {iidfile} because server did not provide an image ID"
            return Result(argv, 1, "", f"#9 DONE 0.1s\n{said}")
        if name == self.fail:
            return Result(argv, 1, "", f"#9 ERROR: boom\n{self.fail} is broken")
        Path(iidfile).write_text(f"sha256:{name:0>64}")
        return Result(argv, 0)


def run_docker(runner: LosingRunner, *names: str, jobs: int = 2):
    plan = BuildPlan(BUILDKIT, tuple(a_build(name) for name in names), jobs=jobs)
    return execute(plan, runner)


THROUGH_BUILDX = (
    "install the buildx plugin (`docker buildx version` must answer): buildlib then builds "
    "with buildx, the other workaround in docker/cli#2971"
)


def test_a_build_whose_image_id_docker_lost_is_built_again_alone(capsys) -> None:
    runner = LosingRunner(lose={"gpu"})

    built = run_docker(runner, "gpu", "cpu")

    assert [b.image_id for b in built] == [f"sha256:{n:0>64}" for n in ("gpu", "cpu")]
    # once more, after the build beside it ended, and nothing beside it
    again = runner.events.index("gpu start", runner.events.index("gpu start") + 1)
    assert "cpu end" in runner.events[:again]
    assert runner.events[again:] == ["gpu start", "gpu end"]
    said = [line for line in capsys.readouterr().err.splitlines() if "2971" in line]
    assert len(said) == 1
    assert said[0].endswith(
        "gpu: docker built it but lost its image id (docker/cli#2971): building it again, alone"
    )


def test_a_lone_build_that_lost_its_image_id_is_not_said_to_be_concurrent(capsys) -> None:
    runner = LosingRunner(lose={"gpu"})

    run_docker(runner, "gpu")

    assert runner.events == ["gpu start", "gpu end", "gpu start", "gpu end"]
    said = [line for line in capsys.readouterr().err.splitlines() if "2971" in line]
    assert said and "concurrent" not in said[0]


@pytest.mark.parametrize(
    ("names", "jobs"), [(("gpu", "cpu"), 2), (("gpu",), 2), (("gpu", "cpu"), 1)]
)
def test_a_lost_image_id_is_retried_once_only_and_names_buildx(
    names: tuple[str, ...], jobs: int
) -> None:
    """Side by side, one image, or --jobs 1: the retry ran alone, so --jobs 1 cannot help."""
    runner = LosingRunner(lose={"gpu"}, always=True)

    with pytest.raises(CommandFailed) as caught:
        run_docker(runner, *names, jobs=jobs)

    assert runner.events.count("gpu start") == 2
    assert caught.value.message.startswith("build of gpu (Dockerfile) failed (exit 1): cannot ")
    # not "fix the error above": the build has no error; what avoids the fault is named
    assert caught.value.hint == THROUGH_BUILDX


def test_any_other_failure_is_not_retried() -> None:
    runner = LosingRunner(lose=set(), fail="gpu")

    with pytest.raises(CommandFailed) as caught:
        run_docker(runner, "gpu")

    assert runner.events == ["gpu start", "gpu end"]
    assert caught.value.message == "build of gpu (Dockerfile) failed (exit 1): boom"


# --- a build that ends well but writes no image id ------------------------------------------


class SilentRunner(Runner):
    """``docker build`` ending well without writing its ``--iidfile``."""

    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.argvs: list[list[str]] = []

    def run(self, argv, **kwargs):  # type: ignore[override]
        self.argvs.append([str(a) for a in argv])
        return Result(argv, 0)


@pytest.mark.parametrize(
    ("caps", "command", "hint"),
    [
        (
            BUILDKIT,
            ["docker", "build"],
            "check the docker client ($BUILDLIB_DOCKER): its `build --iidfile FILE` must write "
            "the image id to FILE",
        ),
        (
            Capabilities("docker", "legacy", "18.09.9", server_version="18.09.9"),
            ["docker", "build"],
            "check the docker client ($BUILDLIB_DOCKER): its `build --iidfile FILE` must write "
            "the image id to FILE",
        ),
        (
            Capabilities("docker", "buildx", "28.0.1", "v0.19.3", server_version="28.0.1"),
            ["docker", "buildx", "build"],
            "check the builder: with buildx, the build must use --load or --push",
        ),
    ],
)
def test_no_image_id_is_an_error_whose_hint_fits_the_builder_that_ran(
    caps: Capabilities, command: list[str], hint: str
) -> None:
    runner = SilentRunner()

    with pytest.raises(CommandFailed) as caught:
        execute(BuildPlan(caps, (a_build("app"),), jobs=1), runner)

    (argv,) = runner.argvs
    assert argv[: len(command)] == command and "--iidfile" in argv
    assert caught.value.message == "app: docker reported success but wrote no image id"
    assert caught.value.hint == hint


# --- Ctrl-C while builds run ----------------------------------------------------------------


def test_ctrl_c_says_which_builds_it_stopped_and_which_had_finished(capsys) -> None:
    """The signal lands in the main thread, waiting on the builds, as Ctrl-C does: ``a``
    has finished, ``b`` and ``c`` run."""
    import signal

    cli = StandInCLI(Runner(quiet=True), seconds={"a": 0, "b": AT_MOST, "c": AT_MOST})
    main = threading.main_thread().ident
    assert main is not None

    def interrupt_once_c_runs() -> None:
        cli.wait_for(("c start",))
        signal.pthread_kill(main, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt_once_c_runs, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            run(cli, a_build("a"), a_build("b"), a_build("c"), jobs=2)
    finally:
        signal.signal(signal.SIGINT, previous)

    assert cli.runner.cancelled
    said = [line for line in capsys.readouterr().err.splitlines() if "stopped" in line]
    assert said == ["warning: builds stopped: b, c; finished: a"]


def test_ctrl_c_the_kernel_gives_another_thread_is_not_held_until_a_build_ends(capsys) -> None:
    """A process's signal may go to any of its threads that does not block it (POSIX,
    signal(7)), and its Python handler runs in the main thread only, between bytecodes:
    the main thread, waiting on the builds, wakes for no such signal. The same befalls one
    sent to the main thread as it starts to wait. Here another thread gets it."""
    import signal

    cli = StandInCLI(Runner(quiet=True), seconds={"a": AT_MOST, "b": AT_MOST})

    def interrupt_in_b() -> None:
        cli.wait_for(("a start", "b start"))
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt_in_b, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            run(cli, a_build("a"), a_build("b"), jobs=2)
    finally:
        signal.signal(signal.SIGINT, previous)

    assert sorted(cli.stopped) == ["a", "b"]  # by the runner's cancel, not at their end
    said = [line for line in capsys.readouterr().err.splitlines() if "stopped" in line]
    assert said == ["warning: builds stopped: a, b"]


def ctrl_c_while_the_second_build_is_submitted() -> None:
    """Run by the test below in a process of its own, since a hang is what it looks for:
    builds ``a`` and ``b`` run until cancelled; Ctrl-C lands in the scheduler's thread while
    it starts ``b`` in the executor, inside threading.Condition.__enter__ of the executor's
    idle semaphore, once the lock is taken and before the ``with`` can release it."""
    import signal
    import sys

    original = threading.Condition.__enter__
    main = threading.main_thread().ident
    semaphore = threading.Semaphore.acquire.__code__
    entered: list[object] = []

    def enter(self: threading.Condition) -> bool:
        taken = original(self)
        if threading.get_ident() == main and sys._getframe(1).f_code is semaphore:
            entered.append(self)
            if len(entered) == 2:  # the submit of b; a's thread runs
                signal.raise_signal(signal.SIGINT)  # runs the handler now, as a signal would
        return taken

    # Python raises KeyboardInterrupt for SIGINT only "if the parent process has not
    # changed it" (the signal module's docs): a parent that ignores SIGINT (mutmut's
    # worker) would leave the raised signal ignored here
    signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Condition.__enter__ = enter  # type: ignore[method-assign]
    cli = StandInCLI(Runner(quiet=True), seconds={"a": AT_MOST, "b": AT_MOST})
    try:
        run(cli, a_build("a"), a_build("b"), jobs=2)
    except KeyboardInterrupt:
        print("KeyboardInterrupt", *cli.order(), sep="\n")


def test_ctrl_c_landing_where_the_scheduler_holds_a_lock_still_ends_the_run() -> None:
    """A signal handler raising between a lock's acquire and the ``with`` that releases it
    (python/cpython#74174) left the lock held: a build's thread then waited on it for ever,
    and so did the executor's shutdown. Where the signal lands is simulated by wrapping a
    stdlib method (threading.Condition.__enter__) in the child process: no other way puts
    it at that instruction every time."""
    import subprocess
    import sys

    code = (
        "from tests.unit.test_build_execute import ctrl_c_while_the_second_build_is_submitted"
        "\nctrl_c_while_the_second_build_is_submitted()"
    )
    root = Path(__file__).resolve().parents[2]
    try:
        child = subprocess.run(
            [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the run never ended: a lock the signal left held blocks its shutdown")

    assert child.stdout.splitlines()[0] == "KeyboardInterrupt", child.stderr
    assert sorted(child.stdout.splitlines()[1:]) == ["a end", "a start", "b end", "b start"]
    assert "warning: builds stopped: a, b" in child.stderr.splitlines()


def test_a_build_not_yet_submitted_when_ctrl_c_lands_never_starts(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The scheduler submits ``a``, and Ctrl-C lands before it submits ``b`` (raised right
    after the first submit: the handler runs there, as a signal's would): ``b`` must not
    start, only to be stopped at once."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    from buildlib import build as build_module

    class InterruptedAfterFirstSubmit(ThreadPoolExecutor):
        def submit(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
            future = super().submit(*args, **kwargs)
            signal.raise_signal(signal.SIGINT)
            return future

    monkeypatch.setattr(build_module, "ThreadPoolExecutor", InterruptedAfterFirstSubmit)
    cli = StandInCLI(Runner(quiet=True), seconds={"a": AT_MOST, "b": AT_MOST})
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(cli, a_build("a"), a_build("b"), jobs=2)
    finally:
        signal.signal(signal.SIGINT, previous)

    assert cli.order() == ["a start", "a end"]
    assert cli.stopped == ["a"]
    said = [line for line in capsys.readouterr().err.splitlines() if "stopped" in line]
    assert said == ["warning: builds stopped: a, b"]
