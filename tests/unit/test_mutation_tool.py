"""tools/mutation.py: the module list follows the package, the score counts what it says."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_tool", ROOT / "tools" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_tool"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def staged(tool: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Makes a finished run of publish.py as the tool reads it, from mutmut's results, its
    mutated copy of the module and the list of equivalents; returns the settings that point
    there."""

    def stage(results: dict[str, int | None], module: str, equivalents: str = "") -> Any:
        meta = tmp_path / "src" / "buildlib" / "publish.py.meta"
        meta.parent.mkdir(parents=True)
        meta.write_text(json.dumps({"exit_code_by_key": results}), encoding="utf-8")
        (meta.parent / "publish.py").write_text(module, encoding="utf-8")
        listed = tmp_path / "equivalents.toml"
        listed.write_text(equivalents, encoding="utf-8")
        monkeypatch.setattr(tool, "MUTANTS", tmp_path)
        return tool.Settings(
            modules={"publish": "src/buildlib/publish.py"},
            target=0.85,
            module_target=0.75,
            equivalents=listed,
        )

    return stage


def test_every_listed_module_exists(tool: ModuleType) -> None:
    settings = tool.load_settings()  # exits naming the module when one was renamed
    assert {"publish", "versions", "references", "credentials", "config"} <= set(settings.modules)
    for path in settings.modules.values():
        assert (ROOT / "buildlib" / path).is_file(), path
    assert settings.target == 0.85 and settings.module_target == 0.75


def test_the_score_counts_timeouts_as_killed_and_uncovered_as_survived(
    tool: ModuleType,
    staged: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = {
        "buildlib.publish.x_a__mutmut_1": 1,  # a test failed
        "buildlib.publish.x_a__mutmut_2": 36,  # timed out
        "buildlib.publish.x_a__mutmut_3": 0,  # every test passed
        "buildlib.publish.x_a__mutmut_4": 33,  # no test reaches it
        "buildlib.publish.x_a__mutmut_5": None,  # the run did not get to it
    }
    settings = staged(results, mutated_module("a", 5))

    tallies, problems = tool.tally(settings, ["publish"])

    counts = tallies["publish"]
    assert (counts.killed, counts.survived, counts.equivalent) == (2, 3, 0)
    assert counts.score == pytest.approx(0.4)
    assert problems == []
    assert tool.report(settings, tallies, problems) is False
    last = capsys.readouterr().out.splitlines()[-1]
    assert json.loads(last) == {
        "score": 0.4,
        "killed": 2,
        "survived": 3,
        "modules": {"publish": {"killed": 2, "survived": 3}},
    }


def mutated_module(function: str, count: int) -> str:
    """A module as mutmut writes it: the original function and each mutant beside it."""
    defs = [f"def x_{function}__mutmut_orig(n):\n    level = n + 1\n    return level\n"]
    defs += [
        f"def x_{function}__mutmut_{i}(n):\n    level = n + {i + 1}\n    return level\n"
        for i in range(1, count + 1)
    ]
    return "\n".join(defs)


def entry(mutant: str, **change: str) -> str:
    """One ``[[equivalent]]`` entry of the equivalents file, naming its change by each given
    key (``change``, ``original``, ``removed``, ``occurrence``) in a literal string, which may
    span lines."""
    lines = ["[[equivalent]]", f'mutant = "{mutant}"']
    lines += [f"{key} = '''{text}'''" for key, text in change.items()]
    return "\n".join([*lines, 'reason = "test"', ""])


def test_an_equivalent_is_known_by_its_function_and_change_whatever_its_number(
    tool: ModuleType, staged: Callable[..., Any]
) -> None:
    # mutmut renumbers a function's mutants after an edit: the entry written for mutant 2
    # ("level = n + 3") now names mutant 1's number, and still finds its change in mutant 2.
    settings = staged(
        {"buildlib.publish.x_a__mutmut_1": 0, "buildlib.publish.x_a__mutmut_2": 0},
        mutated_module("a", 2),
        entry("buildlib.publish.x_a__mutmut_1", change="level = n + 3", original="level = n + 1")
        + entry("buildlib.publish.x_a__mutmut_7", change="level = n * 2", original="level = n + 1")
        + entry("buildlib.publish.x_a__mutmut_8", change="level = n + 2", original="level = n"),
    )

    tallies, problems = tool.tally(settings, ["publish"])

    counts = tallies["publish"]
    assert (counts.killed, counts.survived, counts.equivalent) == (0, 1, 1)
    assert counts.survivors == ["buildlib.publish.x_a__mutmut_1"]
    # Mutant 1 writes "level = n + 2", but from another line than the third entry's.
    assert problems == [
        "stale equivalent entry buildlib.publish.x_a__mutmut_7: no mutant makes 'level = n * 2' "
        "from 'level = n + 1'",
        "stale equivalent entry buildlib.publish.x_a__mutmut_8: no mutant makes 'level = n + 2' "
        "from 'level = n'",
    ]
    # A sample tests part of the mutants, but its modules' mutated copies hold them all.
    sampled, sampled_problems = tool.tally(
        settings, ["publish"], chosen=["buildlib.publish.x_a__mutmut_1"]
    )
    assert (sampled["publish"].survived, sampled["publish"].equivalent) == (1, 0)
    assert sampled_problems == problems


def test_an_equivalent_is_told_from_a_mutant_that_writes_the_same_line_in_another_place(
    tool: ModuleType, staged: Callable[..., Any]
) -> None:
    # config.normal_platform: `variant = None` for `variant = ""` is equivalent (an empty
    # part is left out of the name either way), for `variant = "v9"` it is not.
    settings = staged(
        {"buildlib.publish.x_name__mutmut_1": 0, "buildlib.publish.x_name__mutmut_2": 0},
        "\n".join(
            f"def x_name__mutmut_{suffix}(arch, variant):\n"
            f"    if arch == '386':\n        {first}\n"
            f"    elif arch == 'arm64':\n        {second}\n"
            "    return '/'.join(p for p in (arch, variant) if p)\n"
            for suffix, first, second in [
                ("orig", "variant = ''", "variant = 'v9'"),
                ("1", "variant = None", "variant = 'v9'"),
                ("2", "variant = ''", "variant = None"),
            ]
        ),
        entry(
            "buildlib.publish.x_name__mutmut_1", change="variant = None", original="variant = ''"
        ),
    )

    tallies, problems = tool.tally(settings, ["publish"])

    counts = tallies["publish"]
    assert (counts.equivalent, counts.survived) == (1, 1)
    assert counts.survivors == ["buildlib.publish.x_name__mutmut_2"]
    assert problems == []


def test_an_entry_for_one_of_several_mutants_of_the_same_change_names_its_place_or_none(
    tool: ModuleType, staged: Callable[..., Any]
) -> None:
    loop = "    for item in items:\n        if item:\n            {}\n"
    settings = staged(
        {"buildlib.publish.x_pick__mutmut_1": 0, "buildlib.publish.x_pick__mutmut_2": 0},
        "\n".join(
            f"def x_pick__mutmut_{suffix}(items):\n"
            f"{loop.format(first)}{loop.format(second)}    return item\n"
            for suffix, first, second in [
                ("orig", "break", "break"),
                ("1", "continue", "break"),
                ("2", "break", "continue"),
            ]
        ),
    )
    mutants = ["buildlib.publish.x_pick__mutmut_1", "buildlib.publish.x_pick__mutmut_2"]

    def listing(**occurrence: str) -> tuple[list[str], list[str]]:
        settings.equivalents.write_text(
            entry(mutants[0], change="continue", original="break", **occurrence),
            encoding="utf-8",
        )
        tallies, problems = tool.tally(settings, ["publish"])
        return tallies["publish"].survivors, problems

    # Either break could be the listed one: neither is taken for it, and the entry is named.
    ambiguous = (
        f"ambiguous equivalent entry {mutants[0]}: mutants 1, 2 of its function make that "
        'change; name one by its place, occurrence = "N of 2"'
    )
    assert listing() == (mutants, [ambiguous])
    assert listing(occurrence="2 of 2") == (mutants[:1], [])
    # A third break since the entry was written: its place may have moved.
    assert listing(occurrence="1 of 3") == (mutants, [ambiguous])


def test_a_score_without_mutants_is_not_a_failure(tool: ModuleType) -> None:
    assert tool.Tally().score == 1.0
    assert tool.Tally(killed=17, survived=3).score == pytest.approx(0.85)


def test_an_equivalent_mutant_of_a_default_argument_is_known_by_its_def_line(
    tool: ModuleType, staged: Callable[..., Any]
) -> None:
    # mutmut mutates a plain default argument on the def line, where each copy carries a
    # name of its own: the change reads as `mutmut show` prints it, under the plain name.
    settings = staged(
        {
            "buildlib.publish.x_step__mutmut_1": 0,
            "buildlib.publish.xǁRunnerǁrun__mutmut_1": 0,
            "buildlib.publish.xǁRunnerǁrun__mutmut_2": 0,
        },
        "def x_step__mutmut_orig(n, by=1):\n    return n + by\n"
        "def x_step__mutmut_1(n, by=2):\n    return n + by\n"
        "class Runner:\n"
        "    def xǁRunnerǁrun__mutmut_orig(self, quiet=False):\n        return quiet\n"
        "    def xǁRunnerǁrun__mutmut_1(self, quiet=True):\n        return quiet\n"
        "    def xǁRunnerǁrun__mutmut_2(self, quiet=False):\n        return not quiet\n",
        entry(
            "buildlib.publish.x_step__mutmut_1",
            change="def step(n, by=2):",
            original="def step(n, by=1):",
        )
        + entry(
            "buildlib.publish.xǁRunnerǁrun__mutmut_1",
            change="def run(self, quiet=True):",
            original="def run(self, quiet=False):",
        ),
    )

    tallies, problems = tool.tally(settings, ["publish"])

    counts = tallies["publish"]
    assert (counts.equivalent, counts.survived) == (2, 1)
    assert counts.survivors == ["buildlib.publish.xǁRunnerǁrun__mutmut_2"]  # its body changed
    assert problems == []


def test_an_equivalent_mutant_that_deletes_a_line_is_known_by_the_first_line_it_removes(
    tool: ModuleType, staged: Callable[..., Any]
) -> None:
    # mutmut deletes an argument of a call written over several lines with its lines: such a
    # mutant writes no line, and each deletion is told apart by the first line it removes.
    original = (
        "    return call(\n"
        "        n,\n"
        "        f'a message '\n"
        "        'over two lines',\n"
        "        check=False,\n"
        "    )\n"
    )
    without_message = original.replace("        f'a message '\n        'over two lines',\n", "")
    without_check = original.replace("        check=False,\n", "")
    settings = staged(
        {
            "buildlib.publish.x_run__mutmut_1": 0,
            "buildlib.publish.x_run__mutmut_2": 0,
            "buildlib.publish.x_run__mutmut_3": 0,
        },
        f"def x_run__mutmut_orig(n):\n{original}"
        f"def x_run__mutmut_1(n):\n{without_message}"
        f"def x_run__mutmut_2(n):\n{without_check}"
        f"def x_run__mutmut_3(n):\n{original.replace('check=False', 'check=True')}",
        entry("buildlib.publish.x_run__mutmut_9", removed="check=False,")
        + entry("buildlib.publish.x_run__mutmut_4", removed="n + 1,"),
    )

    tallies, problems = tool.tally(settings, ["publish"])

    counts = tallies["publish"]
    assert (counts.equivalent, counts.survived) == (1, 2)
    # The other deletion, and the mutant that changes the same line, are not this entry.
    assert counts.survivors == [
        "buildlib.publish.x_run__mutmut_1",
        "buildlib.publish.x_run__mutmut_3",
    ]
    assert problems == [
        "stale equivalent entry buildlib.publish.x_run__mutmut_4: no mutant removes 'n + 1,'"
    ]


def test_an_equivalent_mutant_that_writes_several_lines_is_known_by_all_of_them(
    tool: ModuleType, staged: Callable[..., Any]
) -> None:
    settings = staged(
        {"buildlib.publish.x_a__mutmut_1": 0, "buildlib.publish.x_a__mutmut_2": 0},
        "def x_a__mutmut_orig(n):\n    low = n - 1\n    high = n + 1\n    return low, high\n"
        "def x_a__mutmut_1(n):\n    low = n + 1\n    high = n - 1\n    return low, high\n"
        "def x_a__mutmut_2(n):\n    low = n + 1\n    high = n + 1\n    return low, high\n",
        entry(
            "buildlib.publish.x_a__mutmut_1",
            change="\n    low = n + 1\n    high = n - 1\n",
            original="\n    low = n - 1\n    high = n + 1\n",
        ),
    )

    tallies, problems = tool.tally(settings, ["publish"])

    counts = tallies["publish"]
    assert (counts.equivalent, counts.survived) == (1, 1)
    assert counts.survivors == ["buildlib.publish.x_a__mutmut_2"]  # its first line alone
    assert problems == []


@pytest.mark.parametrize(
    "change",
    [
        {"change": "level = n + 2", "removed": "level = n + 1"},
        {"change": "level = n + 2"},  # not the line it replaces
        {"removed": "level = n + 1", "original": "level = n + 1"},
        {"change": "level = n + 2", "original": "level = n + 1", "occurrence": "3 of 2"},
        {"change": "level = n + 2", "original": "level = n + 1", "occurrence": "the second"},
    ],
)
def test_an_equivalent_entry_names_exactly_one_change(
    tool: ModuleType, tmp_path: Path, change: dict[str, str]
) -> None:
    listed = tmp_path / "equivalents.toml"
    listed.write_text(entry("buildlib.publish.x_a__mutmut_1", **change), encoding="utf-8")

    with pytest.raises(SystemExit) as stop:
        tool.load_equivalents(listed)

    assert str(stop.value).startswith(
        "mutation: equivalents.toml: the equivalent entry for buildlib.publish.x_a__mutmut_1 "
        "needs one of change (the lines a mutant writes) with original (the lines they "
        'replace) or removed (the first line it deletes), and an occurrence only as "N of M"'
    )


def test_an_equivalent_entry_of_a_module_that_is_not_mutated_is_stale(
    tool: ModuleType, staged: Callable[..., Any]
) -> None:
    # Code that moved out of the listed modules takes its entries' mutants with it: no run
    # makes them again, whichever modules it runs.
    settings = staged(
        {"buildlib.publish.x_a__mutmut_1": 0},
        mutated_module("a", 1),
        entry("buildlib.engine.x_user_config__mutmut_1", change="return None", original="return c"),
    )

    _, problems = tool.tally(settings, ["publish"])

    assert problems == [
        "stale equivalent entry buildlib.engine.x_user_config__mutmut_1: no mutant makes "
        "'return None' from 'return c'"
    ]
