"""Executes a build plan: each image by its own ``docker build`` (up to ``plan.jobs`` at
once; an image sharing its first steps with another starts when those are built there), or,
with buildx and several images, by ``docker buildx bake``, one run per wave.

One failed image cancels the builds still running and is reported with its own error. It
must never change the plan's tags, order or flags.
"""

from __future__ import annotations

import json
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, SimpleQueue

from buildlib import attest, console
from buildlib import config as config_module
from buildlib.bake import (
    BAKE_FILE,
    BakeLines,
    bake_command,
    bake_definition,
    bake_waves,
    error_detail,
    failed_target,
    image_ids,
    target_name,
)
from buildlib.checks import CheckResult
from buildlib.digests import pushed_digest, read_metadata
from buildlib.docker import Docker, ImageIdLost, build_failed, build_title, detect
from buildlib.errors import BuildlibError, CommandFailed, UsageError
from buildlib.flags import BuildFlags
from buildlib.plan import BuildPlan, ImageBuild, make_plan
from buildlib.progress import STEP, BuildDisplay
from buildlib.runner import Runner
from buildlib.signals import signals_held


@dataclass(frozen=True)
class BuiltImage:
    """What executing one :class:`ImageBuild` gave (by ``docker build`` or by bake)."""

    name: str
    references: tuple[str, ...]
    image_id: str | None
    seconds: float
    # what a build that pushed reports it pushed (buildx --metadata-file): the manifest,
    # or the index of a multi-platform image
    digest: str | None = None


def describe(plan: BuildPlan) -> list[str]:
    """The plan, one line per image, for the console and --dry-run."""
    lines = [
        f"builder: {plan.capabilities.describe()}"
        + (f", buildx builder {plan.builder}" if plan.builder else "")
        + f"; {plan.jobs} at a time"
    ]
    for build in plan.builds:
        order = f" (after {build.after}: shares its first steps)" if build.after else ""
        attested = attest.describe(attest.Attestations(build.provenance, build.sbom))
        carries = f" (pushed by the build, with {attested})" if attested else ""
        lines.append(
            f"{build.name}: {', '.join(build.references)} [{', '.join(build.platforms)}]"
            f"{order}{carries}"
        )
    return lines


def execute(plan: BuildPlan, runner: Runner, cli: Docker | None = None) -> list[BuiltImage]:
    """Run every build of ``plan``; respects ``after`` edges and ``plan.jobs``. Image ids
    come from the builds themselves (``--iidfile``, bake's metadata file)."""
    if not plan.builds:
        return []
    header, *lines = describe(plan)
    console.step(header)
    for line in lines:
        console.info(f"  {line}")
    for note in plan.notes:
        console.warn(note)
    cli = cli or Docker(runner, plan.capabilities)
    if not plan.dry_run:
        plan.capabilities.require_engine()
    if plan.capabilities.builder == "buildx" and len(plan.builds) > 1:
        return execute_bake(plan, runner, cli)
    if plan.dry_run:
        for build in plan.builds:
            cli.build(build, plan.builder)
        return [BuiltImage(b.name, b.references, None, 0.0) for b in plan.builds]
    return _run_concurrently(plan, runner, cli)


def execute_bake(plan: BuildPlan, runner: Runner, cli: Docker | None = None) -> list[BuiltImage]:
    """Build every image of ``plan`` with ``docker buildx bake``, one run per wave. A failing
    target stops its run (buildx cancels the other targets) and the later waves."""
    cli = cli or Docker(runner, plan.capabilities)
    results: dict[str, BuiltImage] = {}
    waves = bake_waves(plan.builds, plan.jobs)
    signalled = _naming_the_stopped(plan, results)
    with signalled, tempfile.TemporaryDirectory(prefix="buildlib-bake-") as tmp:
        for index, wave in enumerate(waves, start=1):
            bake_file = Path(tmp) / (BAKE_FILE if len(waves) == 1 else f"docker-bake-{index}.json")
            definition = json.dumps(bake_definition(wave), indent=2)
            bake_file.write_text(definition + "\n", encoding="utf-8")
            if plan.dry_run:
                console.info(f"{bake_file.name} (run {index} of {len(waves)}):")
                for line in definition.splitlines():
                    console.info(f"  {line}")
            names = [target_name(build) for build in wave]
            metadata_file = bake_file.with_suffix(".metadata.json")
            argv = bake_command(
                plan.capabilities.docker,
                bake_file,
                names,
                builder=plan.builder,
                outputs=[b.output for b in wave],
                metadata_file=None if plan.dry_run else metadata_file,
            )
            started = time.monotonic()
            with BuildDisplay(names, concurrent=len(names) > 1) as display:
                for build in wave:
                    display.start(target_name(build), build_title(build))
                show = BakeLines(display, names) if len(names) > 1 else display.output(names[0])
                result = cli.bake(argv, names, wave[0].workdir, show)
                lines = [runner.redact(line) for line in result.stderr.splitlines()]
                failed = None if result.ok else failed_target(lines, names)
                for name in names:
                    display.finish(name, result.ok or (failed is not None and name != failed))
            elapsed = time.monotonic() - started
            if runner.cancelled:
                raise CommandFailed(f"bake of {', '.join(names)} was cancelled")
            if not result.ok:
                broke = next((build for build in wave if target_name(build) == failed), None)
                detail = error_detail(lines)
                error = CommandFailed(
                    f"docker buildx bake of {', '.join(b.name for b in wave)} failed "
                    f"(exit {result.returncode})" + (f": {detail}" if detail else ""),
                    hint="fix the error above, then run the build again; `invoke doctor` "
                    "checks the usual causes",
                )
                if broke is not None:  # its own error, located in its Dockerfile
                    error = build_failed(broke, result.returncode, lines)
                raise _stopped(error, plan, results, broke)
            metadata = {} if plan.dry_run else read_metadata(metadata_file)
            ids = image_ids(metadata)
            for build in wave:
                image_id = ids.get(target_name(build))
                if image_id is None and build.output == "load" and not plan.dry_run:
                    # an older buildx may write no metadata: ask the engine
                    image_id = cli.image_id(build.primary)
                entry = metadata.get(target_name(build))
                digest = pushed_digest(entry) if isinstance(entry, dict) else None
                results[build.name] = BuiltImage(
                    build.name, build.references, image_id, elapsed, digest=digest
                )
            missing = [b for b in wave if results[b.name].image_id is None and b.output == "load"]
            if missing and not plan.dry_run:
                raise CommandFailed(
                    f"{', '.join(b.name for b in missing)}: docker buildx bake reported "
                    f"success but {', '.join(b.primary for b in missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} not in the engine",
                    hint="check the builder: a loaded image needs the docker driver "
                    "or --load support",
                )
    return [results[build.name] for build in plan.builds]


# Polling interval while a build waits for another's shared steps (seen in its output).
_STEP_POLL_SECONDS = 0.02
# The longest the scheduler waits before it looks for a signal: one that reached another
# thread, or this one as it went to wait, interrupts no wait, and its handler runs in this
# thread only, between bytecodes (the signal module's docs).
_SIGNAL_POLL_SECONDS = 0.25


# A build that ended, with its error or None; or None alone, for a signal (signals_held).
_Ended = tuple[ImageBuild, BaseException | None] | None


def _run_concurrently(plan: BuildPlan, runner: Runner, cli: Docker) -> list[BuiltImage]:
    names = {build.name for build in plan.builds}
    # A follower may start once its leader's last shared step is done (seen in the
    # leader's output), or else once the leader has finished.
    shared_done: dict[str, threading.Event] = {}
    watches: dict[str, dict[tuple[str, int, str], list[threading.Event]]] = {}
    for build in plan.builds:
        if build.after and build.after_step:
            event = shared_done[build.name] = threading.Event()
            watches.setdefault(build.after, {}).setdefault(build.after_step, []).append(event)
    results: dict[str, BuiltImage] = {}
    pending = list(plan.builds)
    running: dict[str, ImageBuild] = {}
    failure: tuple[ImageBuild, BaseException] | None = None
    # Builds whose image id docker lost (docker/cli#2971 strikes builds side by side): each
    # is run once more, alone, before anything else starts. Its layers are in the cache.
    again: set[str] = set()
    ended: SimpleQueue[_Ended] = SimpleQueue()

    def may_start(build: ImageBuild) -> bool:
        if again & {b.name for b in [*pending, *running.values()]}:
            return build.name in again and not running
        if build.after not in names or build.after in results:
            return True
        event = shared_done.get(build.name)
        return event is not None and event.is_set()

    def build_one(build: ImageBuild, iidfile: Path, on_line: StepWatch | None) -> None:
        # the build's own thread says it ended: the scheduler waits on no future's lock
        try:
            results[build.name] = _build_one(cli, build, plan.builder, display, iidfile, on_line)
        except BaseException as error:
            ended.put((build, error))
        else:
            ended.put((build, None))

    concurrent = plan.jobs > 1 and len(plan.builds) > 1
    display = BuildDisplay([b.name for b in plan.builds], concurrent=concurrent)
    # The id files go in a directory of this process alone: in the shared temporary one,
    # another user could plant a file of a predictable name, or a link in its place.
    private = tempfile.TemporaryDirectory(prefix="buildlib-iid-", ignore_cleanup_errors=True)
    signalled = _naming_the_stopped(plan, results)
    with signalled, private as iid_dir, display, ThreadPoolExecutor(plan.jobs) as pool:
        try:
            # A raising handler could land between a lock's acquire and the ``with`` that
            # releases it (threading.Condition.__enter__ is Python: python/cpython#74174),
            # in the executor's submit: a build's thread, and the executor's shutdown, would
            # wait on that lock for ever. SimpleQueue.put is reentrant (its docs).
            with signals_held(lambda signum: ended.put(None)) as caught:
                while (pending or running) and failure is None:
                    for build in list(pending):
                        # a signal noted since the last submit: no build starts only to stop
                        if len(running) >= plan.jobs or caught:
                            break
                        if not may_start(build):
                            continue
                        pending.remove(build)
                        on_line = StepWatch(watches[build.name]) if build.name in watches else None
                        pool.submit(build_one, build, Path(iid_dir, f"{build.name}.iid"), on_line)
                        running[build.name] = build
                    waiting = len(running) < plan.jobs and any(
                        b.name in shared_done for b in pending
                    )
                    done = _ended(ended, _STEP_POLL_SECONDS if waiting else _SIGNAL_POLL_SECONDS)
                    if None in done:
                        break  # a signal: delivered again once the loop is left
                    for build, error in filter(None, done):
                        del running[build.name]
                        if isinstance(error, ImageIdLost) and build.name not in again:
                            again.add(build.name)
                            pending.insert(0, build)
                            console.warn(
                                f"{build.name}: docker built it but lost its image id "
                                "(docker/cli#2971): building it again, alone"
                            )
                        elif error is not None:
                            failure = failure or (build, error)
            if caught:
                signal.raise_signal(caught[0])  # to its own handler, back in place
        except BaseException:
            runner.cancel()  # Ctrl-C, or a bug here: no build is left running
            raise
        if failure is not None:
            runner.cancel()  # the builds that finish meanwhile are in results, by their thread
    if failure is not None:
        raise _stopped(failure[1], plan, results, failure[0])
    return [results[b.name] for b in plan.builds]


def _ended(ended: SimpleQueue[_Ended], timeout: float) -> list[_Ended]:
    """What ended within ``timeout``, with all that ended by then."""
    got: list[_Ended] = []
    try:
        got.append(ended.get(timeout=timeout))
        while True:
            got.append(ended.get_nowait())
    except Empty:
        return got


@contextmanager
def _naming_the_stopped(plan: BuildPlan, results: dict[str, BuiltImage]) -> Iterator[None]:
    """On Ctrl-C, SIGTERM or SIGHUP (no Exception: tasks.user_errors says which and exits), once
    the builds have ended: one line naming the images stopped and those already built."""
    try:
        yield
    except Exception:
        raise
    except BaseException:
        stopped = [b.name for b in plan.builds if b.name not in results]
        finished = [b.name for b in plan.builds if b.name in results]
        if len(plan.builds) > 1 and stopped:
            console.warn(
                f"builds stopped: {', '.join(stopped)}"
                + (f"; finished: {', '.join(finished)}" if finished else "")
            )
        raise


def _stopped(
    error: BaseException, plan: BuildPlan, results: dict[str, BuiltImage], failed: object
) -> BaseException:
    """``error`` of the ``failed`` build, naming the builds it stopped."""
    stopped = [b.name for b in plan.builds if b.name not in results and b is not failed]
    if not stopped or not isinstance(error, BuildlibError):
        return error
    note = f"; stopped: {', '.join(stopped)}"
    return type(error)(error.message + note, hint=error.hint, location=error.location)


class StepWatch:
    """Reads a build's BuildKit plain progress and sets events when a step it watches for
    is done: ``#7 [stage-0 5/6] RUN ...`` names step 7, then ``#7 DONE <time>`` or
    ``#7 CACHED`` ends it. A single-stage Dockerfile's steps carry no stage name
    (``[5/6]``); multi-platform builds put the platform first (``[linux/amd64 stage-0 5/6]``).
    The instruction must match too: a step BuildKit adds (an ``ONBUILD`` trigger of the
    base image) shifts the numbers, and then the follower waits for the end instead.
    """

    _ENDED = re.compile(r"^#(\d+) (?:DONE|CACHED)\b")

    def __init__(self, targets: dict[tuple[str, int, str], list[threading.Event]]) -> None:
        self.targets = targets
        self.started: dict[str, list[threading.Event]] = {}

    def __call__(self, line: str) -> None:
        step = STEP.match(line)
        if step:
            names = [word for word in step.group(2).split() if "/" not in word]
            number, keyword = int(step.group(3)), step.group(4).upper()
            for (stage, wanted, instruction), events in self.targets.items():
                # no stage name: a single-stage Dockerfile, where every step is the first stage's
                same_stage = not names or names[-1].lower() == stage
                if wanted == number and instruction == keyword and same_stage:
                    self.started.setdefault(step.group(1), []).extend(events)
            return
        ended = self._ENDED.match(line)
        if ended:
            for event in self.started.get(ended.group(1), ()):
                event.set()


def _build_one(
    cli: Docker,
    build: ImageBuild,
    builder: str | None,
    display: BuildDisplay,
    iidfile: Path,
    on_line: Callable[[str], None] | None = None,
) -> BuiltImage:
    started = time.monotonic()
    # a build that pushes says what it pushed (its digest), checked against the registry
    metadata_file = iidfile.with_suffix(".metadata.json") if build.output == "push" else None
    digest = image_id = None
    display.start(build.name, build_title(build))
    try:
        cli.build(
            build,
            builder,
            iidfile=iidfile,
            on_line=on_line,
            show=display.output(build.name),
            metadata_file=metadata_file,
        )
        if cli.runner.cancelled:
            raise CommandFailed(f"build of {build.name} was cancelled")
        if metadata_file is not None:
            digest = pushed_digest(read_metadata(metadata_file))
        image_id = iidfile.read_text(encoding="utf-8").strip() or None
    except OSError:
        pass  # no id file: the error below
    finally:
        iidfile.unlink(missing_ok=True)
        if metadata_file is not None:
            metadata_file.unlink(missing_ok=True)
        display.finish(build.name, image_id is not None)
    if image_id is None:
        # docker's own `build --iidfile` writes the id or fails ("cannot write ... because
        # server did not provide an image ID": docker/cli cli/command/image/build_buildkit.go,
        # and build.go for the legacy builder): a success without it is another client's doing
        raise CommandFailed(
            f"{build.name}: docker reported success but wrote no image id",
            hint="check the builder: with buildx, the build must use --load or --push"
            if cli.caps.builder == "buildx"
            else "check the docker client ($BUILDLIB_DOCKER): its `build --iidfile FILE` "
            "must write the image id to FILE",
        )
    return BuiltImage(
        build.name, build.references, image_id, time.monotonic() - started, digest=digest
    )


def summary(built: list[BuiltImage]) -> None:
    for image in built:
        ident = (image.image_id or "")[7:19]
        console.success(
            f"built {image.name}: {', '.join(image.references)}"
            + (f" ({ident}, {image.seconds:.1f}s)" if ident else "")
        )


def _lock_fresh(root: Path | str) -> CheckResult:
    from buildlib.checks.lock import check_lock_fresh
    from buildlib.checks.project import Project

    # uv's verdict needs the repository only, not the table the main thread is reading
    return check_lock_fresh(Project(Path(root).resolve(), environ={}))


def build_images(
    root: Path | str, flags: BuildFlags, *, runner: Runner | None = None
) -> list[BuiltImage]:
    """What ``invoke build*`` runs: options, plan, pre-flight, build, report."""
    # The docker probes and uv's lock check (the pre-flight's one process) run while this
    # process reads the configuration, makes the plan and runs the other checks.
    with ThreadPoolExecutor(max_workers=2) as background:
        probe = background.submit(detect)
        lock_fresh = background.submit(_lock_fresh, root)
        from buildlib.checks.preflight import preflight
        from buildlib.options import environment, options_for, secret_values

        config = config_module.load(root)
        options = options_for(config, flags, tag=flags.tag)
        if flags.all_images and flags.images:
            raise UsageError(
                "--all and --image both choose the images to build",
                hint=f"pass one of them: --image {','.join(flags.images)} or --all",
            )
        images = config.images if flags.all_images else config.select(flags.images)
        runner = runner or Runner(dry_run=options.dry_run)
        for label, value in secret_values(options.secrets, environment()):
            runner.add_secret(value, label)
        caps = probe.result()
        if caps.builder == "legacy":
            console.warn(
                f"{caps.docker} has neither buildx nor built-in BuildKit (client "
                f"{caps.client_version}): using the legacy builder; install the buildx plugin"
            )
        # A local build is no release: as metadata-action does, its version label is its
        # tag (``local``, ``main``), never the pyproject version it may not be.
        plan = make_plan(config, images, options, caps, version=options.tag)
        for warning in plan.warnings:
            console.warn(warning)
        preflight(config, plan.builds, purpose="build", lock_fresh=lock_fresh.result)
    built = execute(plan, runner)
    if not options.dry_run:
        summary(built)
    return built


__all__ = ["build_images", "describe", "execute", "execute_bake"]
