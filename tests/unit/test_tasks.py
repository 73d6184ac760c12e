"""The task collection's shape, its help, and a ``tasks.py`` without logic."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from invoke import Collection, Task

from buildlib.tasks import collection
from tests import conftest
from tests.support.config_repo import write_repo
from tests.support.gone_reader import run_with_reader_gone

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {"build", "build-gpu", "build-cpu", "build-lb", "push", "release"}


def web_repo_collection(root: Path, settings: str = "", more: str = "") -> Collection:
    """The collection of a repository in ``root`` with one image, web, under the
    ``[tool.buildlib]`` ``settings`` and with ``more`` tables after it."""
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0.1.0"\n\n[tool.buildlib]\n'
        + settings
        + '\n[tool.buildlib.images.web]\nrepository = "acme/web"\ndockerfile = "Dockerfile"\n'
        + more
    )
    return collection(root)


def buildlib_tasks() -> set[str]:
    """The names of the tasks buildlib itself provides for this repository."""
    return set(collection(REPO).tasks)


def flag_name(parameter: str) -> str:
    """The CLI flag invoke makes of a parameter name (``no_cache`` -> ``no-cache``)."""
    return parameter.strip("_").replace("_", "-")


@pytest.fixture
def ns() -> Collection:
    """A fresh collection (invoke consumes ``Task.help`` when it parses arguments)."""
    import tasks as repo_tasks

    # the same extras tasks.py adds (its repository conveniences), as new Task objects
    extras = [t for name, t in repo_tasks.ns.tasks.items() if name not in buildlib_tasks()]
    return collection(
        REPO,
        *(Task(t.body, name=t.name, help=dict(t.help), iterable=list(t.iterable)) for t in extras),
    )


def test_required_tasks_are_present(ns: Collection) -> None:
    assert REQUIRED <= set(ns.tasks)
    assert ns.default == "build"


def test_buildlib_makes_one_build_task_per_image() -> None:
    assert REQUIRED <= buildlib_tasks()
    assert not {n for n in buildlib_tasks() if n.startswith("build-")} - {
        "build-gpu",
        "build-cpu",
        "build-lb",
    }  # one per configured image, no more


def test_the_repository_collection_is_the_one_of_tasks_py() -> None:
    import tasks as repo_tasks

    assert REQUIRED <= set(repo_tasks.ns.tasks)
    assert repo_tasks.ns.default == "build"


def test_every_task_has_a_summary(ns: Collection) -> None:
    for name, task in ns.tasks.items():
        doc = inspect.getdoc(task.body) or ""
        assert doc.strip(), f"{name} has no docstring"
        first = doc.splitlines()[0]
        assert first.endswith("."), f"{name}: {first!r} is not a sentence"
        if name in buildlib_tasks():
            assert len(doc.splitlines()) == 1, f"{name}'s docstring is not one line"


def test_image_task_summaries_name_repository_and_dockerfile(ns: Collection) -> None:
    assert (
        inspect.getdoc(ns.tasks["build-gpu"].body) == "Build runpod/tetra-rp:local from Dockerfile."
    )
    assert (
        inspect.getdoc(ns.tasks["build-lb"].body)
        == "Build runpod/tetra-rp-lb:local from Dockerfile-lb."
    )
    assert (
        inspect.getdoc(ns.tasks["build"].body)
        == "Build the default images (gpu, cpu); --all adds the rest."
    )


def test_every_flag_has_help(ns: Collection) -> None:
    for name, task in ns.tasks.items():
        parameters = [p for p in inspect.signature(task.body).parameters if p != "c"]
        flags = {flag_name(p) for p in parameters}
        helped = {flag_name(key) for key in task.help}
        assert flags - helped == set(), f"{name}: flags without help"
        assert helped - flags == set(), f"{name}: help for flags that do not exist"
        for key, text in task.help.items():
            assert isinstance(text, str) and text.strip() and "\n" not in text, (name, key)


def test_tag_help_names_the_configured_variable(ns: Collection) -> None:
    assert ns.tasks["build"].help["tag"] == "image tag (default: $TETRA_IMAGE_TAG, else 'local')"
    assert (
        ns.tasks["build-cpu"].help["tag"] == "image tag (default: $TETRA_IMAGE_TAG, else 'local')"
    )


def test_group_build_has_the_group_flags(ns: Collection) -> None:
    build = set(inspect.signature(ns.tasks["build"].body).parameters)
    single = set(inspect.signature(ns.tasks["build-gpu"].body).parameters)
    assert build - single == {"all", "image", "jobs", "sequential"}
    for task in ("build", "build-gpu", "push", "release"):
        assert {"build_arg", "secret", "cache_from", "cache_to"} <= set(ns.tasks[task].iterable), (
            task
        )


def run_invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return conftest.invoke(*args, cwd=REPO, env={**os.environ, "NO_COLOR": "1"}, timeout=120)


def test_invoke_list_shows_every_task_with_its_summary(ns: Collection) -> None:
    proc = run_invoke("--list")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    # invoke wraps long summaries: join the continuation lines
    listed: dict[str, str] = {}
    current = None
    for line in proc.stdout.splitlines():
        match = re.match(r"^  (\S+)(?:\s+(.*))?$", line)
        if match:
            current = match.group(1)
            listed[current] = match.group(2) or ""
        elif current and line.startswith("    ") and line.strip():
            listed[current] += " " + line.strip()
        else:
            current = None
    assert set(ns.tasks) <= set(listed), proc.stdout
    for name, task in ns.tasks.items():
        summary = (inspect.getdoc(task.body) or "").splitlines()[0]
        assert listed[name].rstrip(".") in summary, (name, listed[name])
        assert listed[name], name
    assert "Default task: build" in proc.stdout


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_invoke_help_shows_every_flag(ns: Collection, name: str) -> None:
    expected = {flag_name(k): v for k, v in ns.tasks[name].help.items()}
    proc = run_invoke("--help", name)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for flag, help_text in expected.items():
        assert f"--{flag}" in text, (name, flag)
        assert " ".join(help_text.split()) in text, (name, flag)


# --- tasks.py holds no logic --------------------------------------------------------------

_COMPUTING = (ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp, ast.Lambda, ast.IfExp)
_CONTROL = (ast.For, ast.AsyncFor, ast.While, ast.Try, ast.If, ast.With, ast.Match)


def logic_in(source: str) -> list[str]:
    """What in a tasks.py is more than imports, plain assignments and thin @task functions
    (a docstring, imports, and at most 3 statements without loops, branches or try)."""
    problems = []
    for node in ast.parse(source).body:
        where = f"line {node.lineno}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the module docstring
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            if any(isinstance(n, _COMPUTING) for n in ast.walk(node)):
                problems.append(f"{where}: an assignment that computes")
            continue
        if isinstance(node, ast.FunctionDef):
            decorators = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
            if not any(getattr(d, "id", getattr(d, "attr", None)) == "task" for d in decorators):
                problems.append(f"{where}: {node.name} is a helper, not a @task")
                continue
            body = list(node.body)
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            body = [n for n in body if not isinstance(n, (ast.Import, ast.ImportFrom))]
            if len(body) > 3:
                problems.append(f"{where}: {node.name} has {len(body)} statements")
            if any(isinstance(n, _CONTROL) for stmt in body for n in ast.walk(stmt)):
                problems.append(f"{where}: {node.name} has control flow")
            continue
        problems.append(f"{where}: {type(node).__name__}")
    return problems


def test_top_level_tasks_py_has_no_logic() -> None:
    source = (REPO / "tasks.py").read_text(encoding="utf-8")
    assert logic_in(source) == []
    assigned = {
        target.id
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert "ns" in assigned


def test_the_logic_check_accepts_thin_tasks_and_catches_logic() -> None:
    thin = (
        '"""Tasks."""\nfrom invoke import task\nfrom buildlib.runner import Runner\n'
        "X = 1\n"
        '@task\ndef hello(c):\n    """Say hello."""\n'
        "    Runner().run(['echo', 'hello'])\n"
    )
    assert logic_in(thin) == []
    assert logic_in("for x in []:\n    pass\n") == ["line 1: For"]
    assert logic_in("if True:\n    X = 1\n") == ["line 1: If"]
    assert logic_in("X = [y for y in 'ab']\n") == ["line 1: an assignment that computes"]
    assert logic_in("def helper():\n    return 1\n") == ["line 1: helper is a helper, not a @task"]
    assert logic_in("@task\ndef t(c):\n    for i in range(3):\n        print(i)\n") == [
        "line 2: t has control flow"
    ]
    assert logic_in("@task\ndef t(c):\n    a()\n    b()\n    c()\n    d()\n") == [
        "line 2: t has 4 statements"
    ]


def test_collection_makes_one_task_per_configured_image(tmp_path: Path) -> None:
    ns = web_repo_collection(
        tmp_path,
        'default-group = ["web"]\n',
        '\n[tool.buildlib.images.api]\nrepository = "acme/api"\ndockerfile = "Dockerfile"\n',
    )
    assert {n for n in ns.tasks if n.startswith("build-")} == {"build-web", "build-api"}
    assert inspect.getdoc(ns.tasks["build-api"].body) == "Build acme/api:local from Dockerfile."
    assert (
        inspect.getdoc(ns.tasks["build"].body)
        == "Build the default images (web); --all adds the rest."
    )
    assert ns.tasks["build"].help["tag"] == "image tag (default: $BUILDLIB_IMAGE_TAG, else 'local')"


@pytest.mark.parametrize("settings", ["", 'default-group = ["web", "api"]\n'])
def test_build_promises_no_rest_when_the_default_group_holds_every_image(
    tmp_path: Path, settings: str
) -> None:
    api = '\n[tool.buildlib.images.api]\nrepository = "acme/api"\ndockerfile = "Dockerfile"\n'
    ns = web_repo_collection(tmp_path, settings, api)
    assert inspect.getdoc(ns.tasks["build"].body) == (
        "Build every image (web, api): the default group holds them all."
    )


def test_no_help_of_an_adopting_repository_speaks_of_this_repositorys_images(
    tmp_path: Path,
) -> None:
    ns = web_repo_collection(tmp_path)
    texts = [inspect.getdoc(t.body) or "" for t in ns.tasks.values()]
    texts += [h for t in ns.tasks.values() for h in t.help.values()]
    foreign = re.compile(r"load balancer|\bgpu\b|\blb\b|tetra|runpod", re.IGNORECASE)
    assert [text for text in texts if foreign.search(text)] == []


def test_a_second_collection_leaves_the_first_ones_help_alone(tmp_path: Path) -> None:
    first = collection(REPO)
    second = web_repo_collection(tmp_path, 'tag-env = "OTHER_TAG"\ndefault-group = ["web"]\n')
    assert second.tasks["build"].help["tag"] == "image tag (default: $OTHER_TAG, else 'local')"
    for name in ("build", "build-gpu"):
        assert first.tasks[name].help["tag"] == (
            "image tag (default: $TETRA_IMAGE_TAG, else 'local')"
        ), name
    assert collection(REPO).tasks["build"].help == first.tasks["build"].help


def test_each_task_hands_one_typed_flags_object_to_buildlib(monkeypatch) -> None:
    import buildlib.build
    import buildlib.doctor
    import buildlib.publish
    from buildlib.flags import BuildFlags, DoctorFlags, PushFlags, ReleaseFlags

    seen: dict[str, Any] = {}
    monkeypatch.setattr(buildlib.build, "build_images", lambda root, f: seen.update(build=f))
    monkeypatch.setattr(buildlib.publish, "push", lambda root, f: seen.update(push=f))
    monkeypatch.setattr(buildlib.publish, "release", lambda root, f: seen.update(release=f))
    monkeypatch.setattr(buildlib.doctor, "doctor", lambda f: seen.update(doctor=f) or 0)
    ns = collection(REPO)
    context = RecordingContext()
    ns.tasks["build"].body(context, image="gpu, cpu", build_arg=["A=1"], jobs="2")
    ns.tasks["push"].body(context, tag="main", registry="ghcr.io", json=True)
    ns.tasks["release"].body(context, force=True, secret=["id=t,env=T"])
    ns.tasks["doctor"].body(context, for_="push")
    assert seen["build"] == BuildFlags(images=("gpu", "cpu"), build_arg=("A=1",), jobs="2")
    assert seen["push"] == PushFlags(tag=("main",), registry="ghcr.io", as_json=True)
    ns.tasks["push"].body(context, tag=["main", "nightly"], sha_tag=True)
    assert seen["push"] == PushFlags(tag=("main", "nightly"), sha_tag=True)
    assert seen["release"] == ReleaseFlags(force=True, secret=("id=t,env=T",))
    assert seen["doctor"] == DoctorFlags(root=REPO, for_="push")


def test_buildlib_task_bodies_only_call_into_buildlib() -> None:
    """The functions ``buildlib.tasks`` wraps as tasks: a docstring, a local import, a call
    inside ``user_errors()`` (and for doctor, its exit code); no loops, no branches on data.
    What the build, push and release tasks run is a local import and one call."""
    source = REPO / "buildlib" / "src" / "buildlib" / "tasks.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    bodies = {n: f for n, f in functions.items() if f.args.args and f.args.args[0].arg == "c"}
    runs = {n: functions[n] for n in ("_build", "_push", "_release")}
    assert {"body", "doctor", "images"} <= set(bodies)
    for name, function in {**bodies, **runs}.items():
        statements = [
            s
            for s in function.body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
            and not isinstance(s, (ast.Import, ast.ImportFrom))
        ]
        assert 1 <= len(statements) <= 2, name
        if name in runs:
            assert len(statements) == 1 and isinstance(statements[0], ast.Expr), name
        else:
            guarded = statements[0]
            assert isinstance(guarded, ast.With), name
            assert ast.unparse(guarded.items[0].context_expr) == "user_errors()", name
            assert len(guarded.body) == 1, name
        # doctor branches on its exit code; what the others run has no branch at all
        loops = (ast.For, ast.While, ast.Try) if name in bodies else (ast.For, ast.While, ast.If)
        assert not any(isinstance(n, loops) for n in ast.walk(function)), name
        for import_node in (s for s in function.body if isinstance(s, ast.ImportFrom)):
            assert (import_node.module or "").startswith("buildlib."), name


def test_collection_accepts_extra_tasks(tmp_path: Path) -> None:
    def hello(c):  # type: ignore[no-untyped-def]
        """Say hello."""

    ns = collection(REPO, hello)
    assert "hello" in ns.tasks
    assert isinstance(ns.tasks["hello"], Task)
    assert ns.default == "build"


def test_user_errors_turn_os_errors_into_one_line(capsys) -> None:
    from invoke import Exit

    from buildlib.tasks import user_errors

    with pytest.raises(Exit) as caught, user_errors():
        raise PermissionError(13, "Permission denied", "/var/run/docker.sock")
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: Permission denied (/var/run/docker.sock)"]


def test_a_closed_pipe_ends_quietly(capsys, monkeypatch) -> None:
    import sys

    from invoke import Exit

    from buildlib.tasks import user_errors

    monkeypatch.setattr(sys, "stdout", sys.stdout)  # restored after the test
    with pytest.raises(Exit) as caught, user_errors():
        raise BrokenPipeError(32, "Broken pipe")
    assert caught.value.code == 141
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("buffered", "code"), [(False, 1), (True, 0)])
@pytest.mark.parametrize("argv", [["--help", "push"], ["--list"]])
def test_invoke_itself_ends_quietly_when_its_reader_went_away(
    tmp_path: Path, argv: list[str], buffered: bool, code: int
) -> None:
    # Invoke's own printer (`invoke --list | head`) raises BrokenPipeError past every task: 1,
    # as after any uncaught exception, the traceback left out. Buffered, the whole output
    # fits and the closed pipe is met only as Python exits: Invoke's own status.
    write_repo(tmp_path, with_tasks=True)
    ran = run_with_reader_gone([sys.executable, "-m", "invoke", *argv], tmp_path, buffered=buffered)
    assert ran == (code, "")


@pytest.mark.parametrize(
    ("location", "where"),
    [
        ("pyproject.toml:12", ("pyproject.toml", 12)),
        ("pyproject.toml:12:5", ("pyproject.toml", 12)),
        ("pyproject.toml [tool.buildlib]", ("pyproject.toml", None)),
        ("--tag", (None, None)),
        ("$TETRA_IMAGE_TAG", (None, None)),
        (None, (None, None)),
    ],
)
def test_annotations_name_files_only(location, where) -> None:
    from buildlib.errors import split_location

    assert split_location(location) == where


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGHUP, 129, "hung up")],
)
def test_sigterm_and_sighup_unwind_so_cleanups_run(capsys, signum, code, word) -> None:
    from invoke import Exit

    from buildlib.tasks import user_errors

    cleaned = []
    before = signal.getsignal(signum)
    with pytest.raises(Exit) as caught, user_errors():
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the signal arrives before this ends
        finally:
            cleaned.append("temporary login removed")
    assert caught.value.code == code
    assert cleaned == ["temporary login removed"]
    assert capsys.readouterr().err.strip() == f"error: {word}"
    assert signal.getsignal(signum) == before


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_a_signal_ignored_under_nohup_or_a_supervisor_stays_ignored(signum: int) -> None:
    from buildlib.tasks import user_errors

    before = signal.signal(signum, signal.SIG_IGN)
    try:
        with user_errors():
            os.kill(os.getpid(), signum)
            time.sleep(0.2)  # a handler would run meanwhile
            assert signal.getsignal(signum) == signal.SIG_IGN
    finally:
        signal.signal(signum, before)


# A run started with SIGTERM ignored (a supervisor's choice, inherited across exec): it
# keeps going after a SIGTERM, here while it waits on stdin.
SUPERVISED = """
import sys
from buildlib.tasks import user_errors
with user_errors():
    print("ready", flush=True)
    print(sys.stdin.readline().strip(), flush=True)
"""


def test_a_run_started_with_sigterm_ignored_is_not_stopped_by_it() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISED],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        assert process.stdout.readline() == "ready\n"
        process.terminate()
        time.sleep(0.5)  # a handler would stop the run meanwhile
        out, err = process.communicate("went on\n", timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert (process.returncode, out, err) == (0, "went on\n", "")


# A run whose terminal hangs up: stderr is a terminal that is gone (a write fails with EIO).
# Its cleanup writes to it: a warning, as build's "builds stopped" does, or the live area's
# last drawing, as the build display's does.
HUNG_UP = """
import sys, time
from pathlib import Path
from invoke import Exit
from buildlib import console
from buildlib.tasks import user_errors
class Area:
    def render(self):
        return ["[app] stopping"]
try:
    with user_errors():
        try:
            print("ready", flush=True)
            time.sleep(60)
        finally:
            Path(sys.argv[1]).write_text("removed")
            CLEANUP
except Exit as stop:
    sys.exit(stop.code)
"""


@pytest.mark.parametrize(
    "cleanup", ['console.warn("builds stopped: app")', "console.set_live(Area())"]
)
def test_a_sighup_from_a_closed_terminal_cleans_up_and_exits_129(
    tmp_path: Path, cleanup: str
) -> None:
    import pty

    main, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    marker = tmp_path / "login"
    process = subprocess.Popen(
        [sys.executable, "-c", HUNG_UP.replace("CLEANUP", cleanup), str(marker)],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
        text=True,
    )
    try:
        os.close(terminal)
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        os.close(main)  # the terminal goes away, then its SIGHUP
        process.send_signal(signal.SIGHUP)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert marker.read_text() == "removed"
    assert process.returncode == 129


# --- a command line that behaves like the tools people know ----------------------------


def all_flags(ns: Collection) -> dict[str, dict[str, tuple[str, ...]]]:
    return {
        name: {arg.name: tuple(arg.names) for arg in task.get_arguments()}
        for name, task in ns.tasks.items()
    }


def test_no_flag_has_a_generated_short_form(ns: Collection) -> None:
    """-h is help only, and a letter never means two flags in two tasks."""
    for task_name, flags in all_flags(ns).items():
        for flag, names in flags.items():
            assert len(names) == 1, f"{task_name} --{flag}: {names}"


@pytest.mark.parametrize("task_name", ["build", "build-lb", "push", "release", "doctor"])
def test_dash_h_after_a_task_is_its_help_and_runs_nothing(task_name: str) -> None:
    env = {**os.environ, "NO_COLOR": "1", "BUILDLIB_DOCKER": "/nonexistent/docker"}
    result = conftest.invoke(task_name, "-h", cwd=REPO, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: inv[oke] [--core-opts] {task_name} "), result.stdout
    assert "$ " not in result.stderr and "==>" not in result.stderr


class RecordingContext:
    """What a task sees of Invoke: ``c.config.run`` as ``--dry`` / ``--echo`` set it."""

    def __init__(self, **run: bool) -> None:
        self.config = {"run": {"dry": False, "echo": False, **run}}


def test_invoke_dry_is_the_task_dry_run(monkeypatch, tmp_path: Path) -> None:
    import buildlib.build
    import buildlib.publish

    seen: dict[str, Any] = {}
    monkeypatch.setattr(buildlib.build, "build_images", lambda root, f: seen.update(build=f))
    monkeypatch.setattr(buildlib.publish, "push", lambda root, f: seen.update(push=f))
    monkeypatch.setattr(buildlib.publish, "release", lambda root, f: seen.update(release=f))
    ns = collection(REPO)
    ns.tasks["build-lb"].body(RecordingContext(dry=True))
    ns.tasks["build"].body(RecordingContext(dry=True))
    ns.tasks["push"].body(RecordingContext(dry=True), tag="main")
    ns.tasks["release"].body(RecordingContext(dry=True))
    assert {name: flags.dry_run for name, flags in seen.items()} == dict.fromkeys(
        ("build", "push", "release"), True
    )
    ns.tasks["build"].body(RecordingContext())
    assert seen["build"].dry_run is False


def test_invoke_dry_refuses_doctor_fix_in_one_line(capsys) -> None:
    from invoke import Exit

    ns = collection(REPO)
    with pytest.raises(Exit) as exited:
        ns.tasks["doctor"].body(RecordingContext(dry=True), fix=True)
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: invoke --dry: doctor --fix rewrites files")


def test_invoke_echo_shows_the_queries_too(monkeypatch, capsys) -> None:
    import buildlib.build
    from buildlib.runner import Runner

    def build_images(*args, **kwargs):  # type: ignore[no-untyped-def]
        Runner(quiet=True).run([sys.executable, "-c", "pass"], mutating=False, capture=True)

    monkeypatch.setattr(buildlib.build, "build_images", build_images)
    ns = collection(REPO)
    ns.tasks["build-lb"].body(RecordingContext(echo=True))
    assert "-c pass" in capsys.readouterr().err
    ns.tasks["build-lb"].body(RecordingContext())
    assert "-c pass" not in capsys.readouterr().err, "--echo lasts one task"


def test_invoke_dry_reaches_the_repository_tasks_too() -> None:
    result = run_invoke("--dry", "typecheck")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\$ \S+ -m mypy$", result.stderr, re.M), result.stderr
    assert "Success" not in result.stdout + result.stderr, "mypy ran"


def test_the_images_task_lists_the_tables_or_prints_the_ci_matrix(tmp_path: Path, capsys) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1.0.0"\n\n'
        '[tool.buildlib.images.api]\nrepository = "org/api"\ndockerfile = "Dockerfile"\n'
        'platforms = ["linux/amd64", "linux/arm64"]\n\n'
        '[tool.buildlib.images.cpu]\nrepository = "org/cpu"\ndockerfile = "Dockerfile-cpu"\n'
    )
    for name in ("Dockerfile", "Dockerfile-cpu"):
        (tmp_path / name).write_text("FROM scratch\n")
    images = collection(tmp_path).tasks["images"]
    images.body(RecordingContext())
    assert capsys.readouterr().out == "api: org/api (Dockerfile)\ncpu: org/cpu (Dockerfile-cpu)\n"
    images.body(RecordingContext(), json=True)
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["include"] == [
        {
            "image": "api",
            "repository": "org/api",
            "dockerfile": "Dockerfile",
            "platforms": "linux/amd64,linux/arm64",
            "emulate": "linux/arm64",
        },
        {
            "image": "cpu",
            "repository": "org/cpu",
            "dockerfile": "Dockerfile-cpu",
            "platforms": "",
            "emulate": "",
        },
    ]


def test_the_help_names_this_repositorys_default_tag_and_local_image_names(tmp_path: Path) -> None:
    ns = web_repo_collection(
        tmp_path, 'registry = "127.0.0.1:5055"\ntag-env = "SHOP_TAG"\ndefault-tag = "dev"\n'
    )

    assert ns.tasks["build-web"].help["tag"] == "image tag (default: $SHOP_TAG, else 'dev')"
    assert ns.tasks["build"].help["tag"] == "image tag (default: $SHOP_TAG, else 'dev')"


def test_an_image_tasks_summary_names_the_image_as_the_engine_will(tmp_path: Path) -> None:
    # with another registry than Docker Hub the local image carries its host:
    # `docker run acme/web:dev` would look for it on Docker Hub
    ns = web_repo_collection(tmp_path, 'registry = "127.0.0.1:5055"\ndefault-tag = "dev"\n')

    assert inspect.getdoc(ns.tasks["build-web"].body) == (
        "Build 127.0.0.1:5055/acme/web:dev from Dockerfile."
    )


@pytest.mark.parametrize(
    ("floating", "summary"),
    [
        ('["major.minor", "latest"]', "X.Y.Z, then X.Y, latest (needs its git tag)."),
        ('["latest", "major"]', "X.Y.Z, then X, latest (needs its git tag)."),
        ("[]", "X.Y.Z (needs its git tag)."),
        (None, "X.Y.Z, then X.Y, X, latest (needs its git tag)."),
    ],
)
def test_the_release_summary_names_the_floating_tags_this_repository_makes(
    tmp_path: Path, floating: str | None, summary: str
) -> None:
    release = f"\n[tool.buildlib.release]\nfloating-tags = {floating}\n" if floating else ""
    ns = web_repo_collection(tmp_path, more=release)

    assert inspect.getdoc(ns.tasks["release"].body) == f"Publish the pyproject version: {summary}"


@pytest.mark.parametrize("user_says_no", [False, True], ids=["invoke-default", "user-B"])
def test_buildlib_keeps_its_own_bytecode_under_invoke(tmp_path: Path, user_says_no: bool) -> None:
    # Invoke turns .pyc writing off for the process; buildlib, a library, would then be
    # compiled again by every command. The user's own PYTHONDONTWRITEBYTECODE still wins.
    package = tmp_path / "src" / "buildlib"
    # the repository's source, as every other child process imports it: under mutation
    # testing the imported package is mutmut's copy, whose calls report to a mutmut run
    source = REPO / "buildlib" / "src" / "buildlib"
    shutil.copytree(source, package, ignore=shutil.ignore_patterns("__pycache__"))
    repo = tmp_path / "repo"
    repo.mkdir()
    web_repo_collection(repo)
    (repo / "tasks.py").write_text(
        "from pathlib import Path\nfrom buildlib.tasks import collection\n"
        "ns = collection(Path(__file__).parent)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(tmp_path / "src")
    if user_says_no:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    ran = conftest.invoke("--list", cwd=repo, env=env, timeout=120)
    assert ran.returncode == 0, ran.stderr
    modules = sorted(package.rglob("*.py"))
    cached = [m for m in modules if Path(importlib.util.cache_from_source(str(m))).is_file()]
    assert cached == ([] if user_says_no else modules)
    assert not (repo / "__pycache__").exists()  # the tasks file stays Invoke's business


def test_a_build_does_not_import_what_only_release_and_doctor_use() -> None:
    # packaging.utils imports packaging.tags, which probes the platform as it loads: a cost
    # every build would pay for a name normalisation only a release or doctor makes
    source = REPO / "buildlib" / "src"
    code = (
        "import sys, buildlib.build, buildlib.checks.preflight, buildlib.tasks\n"
        "print(sorted(m for m in sys.modules if m.startswith('packaging.')))"
    )
    env = {**os.environ, "PYTHONPATH": str(source)}
    ran = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert "packaging.tags" not in ran.stdout and "packaging.utils" not in ran.stdout
