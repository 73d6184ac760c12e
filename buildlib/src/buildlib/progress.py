"""How the output of builds is shown, by where it goes (README, "Tasks": the table): on a
terminal one live status line per image, then the log of each that failed; in GitHub Actions
the step lines as progress and each image's output as one ``::group::`` when it finishes (a
single build folded live); elsewhere every line as it comes, prefixed when several build.

Whole blocks go out under :mod:`buildlib.console`'s lock. It only shows lines: it must never
decide whether a build failed or change what runs.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from buildlib import console

Mode = Literal["github", "tty", "plain"]
# Kept per image for its group or its failure log; past this the oldest go (and are counted).
MAX_KEPT_LINES = 20_000
# A BuildKit step: ``#7 [stage-0 5/6] RUN ...`` (its number, stage words, place, instruction)
STEP = re.compile(r"^#(\d+) \[([^\]]*?)(\d+)/\d+\] (\S+)")


def choose_mode(concurrent: bool, environ: dict[str, str] | None = None) -> Mode:
    if console.in_github_actions(environ):
        return "github"
    return "tty" if concurrent and console.live_terminal(sys.stderr, environ) else "plain"


@dataclass
class _Image:
    name: str
    title: str
    started: float | None = None
    ended: float | None = None
    ok: bool | None = None
    step: str = ""
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_KEPT_LINES))
    dropped: int = 0

    def keep(self, line: str) -> None:
        if len(self.lines) == self.lines.maxlen:  # the deque drops the oldest line
            self.dropped += 1
        self.lines.append(line)

    def log(self) -> list[str]:
        dropped = [f"({self.dropped} earlier lines not kept)"] if self.dropped else []
        return [*dropped, *self.lines]


class BuildDisplay(contextlib.AbstractContextManager["BuildDisplay"]):
    """Shows the output of the builds of ``names`` (see the module's docstring)."""

    def __init__(
        self,
        names: Sequence[str],
        *,
        concurrent: bool,
        mode: Mode | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_seconds: float = 1.0,
    ) -> None:
        self.concurrent = concurrent
        self.mode: Mode = mode or choose_mode(concurrent)
        self.clock = clock
        self.images = {name: _Image(name, name) for name in names}
        self._lock = threading.Lock()
        self._tick_seconds = tick_seconds
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self, name: str, title: str | None = None) -> None:
        image = self.images[name]
        with self._lock:
            image.title = title or image.title
            image.started = self.clock()
            image.step = "starting"
        if self.mode == "github" and not self.concurrent:
            console.emit_lines([f"::group::{image.title}"])
        elif self.mode == "tty" and self._ticker is None:
            console.set_live(self)
            self._ticker = threading.Thread(
                target=self._tick, name="buildlib-progress", daemon=True
            )
            self._ticker.start()

    def line(self, name: str, text: str) -> None:
        image = self.images[name]
        step = bool(STEP.match(text))
        with self._lock:
            if step:
                image.step = text.split("] ", 1)[-1]  # a step line has its "] "
            if self.mode != "plain" and not (self.mode == "github" and not self.concurrent):
                image.keep(text)
        if self.mode == "tty":
            if step:
                console.refresh_live()
        elif not self.concurrent:
            console.info(text)
        elif self.mode == "plain" or step:  # Actions shows only the steps until the end
            console.info(f"[{name}] {text}")

    def shared(self, text: str) -> None:
        """A line of no one image (a bake's loading of its definition): shown once, and kept
        with every image's log on a terminal."""
        if self.mode == "tty":
            with self._lock:
                for image in self.images.values():
                    image.keep(text)
        else:
            console.info(text)

    def output(self, name: str) -> Callable[[str], None]:
        """The line sink of one image (for :meth:`buildlib.runner.Runner.run`)."""
        return lambda text: self.line(name, text)

    def finish(self, name: str, ok: bool) -> None:
        image = self.images[name]
        with self._lock:
            image.ended = self.clock()
            image.ok = ok
        if self.mode == "github":
            if not self.concurrent:
                console.emit_lines(["::endgroup::"])
                return
            group = f"::group::{image.title}: {self._state(image)}"
            console.emit_lines([group, *image.log(), "::endgroup::"])
            image.lines.clear()
        elif self.mode == "tty":
            console.refresh_live()

    def close(self) -> None:
        """End the live lines; on a terminal, print the full log of each image that failed."""
        if self.mode != "tty" or self._ticker is None:
            return
        self._stop.set()
        self._ticker.join()
        console.refresh_live()
        console.set_live(None)
        for image in self.images.values():
            if image.ok is False and image.lines:
                s = console.style()
                header = f"{s.red}--- log of {image.title} (failed) ---{s.reset}"
                console.emit_lines([header, *image.log()])

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(self) -> list[str]:
        width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        s = console.style()
        pad = max(len(name) for name in self.images)
        rows = []
        with self._lock:
            for image in self.images.values():
                colour = s.cyan if image.ok is None else s.green if image.ok else s.red
                text = f"{image.name:<{pad}}  {self._state(image)}"
                if image.ok is None and image.started is not None and image.step:
                    text += f"  {image.step}"
                if len(text) > width:
                    text = text[: width - 1] + "…"
                rows.append(f"{colour}{text}{s.reset}" if colour else text)
        return rows

    def _tick(self) -> None:
        while not self._stop.wait(self._tick_seconds):
            console.refresh_live()

    def _state(self, image: _Image) -> str:
        if image.started is None:
            return "waiting"
        ended = image.ended if image.ended is not None else self.clock()
        elapsed = max(0, int(ended - image.started))
        shown = f"{elapsed // 60}m{elapsed % 60:02d}s" if elapsed >= 60 else f"{elapsed}s"
        if image.ok is None:
            return f"building {shown}"
        return f"done in {shown}" if image.ok else f"failed after {shown}"
