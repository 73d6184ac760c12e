"""The benchmark's pure parts, without docker: statistics, targets, the JSON last line (exactly
the figures' keys), the step counter that shows what a code change rebuilt, the fixture's
independence, and that docs/performance.md shows the command and a matching JSON line."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from buildlib import config as config_module
from buildlib.engine import Capabilities
from buildlib.flags import ImageFlags
from buildlib.options import options_for
from buildlib.plan import dockerfile_steps, make_plan

if sys.version_info >= (3, 11):  # noqa: UP036 - the project supports 3.10
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "bench" / "fixtures" / "independent"
FRESH_FIXTURE = ROOT / "bench" / "fixtures" / "fresh-runner"
KEYS = [
    "cold_ratio",
    "independent_ratio",
    "noop_overhead_s",
    "code_change_ratio",
    "release_ratio",
    "doctor_s",
    "list_s",
    "fresh_runner_ratio",
]


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


bench = load_bench()


# --- statistics ---------------------------------------------------------------------------


def test_median_min_max() -> None:
    stat = bench.Stat.of([3.0, 1.0, 2.0])
    assert (stat.median, stat.minimum, stat.maximum, stat.count) == (2.0, 1.0, 3.0, 3)
    assert bench.Stat.of([1, 2, 3, 10]).median == 2.5
    assert bench.Stat.of([]) == bench.Stat(None, None, None, 0)


def test_ratios_and_differences_pair_the_runs() -> None:
    assert bench.ratios([2.0, 3.0], [4.0, 3.0]) == [0.5, 1.0]
    assert bench.differences([1.5, 1.0], [1.0, 0.25]) == [0.5, 0.75]
    with pytest.raises(ValueError):
        bench.ratios([1.0], [1.0, 2.0])


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("cold_ratio", 1.0, True),
        ("cold_ratio", 1.01, False),
        ("independent_ratio", 0.75, True),
        ("noop_overhead_s", 0.31, False),
        ("code_change_ratio", 2.9, True),
        ("release_ratio", 1.3, True),
        ("doctor_s", 1.0, False),  # strictly below 1 s
        ("list_s", 0.49, True),
        ("list_s", None, None),
        ("fresh_runner_ratio", 0.4, True),
        ("fresh_runner_ratio", 0.41, False),
    ],
)
def test_targets(name, value, expected) -> None:
    assert bench.meets(name, value) is expected


def test_every_figure_has_a_target() -> None:
    assert list(bench.FIGURES) == KEYS
    assert set(bench.TARGETS) == set(KEYS)


# --- the JSON last line -------------------------------------------------------------------


def test_json_line_has_exactly_the_keys_in_order() -> None:
    line = bench.json_line({"list_s": 0.12345, "cold_ratio": 0.9, "extra": 1.0})

    document = json.loads(line)
    assert list(document) == KEYS
    assert document["list_s"] == 0.123 and document["cold_ratio"] == 0.9
    assert document["doctor_s"] is None
    assert "\n" not in line


class SilentBench:
    """A stand-in for bench.Bench that measures nothing: each test adds the figures it runs."""

    def __init__(self, docker, runs, work):
        self.caps = Capabilities(docker, "buildkit", "20.10.24")
        self.runs, self.session, self.notes = runs, "s", []

    def warm_up(self):
        pass

    def cleanup(self):
        pass


def without_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: type) -> None:
    """bench.main with ``fake`` for its Bench: no docker looked up, a made-up machine, its
    results written under tmp_path."""
    monkeypatch.setattr(bench, "Bench", fake)
    monkeypatch.setattr(bench, "choose_docker", lambda: "docker")
    monkeypatch.setattr(
        bench,
        "machine",
        lambda docker, caps: {
            "date": "d",
            "cpus": "2",
            "memory": "1 GiB",
            "os": "linux",
            "python": "3",
            "docker": docker,
            "builder": caps,
            "engine": "20.10",
        },
    )
    monkeypatch.setattr(bench, "WORK", tmp_path / "work")


def test_main_prints_the_table_then_the_json_last(monkeypatch, tmp_path, capsys) -> None:
    class FakeBench(SilentBench):
        def figure(self, name, a, b):
            figure = bench.Figure(name, label_a="a", label_b="b", side_a=[a] * 3, side_b=[b] * 3)
            figure.samples = bench.ratios(figure.side_a, figure.side_b)
            return figure

        def wall(self, name, *args):
            return bench.Figure(name, samples=[0.2, 0.1, 0.3], side_a=[0.2, 0.1, 0.3])

        def noop(self):
            return bench.Figure("noop_overhead_s", samples=[0.25])

        def cold(self):
            return self.figure("cold_ratio", 9.0, 10.0)

        def independent(self):
            return self.figure("independent_ratio", 6.0, 10.0)

        def code_change(self):
            return self.figure("code_change_ratio", 1.0, 1.0)

        def release(self):
            raise bench.BenchError("docker-registry not installed")

        def fresh_runner(self):
            return self.figure("fresh_runner_ratio", 3.0, 10.0)

    without_docker(monkeypatch, tmp_path, FakeBench)

    assert bench.main(["--runs", "3"]) == 0

    out = capsys.readouterr().out.rstrip("\n").splitlines()
    last = json.loads(out[-1])
    assert list(last) == KEYS
    assert last["cold_ratio"] == 0.9 and last["independent_ratio"] == 0.6
    assert last["release_ratio"] is None and last["list_s"] == 0.2
    assert last["fresh_runner_ratio"] == 0.3
    shown = "\n".join(out)
    assert "not measured: docker-registry not installed" in shown
    assert "command: uv run python bench/run.py" in shown
    saved = json.loads((tmp_path / "work" / "last-run.json").read_text())
    assert saved["figures"]["cold_ratio"]["min"] == 0.9


def test_an_unknown_figure_is_refused_before_anything_runs(monkeypatch) -> None:
    monkeypatch.setattr(bench, "choose_docker", lambda: pytest.fail("docker was looked up"))
    with pytest.raises(SystemExit) as caught:
        bench.main(["--only", "cold_ratio,warp_speed"])
    assert caught.value.code == 2


@pytest.mark.parametrize(("argv", "expected"), [([], "FRESH"), (["--runs", "2"], 2)])
def test_fresh_runner_ratio_runs_fewer_times_unless_told(
    monkeypatch, tmp_path, argv, expected
) -> None:
    seen = []

    class FakeBench(SilentBench):
        def __getattr__(self, name):  # the figures not selected
            return lambda *args: pytest.fail(f"{name} ran without being selected")

        def fresh_runner(self):
            seen.append(self.runs)
            return bench.Figure("fresh_runner_ratio", samples=[0.3] * self.runs)

    without_docker(monkeypatch, tmp_path, FakeBench)

    assert bench.main([*argv, "--only", "fresh_runner_ratio"]) == 0

    assert seen == [bench.FRESH_RUNS if expected == "FRESH" else expected]
    assert bench.FRESH_RUNS < bench.RUNS


def test_the_table_shows_every_figure_and_what_was_not_measured() -> None:
    figures = [bench.Figure(name) for name in KEYS]
    figures[0] = bench.Figure(
        "cold_ratio",
        samples=[0.9, 0.8, 1.1],
        side_a=[9, 8, 11],
        side_b=[10, 10, 10],
        label_a="invoke",
        label_b="docker",
    )
    figures[5].error = "`invoke doctor` is not a task yet"

    text = bench.table(figures)
    markdown = bench.markdown_table(figures)

    for name in KEYS:
        assert name in text and f"`{name}`" in markdown
    assert "invoke 9.00 vs docker 10.00" in text
    assert "not measured: `invoke doctor` is not a task yet" in text
    assert len(markdown.splitlines()) == 2 + len(KEYS)


# --- what a code change rebuilt -----------------------------------------------------------

CONCURRENT_OUTPUT = """\
[cpu] #4 [stage-0 1/6] FROM docker.io/library/python:3.12-slim
[cpu] #4 DONE 0.0s
[cpu] #6 [stage-0 2/6] COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/uv
[cpu] #6 CACHED
[cpu] #10 [stage-0 5/6] RUN uv export --frozen
[cpu] #10 CACHED
[cpu] #11 [stage-0 6/6] COPY worker/ ./worker/
[cpu] #11 DONE 0.1s
[cpu] #12 exporting to image
[cpu] #12 DONE 0.1s
[lb] #11 [stage-0 6/6] COPY worker/ ./worker/
[lb] #11 CACHED
[gpu] #11 [stage-0 6/6] COPY worker/ ./worker/
[gpu] #11 DONE 0.2s
"""

BAKE_OUTPUT = """\
#9 [gpu 6/6] COPY worker/ ./worker/
#9 DONE 0.1s
#10 [cpu 5/6] RUN uv export
#10 CACHED
#11 [cpu 6/6] COPY worker/ ./worker/
#11 DONE 0.1s
"""


def test_rebuilt_steps_of_concurrent_builds() -> None:
    assert bench.rebuilt_steps(CONCURRENT_OUTPUT) == {
        "cpu": ["COPY worker/ ./worker/"],
        "gpu": ["COPY worker/ ./worker/"],
    }


def test_rebuilt_steps_of_a_bake() -> None:
    assert bench.rebuilt_steps(BAKE_OUTPUT) == {
        "gpu": ["COPY worker/ ./worker/"],
        "cpu": ["COPY worker/ ./worker/"],
    }


def test_rebuilt_steps_of_one_plain_build() -> None:
    output = "#5 [2/3] RUN make\n#5 DONE 3.0s\n#6 [3/3] COPY . .\n#6 CACHED\n"
    assert bench.rebuilt_steps(output, default="app") == {"app": ["RUN make"]}
    assert bench.rebuilt_steps("") == {}


# --- the independent fixture ----------------------------------------------------------------


def test_the_fixture_images_share_nothing_and_run_at_once() -> None:
    config = config_module.load(FIXTURE)
    assert [image.name for image in config.images] == ["one", "two", "three"]
    assert config.default_group == ("one", "two", "three")
    options = options_for(config, ImageFlags(build_arg=["CACHE_NONCE=x"]), tag="t", environ={})
    plan = make_plan(config, config.images, options, Capabilities("docker", "buildkit", "20.10"))
    assert [build.after for build in plan.builds] == [None, None, None]
    assert plan.jobs == 3


def test_the_nonce_is_used_before_the_expensive_step() -> None:
    seeds = set()
    for image in ("one", "two", "three"):
        steps = dockerfile_steps(FIXTURE / f"Dockerfile-{image}", {})
        nonce = next(
            i for i, s in enumerate(steps) if "${CACHE_NONCE}" in s and s.startswith("RUN")
        )
        work = next(i for i, s in enumerate(steps) if "awk" in s)
        assert nonce < work
        seeds.add(re.search(r"seed=(\d+)", steps[work]).group(1))  # type: ignore[union-attr]
    assert len(seeds) == 3  # distinct work: nothing is shared


# --- the fresh runner: its second engine and its fixture ----------------------------------

ROUTES = """\
default via 192.0.2.1 dev eth0
10.213.0.0/23 dev br-other proto kernel scope link src 10.213.0.1
172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2
local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1
"""


def test_the_second_bridge_takes_a_subnet_no_route_uses() -> None:
    assert str(bench.pick_subnet(ROUTES, 0)) == "10.213.2.0/24"  # .0 and .1 are taken
    assert str(bench.pick_subnet(ROUTES, 7)) == "10.213.7.0/24"
    assert str(bench.pick_subnet(ROUTES, 255)) == "10.213.255.0/24"
    with pytest.raises(bench.BenchError):
        bench.pick_subnet("10.0.0.0/8 dev eth1 scope link\n", 3)


def test_the_second_engine_has_its_own_everything_and_never_bridge_none(tmp_path) -> None:
    argv = bench.dockerd_argv("/usr/sbin/dockerd", tmp_path, "bfresh0a1b2c")
    flags = dict(zip(argv[1::2], argv[2::2], strict=False))

    assert flags["--data-root"] == str(tmp_path / "data")
    assert flags["--exec-root"] == str(tmp_path / "exec")
    assert flags["--host"] == f"unix://{tmp_path / 'docker.sock'}"
    assert flags["--pidfile"] == str(tmp_path / "docker.pid")
    assert flags["--config-file"] == str(tmp_path / "daemon.json")  # not /etc/docker's
    assert argv[argv.index("--bridge") + 1] == "bfresh0a1b2c"
    assert "--iptables=false" in argv and "--ip-masq=false" in argv
    assert "none" not in argv
    for bad in ("none", ""):
        with pytest.raises(ValueError):
            bench.dockerd_argv("dockerd", tmp_path, bad)


def test_the_fresh_engine_names_a_short_bridge_of_its_own(tmp_path) -> None:
    names = {bench.FreshEngine("docker", tmp_path).bridge for _ in range(5)}
    assert len(names) == 5
    assert all(name.startswith("bfresh") and len(name) <= 15 for name in names)
    engine = bench.FreshEngine("docker", tmp_path)
    assert engine.client("builder", "prune")[:3] == ["docker", "--host", engine.host]
    assert engine.host == f"unix://{tmp_path / 'docker.sock'}"


def test_the_fresh_engines_client_builds_on_the_host_network(tmp_path) -> None:
    real = tmp_path / "real docker"
    real.write_text('#!/bin/sh\nprintf "%s|" "$@"\n')
    real.chmod(0o755)
    client = tmp_path / "client"
    client.write_text(bench.host_network_client(str(real)))
    client.chmod(0o755)

    def run(*args: str) -> str:
        return subprocess.run([str(client), *args], capture_output=True, text=True).stdout

    assert run("build", "--tag", "a b", ".") == "build|--network|host|--tag|a b|.|"
    assert run("version", "--format", "{{json .}}") == "version|--format|{{json .}}|"
    assert run("buildx", "build", ".") == "buildx|build|.|"


def test_mounts_under_a_folder_deepest_first(tmp_path) -> None:
    root = tmp_path / "fresh engine"
    escaped = str(root).replace(" ", "\\040")
    info = "\n".join(
        [
            "22 1 8:1 / / rw - ext4 /dev/vda rw",
            f"90 22 0:50 / {escaped}/exec/netns/x rw - nsfs nsfs rw",
            f"91 22 0:51 / {escaped}/data/overlay2/abc/merged rw - overlay overlay rw",
            f"92 22 0:52 / {escaped}-other/data rw - overlay overlay rw",
            "93 22 0:53 / /var/lib/docker/overlay2/def/merged rw - overlay overlay rw",
        ]
    )
    assert bench.mounts_under(info, root) == [
        f"{root}/data/overlay2/abc/merged",
        f"{root}/exec/netns/x",
    ]
    assert bench.mounts_under("", root) == []


def test_blob_pulls_count_served_blobs_and_their_bytes() -> None:
    log = "\n".join(
        [
            '127.0.0.1 - - [x] "GET /v2/r/blobs/sha256:aa HTTP/1.1" 200 68989941 "" "docker"',
            '127.0.0.1 - - [x] "GET /v2/r/blobs/sha256:bb HTTP/1.1" 200 5830 "" "docker"',
            '127.0.0.1 - - [x] "HEAD /v2/r/blobs/sha256:cc HTTP/1.1" 200 0 "" "docker"',
            '127.0.0.1 - - [x] "GET /v2/r/blobs/sha256:dd HTTP/1.1" 401 87 "" "docker"',
            '127.0.0.1 - - [x] "GET /v2/r/manifests/t HTTP/1.1" 200 1000 "" "docker"',
        ]
    )
    assert bench.blob_pulls(log) == (2, 68989941 + 5830)
    assert bench.blob_pulls("") == (0, 0)


def test_the_base_images_of_the_dockerfiles_are_copied_to_the_fresh_engine() -> None:
    texts = [(ROOT / name).read_text() for name in ("Dockerfile", "Dockerfile-cpu")]
    assert bench.base_images(texts) == [
        "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
        "ghcr.io/astral-sh/uv:0.13.9",
        "python:3.12-slim",
    ]
    assert bench.base_images(["FROM scratch\nFROM ${BASE}\nFROM debian:12 AS x\n"]) == ["debian:12"]


def test_the_fresh_runner_fixture_is_this_worker_with_real_dependencies() -> None:
    fixture = tomllib.loads((FRESH_FIXTURE / "pyproject.toml").read_text())
    repo = tomllib.loads((ROOT / "pyproject.toml").read_text())

    assert fixture["tool"]["buildlib"] == repo["tool"]["buildlib"]
    assert fixture["project"]["version"] == repo["project"]["version"]
    dependencies = fixture["project"]["dependencies"]
    assert len(dependencies) >= 8
    names = {re.split(r"[<>=\[ ;]", d, maxsplit=1)[0].lower() for d in dependencies}
    assert {"cloudpickle", "numpy", "pydantic", "requests"} <= names
    assert not names & {"torch", "tensorflow", "jax"}  # the GPU base image brings torch
    assert fixture["tool"]["uv"]["exclude-newer"]  # the same lock on every run
    assert "dependency-groups" not in fixture  # `uv lock` needs nothing but this file
    assert not set(fixture["tool"]["uv"]) & {"index", "index-url", "extra-index-url"}
    assert not list(FRESH_FIXTURE.glob("uv.lock"))  # locked at bench time


# --- the documentation --------------------------------------------------------------------


def test_performance_doc_shows_the_command_and_a_json_line_with_the_keys() -> None:
    text = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert "uv run python bench/run.py" in text
    lines = [line for line in text.splitlines() if line.startswith('{"cold_ratio"')]
    assert lines, "docs/performance.md shows no JSON line of a run"
    assert list(json.loads(lines[0])) == KEYS
    for name in KEYS:
        assert f"`{name}`" in text


# --- where a fresh runner's job spends its time -------------------------------------------


def test_the_timed_client_logs_each_command_and_stamps_its_progress(tmp_path) -> None:
    real = tmp_path / "real docker"
    real.write_text('#!/bin/sh\nprintf "%s|" "$@"\necho "#1 [internal] load" >&2\nexit 3\n')
    real.chmod(0o755)
    log = tmp_path / "job.times"
    client = tmp_path / "client"
    client.write_text(bench.host_network_client(str(real), log))
    client.chmod(0o755)
    done = subprocess.run(
        [str(client), "build", "--tag", "r/a:t", "--label", "x=y", "."],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 3, "the real command's exit status"
    assert done.stdout == "build|--network|host|--tag|r/a:t|--label|x=y|.|"
    assert "#1 [internal] load" in done.stderr, "the progress still reaches buildlib"
    subprocess.run([str(client), "push", "r/a:t"], capture_output=True, check=False)
    spans = bench.command_spans(log.read_text())
    assert [(word, target) for _, _, word, target in spans] == [
        ("build", "r/a:t"),
        ("push", "r/a:t"),
    ]
    assert all(end >= start for start, end, _, _ in spans)
    stamped = (tmp_path / "job.times.lines").read_text().splitlines()
    assert stamped[0].split(" ", 2)[1:] == ["r/a:t", "#1 [internal] load"]


def test_covered_seconds_count_overlaps_once() -> None:
    assert bench.covered([(0, 2), (1, 3), (5, 6)]) == 4
    assert bench.covered([]) == 0


STAMPED = """\
100.0 r/a:t #1 [internal] load build definition from Dockerfile
100.1 r/a:t #1 DONE 0.0s
100.2 r/a:t #5 importing cache manifest from 127.0.0.1:5000/r/a:push
100.4 r/a:t #5 DONE 0.2s
100.5 r/a:t #9 [stage-0 5/6] RUN uv pip install
100.5 r/a:t #9 pulling sha256:aaa
101.0 r/a:t #9 pulling sha256:aaa 0.5s done
106.0 r/a:t #9 CACHED
106.1 r/a:t #10 [stage-0 6/6] COPY worker/ ./worker/
106.4 r/a:t #10 DONE 0.3s
107.0 r/a:t #11 exporting to image
107.2 r/a:t #11 DONE 0.2s
"""


def test_a_jobs_time_is_split_into_pull_unpack_steps_and_the_rest() -> None:
    spans = [(99.0, 107.5, "build", "r/a:t"), (98.5, 98.9, "version", "{{json")]
    parts = bench.job_parts(STAMPED, spans, took=9.5)
    assert list(parts) == list(bench.PARTS)
    assert parts["cache manifest"] == 0.2
    assert parts["pull"] == 0.5, "from the step's first line to its last pull done"
    assert parts["unpack"] == 5.0, "from the last pull done to CACHED: no line of its own"
    assert parts["steps run"] == 0.3
    assert parts["export"] == 0.2
    assert parts["docker build"] == 8.5 and parts["other docker"] == 0.4
    assert parts["outside docker"] == 0.6
    # the build 99.0-107.5; its vertices: 100.0-100.1, 100.2-100.4, 100.5-106.0,
    # 106.1-106.4, 107.0-107.2
    assert parts["between vertices"] == round(8.5 - (0.1 + 0.2 + 5.5 + 0.3 + 0.2), 2)
    shown = bench.timeline(STAMPED, spans)
    assert "r/a:t: docker build 8.50s" in shown
    assert "CACHED (pulled by +2.00)" in shown


def test_per_run_notes_are_said_once_when_equal() -> None:
    assert bench.runs_of(["13 pulled", "13 pulled"]) == "13 pulled (each run)"
    assert bench.runs_of(["4 uploaded", "5 uploaded"]) == "4 uploaded / 5 uploaded"
    assert bench.runs_of([]) == ""


def test_every_name_the_bench_imports_from_buildlib_exists() -> None:
    # The benchmark imports buildlib inside its functions, where no unit test reaches them
    # before a real run would fail: a name removed from buildlib must be removed here too.
    import ast
    import importlib

    tree = ast.parse((Path(__file__).parents[2] / "bench" / "run.py").read_text())
    imported = [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("buildlib")
        for alias in node.names
    ]
    assert imported
    missing = [
        f"{module}.{name}"
        for module, name in imported
        if not hasattr(importlib.import_module(module), name)
        and importlib.util.find_spec(f"{module}.{name}") is None
    ]
    assert not missing
