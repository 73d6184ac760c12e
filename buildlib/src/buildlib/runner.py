"""The one place that starts processes.

Every command is an argv list (never a shell string), is printed before it runs, honours
dry-run, and has every registered secret redacted from what is printed and from errors.
Secrets travel only through stdin or the environment, never argv.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildlib import console
from buildlib.errors import BuildlibError, CommandFailed

REDACTED = "******"
# Streamed lines kept for a failed command's error: enough for a failed build's summary.
TAIL_LINES = 200
# docker, git and uv write UTF-8 whatever the locale; a stray byte shows as U+FFFD
ENCODING, ERRORS = "utf-8", "replace"


def ask(argv: Sequence[str], cwd: Path | str | None = None, **options: Any) -> Result:
    """A read-only query, quiet and captured; its exit status is the caller's to read.
    ``options``: :meth:`Runner.run`'s ``env`` and ``stdin``."""
    return Runner().run(argv, capture=True, check=False, mutating=False, cwd=cwd, **options)


def find_program(name: str) -> str | None:
    """``name`` on PATH, else beside the running Python (where ``uv sync`` puts the tools
    that are dependencies, even when the environment is not activated)."""
    return shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))


# A shorter value cannot be told from ordinary words (a user name): redacting it hides nothing.
MIN_SECRET_LENGTH = 8
# the userinfo of a URL (``https://user:token@host``): a credential whether registered or not
_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")

# Invoke's --echo: print the read-only queries too; process-wide, for every Runner of a task.
_echo_queries = False


def echo_queries(on: bool) -> bool:
    """Print every command, queries included; returns the previous setting."""
    global _echo_queries
    previous, _echo_queries = _echo_queries, on
    return previous


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str = ""
    stderr: str = ""
    stdout_bytes: bytes = b""  # captured, as written: a file name that is not UTF-8 intact

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class Runner:
    """Runs commands. ``dry_run`` prints them and runs nothing (returns an empty success)."""

    dry_run: bool = False
    quiet: bool = False
    secrets: set[str] = field(default_factory=set)
    _unredactable: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _running: set[subprocess.Popen[str]] = field(default_factory=set, repr=False)
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        """Stop every running command (one of several concurrent builds failed)."""
        self._cancelled.set()
        with self._lock:
            running = list(self._running)
        for proc in running:
            if proc.poll() is None:
                proc.terminate()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def add_secret(self, value: str | None, label: str = "a secret") -> None:
        """Redact ``value`` and each of its lines (a build step may print a key file line by
        line) from everything shown; a part too short to redact is not: a warning names
        ``label``, never the value."""
        if not value:
            return
        forms = [value]
        # a byte that is no UTF-8 is a surrogate escape in os.environ's value, U+FFFD in the
        # output that echoes it (ENCODING, ERRORS): both forms are redacted
        with contextlib.suppress(UnicodeEncodeError):  # a surrogate that stands for no byte
            forms.append(os.fsencode(value).decode(ENCODING, ERRORS))
        parts = {part.strip() for form in forms for part in [form, *form.splitlines()]}
        self.secrets |= {part for part in parts if len(part) >= MIN_SECRET_LENGTH}
        short = any(len(p) < MIN_SECRET_LENGTH and any(c.isalnum() for c in p) for p in parts)
        if short and value not in self._unredactable:
            self._unredactable.add(value)
            what = "has lines" if sum(bool(ln.strip()) for ln in value.splitlines()) > 1 else "is"
            console.warn(
                f"{label} {what} shorter than {MIN_SECRET_LENGTH} characters: it cannot be "
                "redacted from the output (that would blank every matching word)"
            )

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return _USERINFO.sub(rf"\1{REDACTED}@", text)

    def format(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        def shown(text: str) -> str:
            # redact, then quote (quoting may split a secret); the marker needs no quotes
            return shlex.quote(self.redact(text)).replace(shlex.quote(REDACTED), REDACTED)

        words = [f"{k}={shown(v)}" for k, v in (env or {}).items()] + [shown(a) for a in argv]
        return self.redact(" ".join(words))

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: str | bytes | None = None,
        capture: bool = False,
        check: bool = True,
        cwd: Path | str | None = None,
        mutating: bool = True,
        what: str | None = None,
        hint: str | None = None,
        on_line: Callable[[str], None] | None = None,
        show: Callable[[str], None] | None = None,
    ) -> Result:
        """``env`` is added to the current environment and shown on the echoed line.
        ``mutating=False`` marks read-only queries, which run even in dry-run. ``on_line``
        sees each streamed line (redacted); ``show`` displays it instead of the console.
        ``stdin`` as ``str`` goes as UTF-8, as ``bytes`` unchanged."""
        argv = [str(a) for a in argv]
        # Secrets travel on stdin or by reference, never on a command line.
        if any(secret in arg for secret in self.secrets for arg in argv):
            raise BuildlibError(
                f"refusing to run {os.path.basename(argv[0])}: a secret value would be on its "
                "command line",
                hint="a token must not also be a tag, name or path given to buildlib",
            )
        if _echo_queries or (not self.quiet and (mutating or self.dry_run)):
            console.command(self.format(argv, env))
        if self.dry_run and mutating:
            return Result(argv, 0)
        if shutil.which(argv[0]) is None:
            raise BuildlibError(
                f"{argv[0]!r} was not found on PATH",
                hint="install it, or point buildlib at it (e.g. BUILDLIB_DOCKER=/path/to/docker)",
            )
        full_env = {**os.environ, **(env or {})}
        data = stdin.encode(ENCODING, ERRORS) if isinstance(stdin, str) else stdin
        try:
            if capture:
                proc = subprocess.run(argv, env=full_env, input=data, capture_output=True, cwd=cwd)
                result = Result(
                    argv, proc.returncode, _text(proc.stdout), _text(proc.stderr), proc.stdout
                )
            else:
                result = self._stream(argv, full_env, data, cwd, on_line, show)
        except OSError as exc:  # not executable, a missing working directory...
            raise CommandFailed(
                f"could not start {what or argv[0]}: {exc.strerror or exc}"
                + (f" ({exc.filename})" if exc.filename else ""),
                hint=hint or "check the program and the directory it runs in",
            ) from None
        if check and not result.ok:
            detail = self.redact(last_lines((result.stderr or result.stdout).splitlines()))
            message = f"{what or 'command'} failed (exit {result.returncode}): {self.format(argv)}"
            raise CommandFailed(message + (f": {detail}" if detail else ""), hint=hint)
        return result

    def _stream(self, argv, env, stdin, cwd, on_line=None, show=None) -> Result:
        """Stream combined output line by line, keeping the tail for errors."""
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            encoding=ENCODING,
            errors=ERRORS,
            bufsize=1,
        )
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        assert proc.stdout is not None
        try:
            # a signal (tasks.user_errors) may arrive from here on: the command must not
            # outlive buildlib, which gets the signal alone in CI or under a wrapper
            with self._lock:
                self._running.add(proc)
            if self.cancelled:
                proc.terminate()
            if stdin is not None:
                assert isinstance(proc.stdin, io.TextIOWrapper)
                # a command that stops reading its input has its say in its exit status and
                # output, as subprocess.communicate lets it
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.buffer.write(stdin)
                    proc.stdin.close()
            for line in proc.stdout:
                line = self.redact(line.rstrip("\n"))
                tail.append(line)
                if not self.quiet:
                    (show or console.info)(line)
                if on_line is not None:
                    on_line(line)
        except BaseException:
            proc.terminate()
            raise
        finally:
            proc.wait()
            for pipe in filter(None, (proc.stdin, proc.stdout)):
                with contextlib.suppress(OSError):
                    pipe.close()
            with self._lock:
                self._running.discard(proc)
        return Result(argv, proc.returncode, "", "\n".join(tail))


def _text(output: bytes) -> str:
    """Captured output as a text-mode pipe reads it (``subprocess`` makes its newlines ``\\n``)."""
    return output.decode(ENCODING, ERRORS).replace("\r\n", "\n").replace("\r", "\n")


def last_lines(lines: Iterable[str], count: int = 3) -> str:
    """The last ``count`` lines of output that say something, on one line."""
    meaningful = [line.strip() for line in lines if line.strip()]
    return " | ".join(meaningful[-count:])
