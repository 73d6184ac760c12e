"""buildlib's benchmark: buildlib against plain docker (or against itself without a cache),
side by side.

    uv run python bench/run.py                 # every figure (~20 min, 2 cores)
    uv run python bench/run.py --runs 5 --only noop_overhead_s,list_s
    uv run python bench/run.py --only fresh_runner_ratio       # ~12 min (root: a 2nd engine)

Each figure is the median of 5 runs (fresh_runner_ratio: 3, unless --runs says otherwise),
with min and max; the two sides of a comparison alternate (A B A B ...) so that noise on a
shared engine hits both. Both sides use the same docker client: $BUILDLIB_DOCKER, else
/usr/bin/docker when it can build with BuildKit, else `docker`. A table goes to the screen;
the last line is one JSON object whose keys are exactly ``FIGURES`` (a figure that could not
be measured is null, with the reason in the table).

Figures (docs/performance.md explains each, with the figures of one run):
  cold_ratio         `invoke build --all --no-cache` / `docker build --no-cache` of each image
                     in turn (the Makefile's way); nothing comes from the build cache.
  independent_ratio  bench/fixtures/independent (three images, no shared layer, seconds of
                     CPU each, a fresh CACHE_NONCE per build): `invoke build` / one by one.
  noop_overhead_s    nothing changed: `invoke build --all` minus plain cached `docker build`s.
  code_change_ratio  a one-line change in worker/handler.py (in a copy): rebuild / no-op
                     rebuild; the table shows which steps ran again.
  release_ratio      `invoke release --image cpu` (X.Y.Z, X.Y, X, latest) to a fresh loopback
                     registry / one `docker push` of the same image to another fresh one.
  doctor_s, list_s   wall time of `invoke doctor` (offline) and `invoke --list`.
  fresh_runner_ratio the image jobs of CI after a one-line change in worker/ (committed), each
                     on a fresh runner: a second dockerd (own data root, exec root, socket,
                     bridge), made new before every job, with only its base images (pulled
                     from the loopback registry, as a runner pulls them). The jobs: `invoke
                     build --all` (docker-test, docker-test-lb) and `invoke push --tag T
                     --sha-tag` (docker-main-*), both `--cache-to type=inline`, with
                     `--cache-from` the images the last `invoke push` wrote to that registry
                     / the same jobs with no cache. The fixture (bench/fixtures/fresh-runner)
                     is this worker with a real worker's ~126 locked packages. Builds run
                     with --network host (the bridge has no NAT; the push's too: the
                     network mode is part of a RUN step's cache key). Where each job's time
                     goes (BuildKit's progress, timestamped; the docker commands' spans) is
                     printed and kept in bench/.work/ (last-run.json, fresh-runner/).

It removes only what it made: the tags it gave (``*:bench-<session>*``, registry copies) and
the image ids its own builds produced (never with --force: an id someone else tagged stays).
It never prunes the shared engine's build cache; the second engine is its own, deleted at the
end (stopped by its pid, its mounts unmounted, its bridge deleted; on failure and Ctrl-C too).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import ipaddress
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "bench" / "fixtures" / "independent"
FRESH_FIXTURE = REPO / "bench" / "fixtures" / "fresh-runner"  # a real worker's dependencies
WORK = REPO / "bench" / ".work"  # results of the last run (git-ignored)
RUNS = 5
FRESH_RUNS = 3  # fresh_runner_ratio's default: each run installs ~65 MB of wheels from PyPI

FIGURES = (
    "cold_ratio",
    "independent_ratio",
    "noop_overhead_s",
    "code_change_ratio",
    "release_ratio",
    "doctor_s",
    "list_s",
    "fresh_runner_ratio",
)
# figure -> (comparison, target)
TARGETS: dict[str, tuple[str, float]] = {
    "cold_ratio": ("<=", 1.0),
    "independent_ratio": ("<=", 0.75),
    "noop_overhead_s": ("<=", 0.3),
    "code_change_ratio": ("<=", 3.0),
    "release_ratio": ("<=", 1.3),
    "doctor_s": ("<", 1.0),
    "list_s": ("<", 0.5),
    "fresh_runner_ratio": ("<=", 0.4),
}
UNITS = {"noop_overhead_s": "s", "doctor_s": "s", "list_s": "s"}
# Copied into the temporary clones (code change, release), as tests/integration does.
COPIED = (
    "Dockerfile",
    "Dockerfile-cpu",
    "Dockerfile-lb",
    ".dockerignore",
    "worker",
    "pyproject.toml",
    "uv.lock",
    ".release-please-manifest.json",
    "release-please-config.json",
    # pyproject.toml names buildlib/ as a uv workspace member: `uv lock --check` needs it.
    "buildlib",
)
TASKS_PY = (
    "from pathlib import Path\n\nfrom buildlib.tasks import collection\n\n"
    "ns = collection(Path(__file__).resolve().parent)\n"
)
REGISTRY_USER = "bench"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


# --- pure parts (tests/unit/test_bench.py) -------------------------------------------------


@dataclass(frozen=True)
class Stat:
    """The median of some samples, with their min and max."""

    median: float | None
    minimum: float | None
    maximum: float | None
    count: int

    @classmethod
    def of(cls, samples: Iterable[float]) -> Stat:
        values = [float(v) for v in samples]
        if not values:
            return cls(None, None, None, 0)
        return cls(statistics.median(values), min(values), max(values), len(values))


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per run: A_i / B_i (the sides of one run ran back to back)."""
    return [a / b for a, b in zip(numerators, denominators, strict=True) if b > 0]


def differences(minuends: Sequence[float], subtrahends: Sequence[float]) -> list[float]:
    return [a - b for a, b in zip(minuends, subtrahends, strict=True)]


def meets(name: str, value: float | None) -> bool | None:
    """Whether ``value`` meets the figure's target (None: not measured)."""
    if value is None:
        return None
    comparison, target = TARGETS[name]
    return value <= target if comparison == "<=" else value < target


def json_line(figures: Mapping[str, float | None]) -> str:
    """The benchmark's last line: exactly the keys of FIGURES, in order (null if missing)."""
    document = {}
    for name in FIGURES:
        value = figures.get(name)
        document[name] = None if value is None else round(float(value), 3)
    return json.dumps(document)


_STEP = re.compile(
    r"^(?:\[(?P<prefix>[\w.-]+)\] )?#(?P<id>\d+) "
    r"\[(?:(?P<stage>[^\]\s]+) )?(?P<n>\d+)/(?P<m>\d+)\] (?P<instruction>.+)$"
)
_STATUS = re.compile(r"^(?:\[(?P<prefix>[\w.-]+)\] )?#(?P<id>\d+) (?P<status>DONE|CACHED)\b")


def rebuilt_steps(output: str, default: str = "image") -> dict[str, list[str]]:
    """The Dockerfile steps that really ran (not ``CACHED``), per image, from BuildKit's
    ``--progress plain`` output. The image is the ``[name]`` line prefix of concurrent
    builds, else the bake target (``#9 [gpu 6/6] ...``), else ``default``. ``FROM`` steps
    are not counted: they resolve the base image, they build nothing."""
    steps: dict[tuple[str, str], tuple[str, str]] = {}
    status: dict[tuple[str, str], set[str]] = {}
    for line in output.splitlines():
        line = line.rstrip()
        match = _STEP.match(line)
        if match:
            prefix = match.group("prefix") or ""
            stage = match.group("stage") or ""
            image = prefix or (stage if stage and not stage.startswith("stage-") else default)
            steps[(prefix, match.group("id"))] = (image, match.group("instruction"))
            continue
        match = _STATUS.match(line)
        if match:
            key = (match.group("prefix") or "", match.group("id"))
            status.setdefault(key, set()).add(match.group("status"))
    rebuilt: dict[str, list[str]] = {}
    for key, (image, instruction) in steps.items():
        seen = status.get(key, set())
        if instruction.startswith("FROM ") or "CACHED" in seen or "DONE" not in seen:
            continue
        rebuilt.setdefault(image, []).append(instruction)
    return rebuilt


# --- the fresh engine (fresh_runner_ratio): pure parts ------------------------------------

# The second engine's bridge gets a /24 from here that no route of the host overlaps (the
# engine's default address pools are 172.17-31.x and 192.168.x: never these).
FRESH_POOL = ipaddress.IPv4Network("10.213.0.0/16")


def pick_subnet(routes: str, start: int) -> ipaddress.IPv4Network:
    """A /24 of FRESH_POOL that overlaps no destination in ``ip -4 route`` output, trying
    from the ``start``-th one on."""
    used = []
    for line in routes.splitlines():
        word = line.split(maxsplit=1)[0] if line.strip() else ""
        if word and word != "default":
            try:
                used.append(ipaddress.IPv4Network(word, strict=False))
            except ValueError:
                continue
    subnets = list(FRESH_POOL.subnets(new_prefix=24))
    for offset in range(len(subnets)):
        candidate = subnets[(start + offset) % len(subnets)]
        if not any(candidate.overlaps(network) for network in used):
            return candidate
    raise BenchError(f"no free /24 in {FRESH_POOL} for the second engine's bridge")


def dockerd_argv(dockerd: str, root: Path, bridge: str) -> list[str]:
    """A second engine beside the first: its own data root, exec root, socket, pid file, an
    empty configuration file (not /etc/docker/daemon.json), and a bridge of its own, without
    iptables rules or NAT. Never ``--bridge none``: that deletes the first engine's docker0."""
    if not bridge or bridge == "none":
        raise ValueError("the second engine needs a bridge of its own, never --bridge none")
    return [
        dockerd,
        "--config-file",
        str(root / "daemon.json"),
        "--data-root",
        str(root / "data"),
        "--exec-root",
        str(root / "exec"),
        "--host",
        f"unix://{root / 'docker.sock'}",
        "--pidfile",
        str(root / "docker.pid"),
        "--bridge",
        bridge,
        "--iptables=false",
        "--ip-masq=false",
    ]


def host_network_client(docker: str, log: Path | None = None) -> str:
    """A docker client that adds ``--network host`` to ``build``: the second engine's bridge
    has no NAT, so its builds reach PyPI only over the host's network. Everything else
    (version probes, pushes, loads) passes through unchanged. With ``log`` (a bash script
    then), each command appends ``START END WORD TARGET`` there (epoch seconds; its first
    word and its last ``--tag``, else its last argument), and each line it writes on stderr
    (BuildKit's progress) goes to ``log`` + ``.lines`` too as ``TIME TARGET LINE``: the
    breakdown of where a build's time goes (``progress_timeline``)."""
    real = shlex.quote(docker)
    network = 'if [ "$1" = build ]; then shift; set -- build --network host "$@"; fi\n'
    if log is None:
        return (
            "#!/bin/sh\n# bench/run.py: the fresh engine's client (builds on the host's network)\n"
            + network
            + f'exec {real} "$@"\n'
        )
    times, lines = shlex.quote(str(log)), shlex.quote(f"{log}.lines")
    return (
        "#!/bin/bash\n# bench/run.py: the fresh engine's client (host network, timed)\n"
        + network
        + "start=$EPOCHREALTIME; word=$1; target=''; previous=''\n"
        + 'for arg in "$@"; do\n'
        + '  if [ "$previous" = --tag ] || [ "$word" != build ]; then target=$arg; fi\n'
        + "  previous=$arg\n"
        + "done\n"
        + "stamp() {\n"
        + "  while IFS= read -r line; do\n"
        + f'    printf \'%s %s %s\\n\' "$EPOCHREALTIME" "${{target// /_}}" "$line" >> {lines}\n'
        + "    printf '%s\\n' \"$line\" >&2\n"
        + "  done\n"
        + "}\n"
        + f'{real} "$@" 2> >(stamp); status=$?\n'
        + f'echo "$start $EPOCHREALTIME $word ${{target// /_}}" >> {times}\n'
        + "exit $status\n"
    )


def mounts_under(mountinfo: str, root: Path) -> list[str]:
    """Mount points at or below ``root`` in /proc/self/mountinfo, deepest first."""
    prefix = str(root).rstrip("/")
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


_BLOB_GET = re.compile(r'"GET \S+/blobs/sha256:\S+ HTTP/[\d.]+" 200 (\d+)')


def blob_pulls(access_log: str) -> tuple[int, int]:
    """Blobs the registry served and their bytes, from its access log (GET
    .../blobs/sha256:... answered 200)."""
    sizes = [int(size) for size in _BLOB_GET.findall(access_log)]
    return len(sizes), sum(sizes)


_VERTEX = re.compile(r"^(?:\[(?P<prefix>[\w.-]+)\] )?#(?P<id>\d+) (?P<text>.*)$")
# The parts of a job that the breakdown names, in the order it shows them: wall seconds,
# each the union of its intervals over the job's concurrent builds.
PARTS = (
    "cache manifest",  # importing cache manifest from REF (--cache-from)
    "pull",  # CACHED steps downloading their layers from the registry (pulling sha256:...)
    "unpack",  # ... then unpacking them into the engine (no line of its own: up to CACHED)
    "steps run",  # steps that ran (RUN, COPY...), not CACHED
    "export",  # exporting to image (layers, config, name), exporting cache
    "other vertices",  # [internal] definitions and context, [auth], FROM, metadata
    "between vertices",  # a build running, no vertex open: unpacking, solving, session
    "docker build",  # every docker build command, start to exit
    "docker push",
    "other docker",  # version probes, login, tag, image inspect
    "outside docker",  # buildlib itself: Python, invoke, planning, waiting
)


@dataclass
class Vertex:
    """One vertex of a BuildKit build, from the timestamped lines of its progress."""

    target: str
    name: str
    start: float
    end: float
    cached: bool = False
    pulled: float | None = None  # when its last ``pulling sha256:... done`` line came, if any


def vertices(stamped: str) -> list[Vertex]:
    """The vertices in ``TIME TARGET LINE`` lines (``host_network_client``'s ``.lines``),
    each from its first line to its last (``DONE``/``CACHED``)."""
    found: dict[tuple[str, str], Vertex] = {}
    for line in stamped.splitlines():
        fields = line.split(" ", 2)
        if len(fields) < 3:
            continue
        try:
            when = float(fields[0])
        except ValueError:
            continue
        match = _VERTEX.match(fields[2].rstrip())
        if not match:
            continue
        text = match.group("text")
        vertex = found.setdefault(
            (fields[1], match.group("id")), Vertex(fields[1], text, when, when)
        )
        vertex.end = when
        if text == "CACHED":
            vertex.cached = True
        elif text.startswith("pulling "):
            vertex.pulled = when
    return list(found.values())


def kind_of(vertex: Vertex) -> str:
    """The part of ``PARTS`` a vertex's time counts for."""
    if vertex.name.startswith("importing cache manifest"):
        return "cache manifest"
    if vertex.name.startswith("exporting "):
        return "export"
    if re.match(r"^\[[^\]]*\d+/\d+\] (?!FROM )", vertex.name):
        if vertex.cached:
            return "pull" if vertex.pulled is not None else "other vertices"
        return "steps run"
    return "other vertices"


def job_parts(
    stamped: str, spans: Sequence[tuple[float, float, str, str]], took: float
) -> dict[str, float]:
    """Where one job's ``took`` seconds went (``PARTS``), from its timestamped progress and
    its docker commands' spans (``command_spans``)."""
    found = vertices(stamped)
    parts = dict.fromkeys(PARTS, 0.0)
    for kind in ("cache manifest", "steps run", "export", "other vertices"):
        parts[kind] = covered((v.start, v.end) for v in found if kind_of(v) == kind)
    pulled = [(v.start, v.pulled, v.end) for v in found if v.pulled is not None and v.cached]
    parts["pull"] = covered((start, done) for start, done, _ in pulled)
    parts["unpack"] = covered((done, end) for _, done, end in pulled)
    builds = [(start, end) for start, end, word, _ in spans if word == "build"]
    parts["between vertices"] = max(0.0, covered(builds) - covered((v.start, v.end) for v in found))
    for word in ("build", "push"):
        parts[f"docker {word}"] = covered((s, e) for s, e, w, _ in spans if w == word)
    parts["other docker"] = covered((s, e) for s, e, w, _ in spans if w not in ("build", "push"))
    parts["outside docker"] = max(0.0, took - covered((s, e) for s, e, _, _ in spans))
    return {k: round(v, 2) for k, v in parts.items()}


def timeline(stamped: str, spans: Sequence[tuple[float, float, str, str]]) -> str:
    """Each build's vertices, from and to (seconds since its docker command started)."""
    lines = []
    for start, end, word, target in spans:
        if word != "build":
            continue
        lines.append(f"{target}: docker build {end - start:.2f}s")
        for v in sorted(vertices(stamped), key=lambda v: (v.start, v.end)):
            if v.target == target:
                pulled = f" (pulled by +{v.pulled - start:.2f})" if v.pulled else ""
                state = f"CACHED{pulled}" if v.cached else ""
                lines.append(
                    f"  +{v.start - start:6.2f} +{v.end - start:6.2f}  {v.name[:90]} {state}"
                )
    return "\n".join(lines)


def command_spans(log: str) -> list[tuple[float, float, str, str]]:
    """(start, end, word, target) of each docker command in a timing log that the fresh
    engine's client wrote (``host_network_client``), in start order."""
    spans = []
    for line in log.splitlines():
        fields = line.split(maxsplit=3)
        if len(fields) >= 3:
            try:
                spans.append((float(fields[0]), float(fields[1]), fields[2], "".join(fields[3:])))
            except ValueError:
                continue
    return sorted(spans)


def covered(spans: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by the union of (start, end) intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def runs_of(values: Sequence[str]) -> str:
    """Per-run notes, once with "each run" when every run said the same."""
    if values and len(set(values)) == 1:
        return f"{values[0]} (each run)"
    return " / ".join(values)


def format_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


@dataclass
class Figure:
    """One line of the table: a figure, its runs, and what it compares."""

    name: str
    samples: list[float] = field(default_factory=list)
    side_a: list[float] = field(default_factory=list)  # seconds, buildlib's side
    side_b: list[float] = field(default_factory=list)  # seconds, the baseline
    label_a: str = ""
    label_b: str = ""
    note: str = ""
    error: str | None = None
    details: dict[str, object] = field(default_factory=dict)  # kept in last-run.json

    @property
    def stat(self) -> Stat:
        return Stat.of(self.samples)

    @property
    def value(self) -> float | None:
        return None if self.error else self.stat.median

    def compared(self) -> str:
        """The two sides' medians (or why the figure was not measured), and its note."""
        if self.error:
            compared = f"not measured: {self.error}"
        elif self.side_b:
            compared = (
                f"{self.label_a} {Stat.of(self.side_a).median:.2f} vs "
                f"{self.label_b} {Stat.of(self.side_b).median:.2f}"
            )
        elif self.side_a:
            compared = self.label_a
        else:
            compared = ""
        if self.note:
            compared = f"{compared}; {self.note}" if compared else self.note
        return compared


def table(figures: Sequence[Figure]) -> str:
    """The on-screen table: figure, median [min-max], target, verdict, and the two sides."""
    rows = [("figure", "median", "min", "max", "n", "target", "ok", "compared (median seconds)")]
    for figure in figures:
        stat = figure.stat
        comparison, target = TARGETS[figure.name]
        unit = UNITS.get(figure.name, "")
        verdict = meets(figure.name, figure.value)
        ok = {True: "yes", False: "NO", None: "-"}[verdict]
        compared = figure.compared()
        rows.append(
            (
                figure.name,
                format_seconds(stat.median if not figure.error else None),
                format_seconds(stat.minimum),
                format_seconds(stat.maximum),
                str(stat.count),
                f"{comparison} {target:g}{unit}",
                ok,
                compared,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * 26)
    return "\n".join(lines)


def markdown_table(figures: Sequence[Figure]) -> str:
    lines = [
        "| figure | median | min | max | runs | target | met | compared (median s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for figure in figures:
        stat = figure.stat
        comparison, target = TARGETS[figure.name]
        unit = UNITS.get(figure.name, "")
        verdict = {True: "yes", False: "**no**", None: "-"}[meets(figure.name, figure.value)]
        compared = figure.compared()
        lines.append(
            f"| `{figure.name}` | {format_seconds(figure.value)} | "
            f"{format_seconds(stat.minimum)} | {format_seconds(stat.maximum)} | "
            f"{stat.count} | {comparison} {target:g}{unit} | {verdict} | {compared} |"
        )
    return "\n".join(lines)


# --- running things ---------------------------------------------------------------------


class BenchError(Exception):
    """A measured command failed; the figure is reported as not measured."""


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def timed(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], what: str | None = None
) -> tuple[float, str]:
    """Run ``argv`` to completion; (wall seconds, combined output). Raises on failure."""
    started = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        tail = " | ".join(line for line in proc.stdout.strip().splitlines()[-6:])
        raise BenchError(f"{what or ' '.join(argv[:4])} exited {proc.returncode}: {tail}")
    return elapsed, proc.stdout


def quiet(argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)


def choose_docker() -> str:
    """$BUILDLIB_DOCKER, else /usr/bin/docker if it can build with BuildKit, else docker."""
    sys.path.insert(0, str(REPO))
    from buildlib.docker import detect

    chosen = os.environ.get("BUILDLIB_DOCKER")
    if chosen:
        return shutil.which(chosen) or chosen
    if os.path.exists("/usr/bin/docker") and detect("/usr/bin/docker").buildkit:
        return "/usr/bin/docker"
    return shutil.which("docker") or "docker"


class Bench:
    def __init__(self, docker: str, runs: int, work: Path) -> None:
        from buildlib.docker import detect

        self.docker = docker
        self.caps = detect(docker)
        self.runs = runs
        self.work = work
        self.session = uuid.uuid4().hex[:8]
        self.tag = f"bench-{self.session}"
        self.created_refs: set[str] = set()
        self.created_ids: set[str] = set()
        self.notes: list[str] = []
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BUILDLIB_", "TETRA_", "DOCKERHUB_", "GITHUB_"))
        }
        if base.pop("PYTHONDONTWRITEBYTECODE", None):
            # Without bytecode, every invocation recompiles its ~150 modules (+0.2 s): not
            # how developers or CI run it. The bench's own warm-up writes the caches.
            self.notes.append(
                "PYTHONDONTWRITEBYTECODE was set in this shell; the measured "
                "commands ran without it"
            )
        self.env = {
            **base,
            "BUILDLIB_DOCKER": docker,
            "NO_COLOR": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH")])),
        }
        self.plain_env = {**self.env, "DOCKER_BUILDKIT": "1"}

    # -- helpers -----------------------------------------------------------------------

    def invoke(
        self,
        *args: str,
        cwd: Path = REPO,
        env: Mapping[str, str] | None = None,
    ) -> tuple[float, str]:
        return timed(
            [sys.executable, "-m", "invoke", *args],
            cwd=cwd,
            env=env or self.env,
            what=f"invoke {' '.join(args[:3])}",
        )

    def docker_build(
        self, dockerfile: str, reference: str, *, cwd: Path, extra: Sequence[str] = ()
    ) -> float:
        """The Makefile's way: one plain `docker build` (BuildKit), output like invoke's."""
        argv = [
            self.docker,
            "build",
            "--progress",
            "plain",
            "--file",
            dockerfile,
            "--tag",
            reference,
            *extra,
            ".",
        ]
        seconds, _ = timed(argv, cwd=cwd, env=self.plain_env, what=f"docker build {dockerfile}")
        self.remember(reference)
        return seconds

    def remember(self, *references: str) -> None:
        for reference in references:
            self.created_refs.add(reference)
            proc = quiet([self.docker, "image", "inspect", "--format", "{{.Id}}", reference])
            if proc.returncode == 0 and proc.stdout.strip():
                self.created_ids.add(proc.stdout.strip())

    def images_of(self, root: Path) -> list[tuple[str, str, str]]:
        """(name, repository, dockerfile) of every image configured at ``root``."""
        from buildlib import config as config_module

        config = config_module.load(root)
        return [(i.name, i.repository, i.dockerfile) for i in config.images]

    def alternate(
        self, a: Callable[[int], float], b: Callable[[int], float], figure: Figure
    ) -> None:
        for run in range(self.runs):
            figure.side_a.append(a(run))
            figure.side_b.append(b(run))
            say(
                f"  {figure.name} run {run + 1}/{self.runs}: {figure.label_a} "
                f"{figure.side_a[-1]:.2f}s, {figure.label_b} {figure.side_b[-1]:.2f}s"
            )

    def cleanup(self) -> None:
        """Remove the tags this run gave, then those of its images left without any tag
        (an image someone else tagged is never touched; never --force)."""
        refs = sorted(self.created_refs)
        for chunk in range(0, len(refs), 50):
            quiet([self.docker, "image", "rm", *refs[chunk : chunk + 50]])
        for image_id in sorted(self.created_ids):
            tags = quiet(
                [self.docker, "image", "inspect", "--format", "{{len .RepoTags}}", image_id]
            )
            if tags.returncode == 0 and tags.stdout.strip() == "0":
                quiet([self.docker, "image", "rm", image_id])

    # -- the figures -------------------------------------------------------------------

    def warm_up(self) -> None:
        """Bytecode caches written, the base images read once, this repo's layers cached."""
        say("warm-up: invoke --list, invoke build --all")
        self.invoke("--list")
        self.invoke("build", "--all", "--tag", self.tag)
        self.remember(*(f"{repo}:{self.tag}" for _, repo, _ in self.images_of(REPO)))

    def cold(self) -> Figure:
        figure = Figure(
            "cold_ratio",
            label_a="invoke build --all --no-cache",
            label_b="docker build --no-cache x3",
        )
        images = self.images_of(REPO)
        tag_a, tag_b = f"{self.tag}-cold", f"{self.tag}-cold-plain"

        def a(_: int) -> float:
            seconds, _out = self.invoke("build", "--all", "--no-cache", "--tag", tag_a)
            self.remember(*(f"{repo}:{tag_a}" for _, repo, _ in images))
            return seconds

        def b(_: int) -> float:
            return sum(
                self.docker_build(dockerfile, f"{repo}:{tag_b}", cwd=REPO, extra=["--no-cache"])
                for _, repo, dockerfile in images
            )

        self.alternate(a, b, figure)
        figure.samples = ratios(figure.side_a, figure.side_b)
        return figure

    def independent(self) -> Figure:
        figure = Figure("independent_ratio", label_a="invoke build", label_b="docker build x3")
        images = self.images_of(FIXTURE)
        tag_a, tag_b = f"{self.tag}-ind", f"{self.tag}-ind-plain"

        def a(_: int) -> float:
            nonce = uuid.uuid4().hex
            seconds, _out = self.invoke(
                "build", "--tag", tag_a, "--build-arg", f"CACHE_NONCE={nonce}", cwd=FIXTURE
            )
            self.remember(*(f"{repo}:{tag_a}" for _, repo, _ in images))
            return seconds

        def b(_: int) -> float:
            nonce = uuid.uuid4().hex
            return sum(
                self.docker_build(
                    dockerfile,
                    f"{repo}:{tag_b}",
                    cwd=FIXTURE,
                    extra=["--build-arg", f"CACHE_NONCE={nonce}"],
                )
                for _, repo, dockerfile in images
            )

        self.alternate(a, b, figure)
        figure.samples = ratios(figure.side_a, figure.side_b)
        return figure

    def noop(self) -> Figure:
        figure = Figure(
            "noop_overhead_s", label_a="invoke build --all", label_b="cached docker build x3"
        )
        images = self.images_of(REPO)
        tag_b = f"{self.tag}-plain"
        for _, repo, dockerfile in images:  # warm the plain side too
            self.docker_build(dockerfile, f"{repo}:{tag_b}", cwd=REPO)

        def a(_: int) -> float:
            return self.invoke("build", "--all", "--tag", self.tag)[0]

        def b(_: int) -> float:
            return sum(
                self.docker_build(dockerfile, f"{repo}:{tag_b}", cwd=REPO)
                for _, repo, dockerfile in images
            )

        self.alternate(a, b, figure)
        figure.samples = differences(figure.side_a, figure.side_b)
        return figure

    def clone(
        self, name: str, *, only: Sequence[str] | None = None, pyproject: Path | None = None
    ) -> Path:
        """A committed, tagged copy of this repository (tests/integration's make_repo);
        ``only`` keeps those images in its [tool.buildlib]; ``pyproject`` replaces its
        pyproject.toml, locked here with ``uv lock``."""
        root = self.work / name
        root.mkdir(parents=True)
        for item in COPIED:
            if pyproject is not None and item in ("pyproject.toml", "uv.lock"):
                continue
            source = REPO / item
            if source.is_dir():
                shutil.copytree(source, root / item, ignore=shutil.ignore_patterns("__pycache__"))
            elif source.exists():
                shutil.copy2(source, root / item)
        (root / "tasks.py").write_text(TASKS_PY)
        if pyproject is not None:
            shutil.copy2(pyproject, root / "pyproject.toml")
            uv = shutil.which("uv")
            if uv is None:
                raise BenchError("uv not found: it locks the fixture's dependencies")
            timed([uv, "lock", "--quiet"], cwd=root, env=os.environ, what="uv lock")
        if only is not None:
            text = (root / "pyproject.toml").read_text()
            text = re.sub(
                r"(?m)^default-group = .*$", "default-group = " + json.dumps(list(only)), text
            )
            for image in re.findall(r"(?m)^\[tool\.buildlib\.images\.([\w-]+)\]$", text):
                if image not in only:
                    text = re.sub(
                        rf"(?ms)^\[tool\.buildlib\.images\.{image}\]\n.*?(?=^\[|\Z)", "", text
                    )
            (root / "pyproject.toml").write_text(text)
        version = re.search(r'(?m)^version = "([^"]+)"', (root / "pyproject.toml").read_text())
        env = {**os.environ, **GIT_ENV}
        for argv in (
            ["git", "init", "-q", "-b", "main"],
            ["git", "add", "-A"],
            ["git", "commit", "-q", "-m", "chore(main): bench copy"],
            ["git", "tag", f"v{version.group(1) if version else '0.0.0'}"],
        ):
            subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)
        return root

    def code_change(self) -> Figure:
        figure = Figure(
            "code_change_ratio", label_a="rebuild after a 1-line change", label_b="no-op rebuild"
        )
        root = self.clone("code-change")
        images = self.images_of(root)
        tag = f"{self.tag}-code"
        refs = [f"{repo}:{tag}" for _, repo, _ in images]
        self.invoke("build", "--all", "--tag", tag, cwd=root)  # warm: deps from the cache
        self.remember(*refs)
        handler = root / "worker" / "handler.py"
        counts = []
        for run in range(self.runs):
            with handler.open("a", encoding="utf-8") as stream:
                stream.write(f"# bench edit {uuid.uuid4().hex}\n")
            rebuild, output = self.invoke("build", "--all", "--tag", tag, cwd=root)
            self.remember(*refs)
            noop, _ = self.invoke("build", "--all", "--tag", tag, cwd=root)
            figure.side_a.append(rebuild)
            figure.side_b.append(noop)
            steps = rebuilt_steps(output)
            counts.append(sum(len(v) for v in steps.values()))
            shown = ", ".join(f"{image}: {'; '.join(s)}" for image, s in sorted(steps.items()))
            say(
                f"  code_change run {run + 1}/{self.runs}: rebuild {rebuild:.2f}s, no-op "
                f"{noop:.2f}s; steps run again: {shown or 'none'}"
            )
        figure.samples = ratios(figure.side_a, figure.side_b)
        last = rebuilt_steps(output)
        per_image = "; ".join(
            f"{image}: {', '.join(steps)}" for image, steps in sorted(last.items())
        )
        figure.note = (
            f"steps run again: {Stat.of(counts).median:.0f} in {len(images)} images"
            f" ({per_image or 'none'})"
        )
        return figure

    def release(self) -> Figure:
        figure = Figure(
            "release_ratio", label_a="invoke release --image cpu (4 tags)", label_b="docker push"
        )
        sys.path.insert(0, str(REPO))
        from tests.support.registry_server import (
            RegistryServer,
            docker_login_config,
            tools_missing,
        )

        missing = tools_missing()
        if missing:
            raise BenchError(f"{', '.join(missing)} not installed (bash .ci/setup-engine)")
        root = self.clone("release", only=["cpu"])
        version = re.search(
            r'(?m)^version = "([^"]+)"', (root / "pyproject.toml").read_text()
        ).group(1)  # type: ignore[union-attr]
        self.invoke("build-cpu", "--tag", f"{self.tag}-rel", cwd=root)  # warm: same image id
        self.remember(f"runpod/tetra-rp-cpu:{self.tag}-rel")
        uploads = []
        for run in range(self.runs):
            password = "pw-" + secrets.token_hex(12)
            with RegistryServer(self.work / f"registries-{run}", REGISTRY_USER, password) as a:
                env = {
                    **self.env,
                    "BUILDLIB_REGISTRY": a.host,
                    "DOCKERHUB_USERNAME": REGISTRY_USER,
                    "DOCKERHUB_TOKEN": password,
                    "DOCKER_CONFIG": str(self.work / f"docker-config-a-{run}"),
                }
                seconds, _ = self.invoke("release", "--image", "cpu", cwd=root, env=env)
                full = f"{a.host}/runpod/tetra-rp-cpu:{version}"
                self.remember(full)
                tags = sorted(a.tags("runpod/tetra-rp-cpu"))
                if len(tags) != 4:
                    raise BenchError(f"release wrote {tags}, expected 4 tags")
                uploads_a = _uploads(a.requests())
            figure.side_a.append(seconds)
            with RegistryServer(self.work / f"registries-{run}", REGISTRY_USER, password) as b:
                config = docker_login_config(
                    self.work, b.host, REGISTRY_USER, password, self.docker
                )
                single = f"{b.host}/bench/single-push:{version}"
                subprocess.run([self.docker, "tag", full, single], check=True, capture_output=True)
                self.created_refs.add(single)
                push_env = {**self.env, "DOCKER_CONFIG": str(config)}
                seconds, _ = timed(
                    [self.docker, "push", single], cwd=REPO, env=push_env, what="docker push"
                )
                uploads_b = _uploads(b.requests())
            figure.side_b.append(seconds)
            uploads.append((uploads_a, uploads_b))
            say(
                f"  release run {run + 1}/{self.runs}: release {figure.side_a[-1]:.2f}s "
                f"({', '.join(tags)}; {uploads_a} blob uploads), push {seconds:.2f}s "
                f"({uploads_b} blob uploads)"
            )
            quiet([self.docker, "image", "rm", full, single])
        figure.samples = ratios(figure.side_a, figure.side_b)
        same = all(x == y for x, y in uploads)
        figure.note = (
            "floating tags uploaded nothing: same blob uploads as the single push"
            if same
            else f"blob uploads release/push: {uploads}"
        )
        return figure

    def fresh_runner(self) -> Figure:
        """A one-line change in worker/, committed, through the image jobs of CI on fresh
        runners: ``invoke build --all`` (docker-test, docker-test-lb: build and load for the
        smoke tests) then ``invoke push --tag T --sha-tag`` (docker-main-*), each on a new
        engine with an empty build cache, reading the cache the last push wrote / the same
        without it. Every build writes its cache too, as in CI (``--cache-to type=inline``).
        The breakdown of each job's time (BuildKit's progress, the docker commands' own
        timings) goes to the table's note and to last-run.json."""
        figure = Figure(
            "fresh_runner_ratio",
            label_a="CI image jobs on fresh engines, --cache-from the last push",
            label_b="the same, no cache",
        )
        sys.path.insert(0, str(REPO))
        from tests.support.registry_server import (
            RegistryServer,
            docker_login_config,
            tools_missing,
        )

        missing = tools_missing()
        if missing:
            raise BenchError(f"{', '.join(missing)} not installed (bash .ci/setup-engine)")
        root = self.clone("fresh-runner", pyproject=FRESH_FIXTURE / "pyproject.toml")
        packages = len(re.findall(r"(?m)^\[\[package\]\]$", (root / "uv.lock").read_text()))
        images = self.images_of(root)
        pushed, tag = f"{self.tag}-fresh-push", f"{self.tag}-fresh"
        password = "pw-" + secrets.token_hex(12)
        logs = WORK / "fresh-runner"  # every job's output and its commands' timings
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        # Every build here, the push's too, runs on the host's network: the network mode is
        # part of a RUN step's cache key, so the runner that pushed must use the same one.
        client = self.work / "docker-host-network"
        client.write_text(host_network_client(self.docker))
        client.chmod(0o755)
        with RegistryServer(self.work / "fresh-registry", REGISTRY_USER, password) as registry:
            credentials = {
                "BUILDLIB_REGISTRY": registry.host,
                "DOCKERHUB_USERNAME": REGISTRY_USER,
                "DOCKERHUB_TOKEN": password,
            }
            push_env = {
                **self.env,
                **credentials,
                "BUILDLIB_DOCKER": str(client),
                "DOCKER_CONFIG": str(self.work / "docker-config-fresh-push"),
            }
            say("  the last push (first engine): invoke push --cache-to type=inline (every image)")
            self.invoke(
                "push",
                "--tag",
                pushed,
                "--cache-to",
                "type=inline",
                cwd=root,
                env=push_env,
            )
            caches = [f"{registry.host}/{repo}:{pushed}" for _, repo, _ in images]
            self.remember(*caches, *(f"{repo}:{pushed}" for _, repo, _ in images))
            with (root / "worker" / "handler.py").open("a", encoding="utf-8") as stream:
                stream.write(f"# bench edit {uuid.uuid4().hex}\n")  # the one-line change
            subprocess.run(  # CI builds a commit (and --sha-tag names it)
                ["git", "commit", "-q", "-am", "fix(worker): a one-line change"],
                cwd=root,
                env={**os.environ, **GIT_ENV},
                check=True,
                capture_output=True,
            )
            try:
                login = docker_login_config(
                    self.work, registry.host, REGISTRY_USER, password, self.docker
                )
            except AssertionError as exc:
                raise BenchError(str(exc)) from None
            bases = base_images((root / dockerfile).read_text() for _, _, dockerfile in images)
            # A runner pulls its base images from a registry (untimed here: the same on both
            # sides); its engine then knows their layers' digests and sources, so a push
            # mounts them instead of uploading them. So the bases go to the registry once,
            # and each new engine pulls them from there.
            mirror = {}
            login_env = {**self.env, "DOCKER_CONFIG": str(login)}
            for index, base in enumerate(bases):
                copy = f"{registry.host}/bench-base/base{index}:{self.tag}"
                for argv in (["tag", base, copy], ["push", "--quiet", copy]):
                    timed([self.docker, *argv], cwd=REPO, env=login_env, what=f"docker {argv[0]}")
                self.created_refs.add(copy)
                mirror[base] = copy
            cache_flags = [f"--cache-from=type=registry,ref={ref}" for ref in caches]
            jobs = {
                "build": ("build", "--all", "--tag", tag),
                "push": ("push", "--tag", tag, "--sha-tag"),
            }
            seconds: dict[tuple[str, str], list[float]] = {}
            parts: dict[tuple[str, str], list[dict[str, float]]] = {}
            steps: dict[str, list[int]] = {"a": [], "b": []}
            shown: dict[str, str] = {}
            traffic: dict[tuple[str, str], list[str]] = {}
            layer: list[str] = []  # what the gpu image adds to its base, per uncached build
            with FreshEngine(self.docker, self.work / "fresh-engine") as engine:
                engine.load(bases, mirror, login_env)

                def job(side: str, kind: str, run: int) -> float:
                    engine.reset()  # untimed: every job gets a new runner
                    engine.used = True
                    times = logs / f"{side}-{kind}-{run + 1}.times"
                    timing_client = self.work / f"docker-{side}-{kind}-{run + 1}"
                    timing_client.write_text(host_network_client(self.docker, times))
                    timing_client.chmod(0o755)
                    env = {
                        **self.env,
                        "DOCKER_HOST": engine.host,
                        "BUILDLIB_DOCKER": str(timing_client),
                        "DOCKER_CONFIG": str(login),
                        **(credentials if kind == "push" else {}),
                    }
                    flags = [*(cache_flags if side == "a" else ()), "--cache-to", "type=inline"]
                    before = registry.requests()
                    pulled = blob_pulls(registry.log_path.read_text(errors="replace"))
                    took, output = self.invoke(*jobs[kind], *flags, cwd=root, env=env)
                    (logs / f"{side}-{kind}-{run + 1}.log").write_text(output)
                    after = blob_pulls(registry.log_path.read_text(errors="replace"))
                    uploads = _uploads(registry.requests()[len(before) :])
                    traffic.setdefault((side, kind), []).append(
                        f"{after[0] - pulled[0]} pulled ({(after[1] - pulled[1]) / 1e6:.0f} MB)"
                        + (f", {uploads} uploaded" if kind == "push" else "")
                    )
                    spans = command_spans(times.read_text() if times.exists() else "")
                    stamped = Path(f"{times}.lines")
                    stamped_text = stamped.read_text() if stamped.exists() else ""
                    found = job_parts(stamped_text, spans, took)
                    (logs / f"{side}-{kind}-{run + 1}.timeline").write_text(
                        timeline(stamped_text, spans) + "\n"
                    )
                    parts.setdefault((side, kind), []).append(found)
                    seconds.setdefault((side, kind), []).append(took)
                    rebuilt = rebuilt_steps(output)
                    if kind == "build" and side == "b":  # the dependency layer, rebuilt
                        layer.append(_mb(engine, f"{images[0][1]}:{tag}", bases[0]))
                    if kind == "build":
                        steps[side].append(sum(len(v) for v in rebuilt.values()))
                        shown[side] = "; ".join(
                            f"{image}: {', '.join(s_)}" for image, s_ in sorted(rebuilt.items())
                        )
                    say(
                        f"  {side} {kind} {took:.2f}s: {traffic[(side, kind)][-1]}; "
                        + ", ".join(f"{k} {v:.1f}" for k, v in found.items())
                    )
                    return took

                self.alternate(
                    lambda run: job("a", "build", run) + job("a", "push", run),
                    lambda run: job("b", "build", run) + job("b", "push", run),
                    figure,
                )
        figure.samples = ratios(figure.side_a, figure.side_b)
        medians = {
            kind: Stat.of(ratios(seconds[("a", kind)], seconds[("b", kind)])).median or 0.0
            for kind in jobs
        }
        breakdown = {
            f"{side} {kind}": {
                part: round(statistics.median(p[part] for p in found), 2) for part in found[0]
            }
            for (side, kind), found in parts.items()
        }
        figure.details = {
            "breakdown": breakdown,
            "seconds": {f"{side} {kind}": v for (side, kind), v in seconds.items()},
            "registry": {f"{side} {kind}": v for (side, kind), v in traffic.items()},
            "logs": str(logs),
        }
        for key, medians_of in breakdown.items():
            say(
                f"  median breakdown, {key}: "
                + ", ".join(f"{k} {v}" for k, v in medians_of.items())
            )
        figure.note = (
            f"per job: build (docker-test*) {medians['build']:.2f}"
            f" ({Stat.of(seconds[('a', 'build')]).median:.2f} vs"
            f" {Stat.of(seconds[('b', 'build')]).median:.2f}),"
            f" push (docker-main-*) {medians['push']:.2f}"
            f" ({Stat.of(seconds[('a', 'push')]).median:.2f} vs"
            f" {Stat.of(seconds[('b', 'push')]).median:.2f});"
            f" {len(images)} images, dependency layer {layer[-1] if layer else '?'}"
            f" ({packages - 1} locked packages);"
            f" steps run with the cache: {Stat.of(steps['a']).median:.0f} ({shown['a']}),"
            f" without: {Stat.of(steps['b']).median:.0f}; registry per run with the cache:"
            f" build {runs_of(traffic[('a', 'build')])}; push {runs_of(traffic[('a', 'push')])};"
            f" without: push {runs_of(traffic[('b', 'push')])}"
        )
        return figure

    def wall(self, name: str, *args: str) -> Figure:
        figure = Figure(name, label_a=f"invoke {' '.join(args)}")
        if name == "doctor_s":
            listed = self.invoke("--list")[1]
            if not re.search(r"(?m)^\s+doctor\b", listed):
                figure.error = "`invoke doctor` is not a task yet"
                return figure
        runs = max(self.runs, 5)
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "invoke", *args],
                cwd=REPO,
                env=self.env,
                capture_output=True,
                check=False,
            )
            figure.samples.append(time.perf_counter() - started)
        figure.side_a = list(figure.samples)
        if name == "doctor_s":
            figure.note = "offline (no --for): exit status not counted"
        return figure


def _uploads(requests: Sequence[tuple[str, str, int]]) -> int:
    """Blob uploads started (POST .../blobs/uploads/ without a cross-repository mount)."""
    return sum(
        1
        for method, path, status in requests
        if method == "POST" and "/blobs/uploads/" in path and "mount=" not in path and status == 202
    )


class FreshEngine:
    """A second ``dockerd``: a fresh CI runner, with the base images and nothing else.
    :meth:`reset` makes it new again: a restart on an empty data root (``docker builder
    prune`` is not enough: BuildKit keeps the blobs it pulled, and the next build would not
    download them). Everything it makes stays under ``root``; :meth:`stop` (also on failure
    and Ctrl-C) stops it by its pid, unmounts what is left under ``root`` and deletes its
    bridge."""

    def __init__(self, docker: str, root: Path) -> None:
        self.docker = docker
        self.root = root
        self.bridge = f"bfresh{secrets.token_hex(3)}"  # 12 characters (Linux allows 15)
        self.address = ""
        self.host = f"unix://{root / 'docker.sock'}"
        self.process: subprocess.Popen[bytes] | None = None
        self.bridge_made = False
        self.bases: list[str] = []
        self.mirror: dict[str, str] = {}  # base image -> its copy in a registry
        self.pull_env: dict[str, str] = {}
        self.used = False  # built on since it was last made new
        self.dockerd = shutil.which("dockerd") or "dockerd"

    def client(self, *args: str) -> list[str]:
        """A docker command for this engine only (``--host``, whatever DOCKER_HOST says)."""
        return [self.docker, "--host", self.host, *args]

    def start(self) -> None:
        if shutil.which("dockerd") is None or shutil.which("ip") is None:
            raise BenchError("dockerd or ip not found (bash .ci/setup-engine)")
        if os.geteuid() != 0:
            raise BenchError("a second engine needs root")
        if os.path.exists("/run/containerd/containerd.sock"):
            # dockerd would share that containerd with the first engine instead of its own
            raise BenchError("a system containerd runs: a second engine would share it")
        if f" {self.bridge}:" in quiet(["ip", "-o", "link", "show"]).stdout:
            raise BenchError(f"bridge {self.bridge} exists already")
        routes = quiet(["ip", "-4", "route", "show", "table", "all"]).stdout
        subnet = pick_subnet(routes, secrets.randbelow(256))
        self.address = f"{next(subnet.hosts())}/{subnet.prefixlen}"
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "daemon.json").write_text("{}\n")
        self._bridge()
        self._launch()
        say(f"  second engine: dockerd pid {self.pid}, bridge {self.bridge} {self.address}")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def _bridge(self) -> None:
        if f" {self.bridge}:" in quiet(["ip", "-o", "link", "show"]).stdout:
            return
        self.bridge_made = True
        for argv in (
            ["ip", "link", "add", self.bridge, "type", "bridge"],
            ["ip", "addr", "add", self.address, "dev", self.bridge],
            ["ip", "link", "set", self.bridge, "up"],
        ):
            proc = quiet(argv)
            if proc.returncode != 0:
                raise BenchError(f"{' '.join(argv)}: {proc.stderr.strip()}")

    def _launch(self, timeout: float = 60.0) -> None:
        self._bridge()  # still there after a restart, unless dockerd removed it
        with (self.root / "dockerd.log").open("ab") as log:
            self.process = subprocess.Popen(
                dockerd_argv(self.dockerd, self.root, self.bridge),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches the bench, which stops it in order
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the second dockerd exited at start: {self.log_tail()}")
            try:
                if quiet(self.client("info", "--format", "{{.ID}}"), timeout=15).returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.5)
        raise BenchError(f"the second dockerd did not answer within {timeout:.0f}s")

    def log_tail(self, lines: int = 4) -> str:
        path = self.root / "dockerd.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def load(
        self,
        references: Sequence[str],
        mirror: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """The base images, then one small build, so that a measured build does not pay
        the builder's start. With ``mirror`` (base -> its copy in a registry), each is
        pulled from there (``env``: the login) and tagged with its public name: a runner's
        engine knows where the layers of an image it pulled came from, and ``docker push``
        mounts them from there instead of uploading them again. Without, they are copied
        from the first engine (``docker save``, ``docker load``)."""
        if mirror is not None:
            self.mirror, self.pull_env = dict(mirror), dict(env or os.environ)
        self.bases = list(references)
        pristine = self.root / "pristine"
        if self.mirror:
            # reset() starts a new runner on a copy of the data root kept below
            if not pristine.exists():
                for reference in references:
                    copy = self.mirror[reference]
                    for argv in (("pull", "--quiet", copy), ("tag", copy, reference)):
                        done = quiet(self.client(*argv), env=self.pull_env)
                        if done.returncode != 0:
                            raise BenchError(f"base image {copy}: {done.stderr.strip()[-300:]}")
                # The engine as a runner has it after pulling its bases, kept: the next new
                # runners start from a copy of it (a pull of the bases takes a minute here).
                self._halt(keep=True)
                copied = quiet(["cp", "-a", str(self.root / "data"), str(pristine)])
                if copied.returncode != 0:
                    raise BenchError(f"second engine: data root not copied: {copied.stderr[-300:]}")
                self._launch()
        else:
            archive = self.root / "bases.tar"
            if not archive.exists():
                saved = quiet([self.docker, "save", "--output", str(archive), *references])
                if saved.returncode != 0:
                    raise BenchError(f"base images not saved: {saved.stderr.strip()[-300:]}")
            loaded = quiet(self.client("load", "--quiet", "--input", str(archive)))
            if loaded.returncode != 0:
                raise BenchError(f"base images not loaded: {loaded.stderr.strip()[-300:]}")
        warm = subprocess.run(
            self.client("build", "--quiet", "-"),
            input=f"FROM {self.bases[0]}\nRUN true\n",
            env={**os.environ, "DOCKER_BUILDKIT": "1"},
            capture_output=True,
            text=True,
            check=False,
        )
        if warm.returncode != 0:
            raise BenchError(f"second engine: first build failed: {warm.stderr.strip()[-300:]}")

    def reset(self) -> None:
        """A new runner: this engine restarted on an empty data root (or a copy of the one
        it had with only its base images pulled), the base images loaded again (it is the
        bench's own engine: nobody else's cache is touched)."""
        if not self.used:
            return
        self._halt()
        pristine = self.root / "pristine"
        if pristine.exists():
            copied = quiet(["cp", "-a", str(pristine), str(self.root / "data")])
            if copied.returncode != 0:
                raise BenchError(f"second engine: data root not copied: {copied.stderr[-300:]}")
        self._launch()
        self.load(self.bases)
        self.used = False

    def _descendants(self, pid: int) -> list[int]:
        found = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found += [child, *self._descendants(child)]
        return found

    def _halt(self, keep: bool = False) -> None:
        """Stop dockerd by its pid, unmount what is left under root, empty its data (unless
        ``keep``)."""
        if self.process is not None:
            children = self._descendants(self.process.pid)  # its containerd and shims
            self.process.terminate()
            try:
                self.process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            for child in children:  # left over only if dockerd was killed: still ours?
                try:
                    cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                    if str(self.root).encode() in cmdline:
                        os.kill(child, signal.SIGKILL)
                except (OSError, ProcessLookupError):
                    pass
            self.process = None
        for point in mounts_under(Path("/proc/self/mountinfo").read_text(), self.root):
            if quiet(["umount", point]).returncode != 0:
                quiet(["umount", "--lazy", point])
        if mounts_under(Path("/proc/self/mountinfo").read_text(), self.root):
            raise BenchError(f"second engine: mounts left under {self.root}")
        if keep:
            return
        for part in ("data", "exec"):  # its images and layers: ~1 GB (the log stays)
            shutil.rmtree(self.root / part, ignore_errors=True)

    def stop(self) -> None:
        try:
            self._halt()
        finally:
            if self.bridge_made:
                quiet(["ip", "link", "delete", self.bridge])
                self.bridge_made = False
            (self.root / "bases.tar").unlink(missing_ok=True)
            shutil.rmtree(self.root / "pristine", ignore_errors=True)

    def __enter__(self) -> FreshEngine:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def base_images(dockerfiles: Iterable[str]) -> list[str]:
    """The images the Dockerfiles start from or copy from (``ARG BASE_IMAGE=`` defaults,
    literal ``FROM``s, ``COPY --from=``), first-seen order."""
    found: dict[str, None] = {}
    for text in dockerfiles:
        for match in re.finditer(
            r"(?im)^\s*(?:ARG\s+\w*IMAGE\w*=(\S+)|FROM\s+(?!\$)(\S+)|COPY\s+--from=(\S+))",
            text,
        ):
            reference = next(group for group in match.groups() if group)
            if "$" not in reference and reference != "scratch":
                found.setdefault(reference, None)
    return list(found)


def _mb(engine: FreshEngine, image: str, base: str) -> str:
    """How much ``image`` adds to ``base`` on the engine, e.g. "312 MB"."""
    sizes = []
    for reference in (image, base):
        proc = quiet(engine.client("image", "inspect", "--format", "{{.Size}}", reference))
        if proc.returncode != 0 or not proc.stdout.strip().isdigit():
            return "size unknown"
        sizes.append(int(proc.stdout.strip()))
    return f"{(sizes[0] - sizes[1]) / 1e6:.0f} MB"


# --- the machine ----------------------------------------------------------------------


def machine(docker: str, caps_text: str) -> dict[str, str]:
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    server = quiet([docker, "version", "--format", "{{.Server.Version}}"]).stdout.strip()
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "docker": docker,
        "builder": caps_text,
        "engine": server or "?",
    }


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help=f"runs per figure (default {RUNS}, fresh_runner_ratio {FRESH_RUNS}; doctor_s, "
        "list_s and noop_overhead_s use at least 5)",
    )
    parser.add_argument("--only", default="", help="comma-separated figures to measure")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a measured figure misses its target"
    )
    args = parser.parse_args(argv)
    wanted = [n.strip() for n in args.only.split(",") if n.strip()] or list(FIGURES)
    unknown = set(wanted) - set(FIGURES)
    if unknown:
        parser.error(
            f"unknown figure(s): {', '.join(sorted(unknown))}; choose from {', '.join(FIGURES)}"
        )

    docker = choose_docker()
    work = Path(tempfile.mkdtemp(prefix="buildlib-bench-"))
    bench = Bench(docker, max(1, args.runs or RUNS), work)
    info = machine(docker, bench.caps.describe())
    command = "uv run python bench/run.py" + (f" --runs {args.runs}" if args.runs else "")
    if args.only:
        command += f" --only {args.only}"
    # A cancelled run (SIGTERM) unwinds like Ctrl-C: every `finally` runs, so the second
    # engine of fresh_runner_ratio is stopped and its bridge deleted.
    previous = signal.signal(signal.SIGTERM, _terminated)
    say(
        f"{info['date']}: {info['cpus']} CPUs, {info['memory']}, engine {info['engine']}, "
        f"{info['builder']} ({docker}); session {bench.session}"
    )
    started = time.perf_counter()
    results: dict[str, Figure] = {}
    steps: list[tuple[str, Callable[[], Figure]]] = [
        ("list_s", lambda: bench.wall("list_s", "--list")),
        ("doctor_s", lambda: bench.wall("doctor_s", "doctor")),
        ("noop_overhead_s", bench.noop),
        ("cold_ratio", bench.cold),
        ("independent_ratio", bench.independent),
        ("code_change_ratio", bench.code_change),
        ("release_ratio", bench.release),
        ("fresh_runner_ratio", bench.fresh_runner),
    ]
    try:
        bench.warm_up()
        for name, measure in steps:
            if name not in wanted:
                continue
            say(f"{name} ...")
            runs_before = bench.runs
            if name == "noop_overhead_s":
                bench.runs = max(bench.runs, 5)
            if name == "fresh_runner_ratio" and args.runs is None:
                bench.runs = FRESH_RUNS
            try:
                results[name] = measure()
            except (BenchError, subprocess.CalledProcessError, OSError, RuntimeError) as exc:
                results[name] = Figure(name, error=str(exc)[:300])
                say(f"  {name} not measured: {exc}")
            finally:
                bench.runs = runs_before
    except BenchError as exc:
        say(f"warm-up failed: {exc}")
    finally:
        bench.cleanup()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    figures = [results.get(name) or Figure(name, error="not selected (--only)") for name in FIGURES]
    elapsed = time.perf_counter() - started
    report = {
        "machine": info,
        "command": command,
        "seconds": round(elapsed, 1),
        "notes": bench.notes,
        "figures": {
            f.name: {
                "median": f.value,
                "min": f.stat.minimum,
                "max": f.stat.maximum,
                "runs": f.stat.count,
                "a": f.side_a,
                "b": f.side_b,
                "compared": [f.label_a, f.label_b],
                "note": f.note,
                "error": f.error,
                **({"details": f.details} if f.details else {}),
            }
            for f in figures
        },
    }
    WORK.mkdir(exist_ok=True)
    (WORK / "last-run.json").write_text(json.dumps(report, indent=2) + "\n")
    (WORK / "last-run.md").write_text(markdown_table(figures) + "\n")
    print()
    print(
        f"machine: {info['cpus']} CPUs, {info['memory']} RAM, {info['os']}; docker engine "
        f"{info['engine']}, {info['builder']}; python {info['python']}; {info['date']}"
    )
    print(f"command: {command}   ({elapsed:.0f} s; details in bench/.work/last-run.json)")
    for note in bench.notes:
        print(f"note: {note}")
    print()
    print(table(figures))
    print()
    print(json_line({f.name: f.value for f in figures}))
    missed = [f.name for f in figures if meets(f.name, f.value) is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
