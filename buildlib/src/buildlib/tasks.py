"""Reusable Invoke tasks: ``build``, ``build-<image>`` per configured image, and more.

A repository adopts buildlib with a ``[tool.buildlib]`` table and a ``tasks.py`` of::

    from pathlib import Path
    from buildlib.tasks import collection
    ns = collection(Path(__file__).parent)

Each task turns its flags into one typed flags object and calls one buildlib function with
it; a :class:`~buildlib.errors.BuildlibError` becomes one red line and an exit code. It must
never decide anything (a default, a check, what to build), so that ``buildlib`` and
``invoke`` behave alike.
"""

from __future__ import annotations

import errno
import inspect
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from invoke import Collection, Exit, Task, task

from buildlib import console
from buildlib.errors import BuildlibError, UsageError, split_location
from buildlib.flags import (
    REPEATED,
    BuildFlags,
    DoctorFlags,
    PushFlags,
    ReleaseFlags,
    from_task,
    several,
)
from buildlib.signals import STOPS

# "tag" too, made per collection: its default names that repository's variable
BUILD_HELP = {
    "platform": "os/arch to build, comma-separated, any case and docker's aliases "
    "(linux/x86_64 is linux/amd64; no OS version) (default: this host's, e.g. linux/amd64)",
    "no-cache": "do not use the build cache",
    "build-arg": "KEY=VALUE build argument (repeatable); never a secret: use --secret",
    "secret": "BuildKit secret id=NAME,env=VAR or id=NAME,src=FILE (repeatable)",
    "builder": "buildx builder to run the build on (remote BuildKit, Kubernetes, cloud)",
    "cache-from": "cache source, e.g. type=registry,ref=REPO:buildcache (repeatable); "
    "{image} stands for each image's name",
    "cache-to": "cache destination (buildx), e.g. type=gha,scope={image},mode=max",
    "dry-run": "print the docker command lines; change nothing",
}
GROUP_HELP = {
    **BUILD_HELP,
    "all": "build every image, not only the default group",
    "image": "comma-separated image names (default: the default group)",
    "jobs": "how many images to build at once (default: all of them)",
    "sequential": "build one image at a time (same as --jobs 1)",
}
REGISTRY_HELP = "registry host (default: $BUILDLIB_REGISTRY, else [tool.buildlib].registry)"


class _Terminated(BaseException):
    """SIGTERM (a cancelled CI job) or SIGHUP (the terminal closed), raised so that every
    ``finally`` runs: running builds are stopped and a temporary docker login is deleted."""


def _on_signal(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def _quiet_broken_pipe(hook: Any) -> Any:
    """``hook``, but a BrokenPipeError (`invoke --list | head`) or EIO (the terminal hung up)
    from Invoke's own printer, which no task catches, ends without a traceback: Invoke runs
    this module before buildlib's others."""
    if getattr(hook, "quiet_broken_pipe", False):
        return hook

    def excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        hung_up = isinstance(value, OSError) and value.errno == errno.EIO and not value.filename
        if issubclass(kind, BrokenPipeError) or hung_up:
            return  # Python then exits with 1, as after any uncaught exception
        hook(kind, value, tb)

    excepthook.quiet_broken_pipe = True  # type: ignore[attr-defined]
    return excepthook


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a BuildlibError into one line on stderr and an exit code; never a traceback."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in set(STOPS) - {signal.SIGINT}:
            # an ignored one (`nohup`, a supervisor) stays ignored, as Python leaves SIGINT
            if signal.getsignal(signum) != signal.SIG_IGN:
                previous[signum] = signal.signal(signum, _on_signal)
    try:
        yield
        sys.stdout.flush()  # a buffered output meets a gone reader here, not as Python exits
    except (_Terminated, KeyboardInterrupt) as stop:
        signum = stop.args[0] if isinstance(stop, _Terminated) else signal.SIGINT
        console.error(STOPS[signum])
        # 128 + the signal's number, the shell's convention (bash's manual, "EXIT STATUS")
        raise Exit(code=128 + signum) from None
    except BuildlibError as error:
        file, line = split_location(error.location)
        console.error(str(error), file=file, line=line, short=error.message)
        raise Exit(code=error.exit_code) from None
    except BrokenPipeError:
        # the reader went away (`invoke release --dry-run --json | head`): nothing to say
        raise Exit(code=141) from None
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        console.error(f"{error.strerror or error}{where}")
        raise Exit(code=1) from None
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # one Python did not install cannot be put back
                signal.signal(signum, handler)


@contextmanager
def invoke_flags(
    context: Any, dry_run: bool = False, *, no_dry: str | None = None
) -> Iterator[bool]:
    """Invoke's own ``--dry`` and ``--echo``, which buildlib's commands (not run through
    ``c.run``) would otherwise never see. Yields the dry run to use: ``--dry`` is
    ``--dry-run``, or a usage error saying ``no_dry``. ``--echo`` also prints the queries."""
    run = context.config.get("run", {}) if hasattr(context, "config") else {}
    dry, echo = bool(run.get("dry")), bool(run.get("echo"))
    if dry and no_dry:
        raise UsageError(f"invoke --dry: {no_dry}")
    from buildlib import runner

    previous = runner.echo_queries(echo) if echo else None
    try:
        yield dry_run or dry
    finally:
        if previous is not None:
            runner.echo_queries(previous)


# The flags that are on (or off) by default; the others are "not given" (None).
_SWITCHES = ("all", "sha_tag", "force", "json", "no_cache", "sequential", "dry_run")


def _task(
    name: str,
    summary: str,
    help_table: dict[str, str],
    run: Callable[[dict[str, Any], bool], None],
    iterable: tuple[str, ...] = REPEATED,
) -> Task:
    """A task whose flags are the keys of its help table (given to Invoke as its signature,
    so each flag is declared once). ``run`` gets the flags given and the dry run to use."""

    def body(c: Any, **given: Any) -> None:
        with user_errors(), invoke_flags(c, given.get("dry_run", False)) as dry_run:
            run(given, dry_run)

    keyword = inspect.Parameter.KEYWORD_ONLY
    flags = [key.replace("-", "_") for key in help_table]
    body.__doc__ = summary
    body.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("c", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(f, keyword, default=False if f in _SWITCHES else None) for f in flags]
    )
    return Task(body, name=name, help=help_table, iterable=list(iterable))


def _build(root: Path, given: dict[str, Any], dry_run: bool, **fixed: Any) -> None:
    from buildlib.build import build_images

    build_images(root, from_task(BuildFlags, given, dry_run=dry_run, **fixed))


def _push(root: Path, given: dict[str, Any], dry_run: bool) -> None:
    from buildlib.publish import push

    push(root, from_task(PushFlags, given, tag=several(given.get("tag")), dry_run=dry_run))


def _release(root: Path, given: dict[str, Any], dry_run: bool) -> None:
    from buildlib.publish import release

    release(root, from_task(ReleaseFlags, given, dry_run=dry_run))


PUBLISH_HELP = {
    **{k: v for k, v in GROUP_HELP.items() if k != "all"},
    "image": "comma-separated image names (default: every image)",
    "registry": REGISTRY_HELP,
    "json": "print the plan (with --dry-run) or the result as JSON on stdout",
}
PUSH_HELP = {
    **PUBLISH_HELP,
    "tag": "tag to push, e.g. main (repeatable: the first is the version label; "
    "required unless the tag-env variable is set; 'latest' and versions are refused without "
    "--force: they belong to `release`)",
    "sha-tag": "also tag sha-<7-hex commit> (as docker/metadata-action's type=sha); "
    "default: [tool.buildlib] sha-tag",
    "force": "push 'latest' or a version-shaped tag anyway",
}
RELEASE_HELP = {
    **PUBLISH_HELP,
    "force": "overwrite a version tag that exists with different content",
}


DOCTOR_HELP = {
    "fix": "rewrite CRLF / lone-CR line endings to LF (only those files, nothing else)",
    "json": 'print {"ok": bool, "checks": [...]} on stdout (see docs/doctor.md)',
    "root": "the repository to check (default: the one of this tasks.py)",
    "for": "also check what a push or a release needs: push | release (uses the network)",
    "registry": REGISTRY_HELP,
}


DOCTOR_FIX_NOT_DRY = (
    "doctor --fix rewrites files (fix: `invoke doctor` without --fix lists them, changing nothing)"
)


def _doctor_task(default_root: Path) -> Task:
    def doctor(c, fix=False, json=False, root=None, for_=None, registry=None):
        """Check config, line endings, uv.lock, engine, credentials, release; say how to fix."""
        from buildlib.doctor import doctor as run_doctor

        with user_errors(), invoke_flags(c, no_dry=DOCTOR_FIX_NOT_DRY if fix else None):
            code = run_doctor(DoctorFlags(Path(root or default_root), fix, json, for_, registry))
        if code:
            raise Exit(code=code)

    return Task(doctor, help=DOCTOR_HELP)


def _images_task(root: Path) -> Task:
    def images(c, json=False):
        """List the images of [tool.buildlib]; --json: as a CI matrix, on one line."""
        from buildlib.matrix import print_images

        with user_errors():
            print_images(root, as_json=json)

    help_table = {
        "json": '{"include": [{"image": NAME, "repository": REPO, "dockerfile": FILE}, ...]} '
        "on stdout, for a GitHub Actions matrix (fromJSON)"
    }
    return Task(images, help=help_table)


# How the release task's summary names each floating tag pattern
_FLOATING_NAMES = {"major.minor": "X.Y", "major": "X", "latest": "latest"}


def _build_summary(group: str, *, rest: bool = True) -> str:
    """The build task's summary; ``rest``: images outside the default group, for --all."""
    if not rest:
        return f"Build every image ({group}): the default group holds them all."
    return f"Build the default images ({group}); --all adds the rest."


def _image_summaries(root: Path) -> tuple[list[tuple[str, str]], str, str, str, tuple[str, ...]]:
    """Each image task's summary, the build task's, the tag variable, the default tag and
    the floating tags. A broken pyproject still lists its tasks, by their table headers;
    running one says why."""
    from buildlib import config as config_module

    try:
        config = config_module.load(root)
    except BuildlibError:
        path = root / config_module.PYPROJECT
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        names = re.findall(r"^\[tool\.buildlib\.images\.([\w-]+)\]", text, re.MULTILINE)
        images = [(n, f"Build the {n} image.") for n in names]
        return images, _build_summary("the default group"), "TAG", "local", tuple(_FLOATING_NAMES)
    from buildlib.plan import image_reference

    reference = partial(image_reference, config.registry)
    images = [
        (i.name, f"Build {reference(i.repository, config.default_tag)} from {i.dockerfile}.")
        for i in config.images
    ]
    rest = bool({image.name for image in config.images} - set(config.default_group))
    summary = _build_summary(", ".join(config.default_group), rest=rest)
    return images, summary, config.tag_env, config.default_tag, config.release.floating_tags


def _keep_bytecode() -> None:
    """Write buildlib's own bytecode cache, and only its: Invoke stops ``.pyc`` writing for the
    whole process unless ``--write-pyc`` is given, for tasks files that change often (Invoke's
    changelog, feature 68), and every command would compile buildlib again. The user's own
    ``-B`` or ``PYTHONDONTWRITEBYTECODE`` (``sys.flags``) still wins; compileall skips a folder
    it cannot write to, silently."""
    if sys.dont_write_bytecode and not sys.flags.dont_write_bytecode:
        import compileall

        compileall.compile_dir(Path(__file__).parent, quiet=2)


def collection(root: Path | str, *extra: Task | Callable[..., Any]) -> Collection:
    _keep_bytecode()
    root = Path(root).resolve()
    sys.excepthook = _quiet_broken_pipe(sys.excepthook)
    images, build_summary, tag_env, default_tag, floating = _image_summaries(root)
    # Each collection's own tables: the tag variable is this repository's, and a collection
    # made later for another repository must not change this one's help.
    tag_help = {"tag": f"image tag (default: ${tag_env}, else '{default_tag}')"}
    build_help, group_help = {**tag_help, **BUILD_HELP}, {**tag_help, **GROUP_HELP}
    ns = Collection()
    ns.add_task(_task("build", build_summary, group_help, partial(_build, root)), default=True)
    for name, summary in images:
        run = partial(_build, root, images=(name,))
        ns.add_task(_task(f"build-{name}", summary, build_help, run))
    summary = "Build and push every image as REPO:TAG (CI on main: --tag main --sha-tag)."
    ns.add_task(_task("push", summary, PUSH_HELP, partial(_push, root), (*REPEATED, "tag")))
    # the floating tags this repository's [tool.buildlib.release] makes, in their order
    moved = ", ".join(name for pattern, name in _FLOATING_NAMES.items() if pattern in floating)
    summary = f"Publish the pyproject version: X.Y.Z{f', then {moved}' if moved else ''} "
    summary += "(needs its git tag)."
    ns.add_task(_task("release", summary, RELEASE_HELP, partial(_release, root)))
    ns.add_task(_doctor_task(root))
    ns.add_task(_images_task(root))
    for item in extra:
        ns.add_task(item if isinstance(item, Task) else task(item))  # type: ignore[arg-type]
    for each in ns.tasks.values():
        # Long flags only (a one-letter flag keeps its name): Invoke would give each flag its
        # task's first free letter, -a for --all here and --cache-to there, and take -h from help.
        each.auto_shortflags = False
    return ns
