"""Executes a build plan: images that share first steps in order, the others concurrently.

One failed image cancels the builds still running and is reported with its own error.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from buildlib import config as config_module
from buildlib import console
from buildlib.config import Config
from buildlib.dockercli import DockerCLI, build_command
from buildlib.engine import detect
from buildlib.errors import BuildlibError, CommandFailed
from buildlib.plan import BuildPlan, ImageBuild, make_plan
from buildlib.runner import Runner
from buildlib.settings import BuildOptions


@dataclass(frozen=True)
class BuiltImage:
    name: str
    references: tuple[str, ...]
    image_id: str | None
    seconds: float


def describe(plan: BuildPlan) -> list[str]:
    """The plan, one line per image, for the console and --dry-run."""
    lines = [
        f"builder: {plan.capabilities.describe()}"
        + (f", buildx builder {plan.builder}" if plan.builder else "")
        + f"; {plan.jobs} at a time"
    ]
    for build in plan.builds:
        order = f" (after {build.after}: shares its first steps)" if build.after else ""
        lines.append(
            f"{build.name}: {', '.join(build.references)} [{', '.join(build.platforms)}]{order}"
        )
    return lines


def execute(plan: BuildPlan, runner: Runner, cli: DockerCLI | None = None) -> list[BuiltImage]:
    """Run every build of ``plan``; respects ``after`` edges and ``plan.jobs``.

    Image ids come from the builds themselves (``--iidfile``, bake's metadata file): a
    no-op build costs no round trip to the engine beyond the builds."""
    if not plan.builds:
        return []
    header, *lines = describe(plan)
    console.step(header)
    for line in lines:
        console.info(f"  {line}")
    cli = cli or DockerCLI(runner, plan.capabilities)
    if plan.capabilities.builder == "buildx" and len(plan.builds) > 1:
        from buildlib.bake import execute_bake

        if not plan.dry_run:
            plan.capabilities.require_engine()
        return execute_bake(plan, runner, cli)
    if plan.dry_run:
        for build in plan.builds:
            cli.build(build, plan.builder)
        return [BuiltImage(b.name, b.references, None, 0.0) for b in plan.builds]
    plan.capabilities.require_engine()
    concurrent = plan.jobs > 1 and len(plan.builds) > 1
    results: dict[str, BuiltImage] = {}
    pending = list(plan.builds)
    running: dict[Future[BuiltImage], ImageBuild] = {}
    failure: tuple[ImageBuild, BaseException] | None = None
    with (
        ThreadPoolExecutor(max_workers=plan.jobs) as pool,
        tempfile.TemporaryDirectory(prefix="buildlib-iid-") as ids,
    ):
        while (pending or running) and failure is None:
            for build in list(pending):
                if len(running) >= plan.jobs:
                    break
                if build.after and build.after not in results:
                    continue
                pending.remove(build)
                prefix = build.name if concurrent else None
                iidfile = Path(ids) / f"{len(results) + len(running)}-{build.name}.iid"
                future = pool.submit(_build_one, cli, build, plan.builder, prefix, iidfile)
                running[future] = build
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                build = running.pop(future)
                error = future.exception()
                if error is not None:
                    failure = failure or (build, error)
                else:
                    results[build.name] = future.result()
        if failure is not None:
            runner.cancel()
            for future in running:
                future.exception()  # wait for the cancelled ones to exit
    if failure is not None:
        build, error = failure
        stopped = [b.name for b in plan.builds if b.name not in results and b is not build]
        note = f"; stopped: {', '.join(stopped)}" if stopped else ""
        if isinstance(error, BuildlibError):
            raise type(error)(error.message + note, hint=error.hint, location=error.location)
        raise error
    return [results[b.name] for b in plan.builds]


def _build_one(
    cli: DockerCLI, build: ImageBuild, builder: str | None, prefix: str | None, iidfile: Path
) -> BuiltImage:
    started = time.monotonic()
    cli.build(build, builder, prefix=prefix, iidfile=iidfile)
    if cli.runner.cancelled:
        raise CommandFailed(f"build of {build.name} was cancelled")
    try:
        image_id = iidfile.read_text(encoding="utf-8").strip() or None
    except OSError:
        image_id = None
    if image_id is None:
        raise CommandFailed(
            f"{build.name}: docker reported success but wrote no image id",
            hint="check the builder: with buildx, the build must use --load or --push",
        )
    return BuiltImage(build.name, build.references, image_id, time.monotonic() - started)


def summary(built: list[BuiltImage]) -> None:
    for image in built:
        ident = (image.image_id or "")[7:19]
        console.success(
            f"built {image.name}: {', '.join(image.references)}"
            + (f" ({ident}, {image.seconds:.1f}s)" if ident else "")
        )


def build_images(
    root: Path | str,
    names: list[str] | tuple[str, ...] | None,
    *,
    all_images: bool = False,
    runner: Runner | None = None,
    **flags: object,
) -> list[BuiltImage]:
    """What ``invoke build*`` runs: load config, plan, pre-flight, build, summarize."""
    # The docker probes (~40 ms of waiting on two processes) run while this process reads
    # the configuration and imports the pre-flight checks.
    with ThreadPoolExecutor(max_workers=1) as background:
        probe = background.submit(detect)
        from buildlib.preflight import preflight
        from buildlib.settings import build_options

        config: Config = config_module.load(root)
        options: BuildOptions = build_options(config, **flags)  # type: ignore[arg-type]
        images = config.images if all_images else config.select(names)
        runner = runner or Runner(dry_run=options.dry_run)
        caps = probe.result()
    if caps.builder == "legacy":
        console.warn(
            f"{caps.docker} has neither buildx nor built-in BuildKit (client "
            f"{caps.client_version}): using the legacy builder; install the buildx plugin"
        )
    plan = make_plan(config, images, options, caps)
    preflight(config, plan.builds, purpose="build")
    built = execute(plan, runner)
    if not options.dry_run:
        summary(built)
    return built


__all__ = ["build_command", "build_images", "describe", "execute"]
