"""Which image a plan makes wait for another (``after``): the first steps two Dockerfiles
share, as docker expands their global ``ARG`` values, and which earlier image leads."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib.build import describe
from buildlib.config import load
from buildlib.engine import Capabilities
from buildlib.flags import ImageFlags
from buildlib.options import options_for
from buildlib.plan import BuildPlan, last_shared_step, make_plan

BUILDX = Capabilities("docker", "buildx", "27.3.1", buildx_version="v0.17.1")


def plan_of(tmp_path: Path, dockerfiles: dict[str, str]) -> BuildPlan:
    """The plan of a repository with these Dockerfiles, one image each, in order."""
    text = '[project]\nname = "demo"\nversion = "1.0.0"\n\n[tool.buildlib]\n'
    text += f"default-group = {list(dockerfiles)!r}\n".replace("'", '"')
    for name, body in dockerfiles.items():
        (tmp_path / f"Dockerfile.{name}").write_text(body, encoding="utf-8")
        text += f'\n[tool.buildlib.images.{name}]\nrepository = "acme/{name}"\n'
        text += f'dockerfile = "Dockerfile.{name}"\n'
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    config = load(tmp_path)
    options = options_for(config, ImageFlags(), environ={})
    return make_plan(config, config.images, options, BUILDX)


def waits(tmp_path: Path, dockerfiles: dict[str, str]) -> dict[str, str | None]:
    """Each image's ``after`` in the plan of a repository with these Dockerfiles."""
    return {build.name: build.after for build in plan_of(tmp_path, dockerfiles).builds}


def test_an_image_waits_for_its_match_behind_an_image_that_already_waits(tmp_path: Path) -> None:
    shared_a, shared_c = (
        "FROM python:3.12\nRUN pip install x\n",
        "FROM debian:12\nRUN apt-get update\n",
    )
    plan = waits(
        tmp_path,
        {"a": shared_a, "b": shared_a + "RUN b\n", "c": shared_c, "d": shared_c + "RUN d\n"},
    )
    assert plan == {"a": None, "b": "a", "c": None, "d": "c"}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(
            "FROM python:3.12\nRUN pip install x\nRUN a\n",
            "FROM python:3.12\nRUN pip install x\nRUN b\n",
            id="a-base-and-one-more-shared-step-are-enough",
        ),
        # docker builds `FROM python:3.12$SUFFIX` with SUFFIX unset as `FROM python:3.12`
        pytest.param(
            "ARG SUFFIX\nFROM python:3.12$SUFFIX\nRUN pip install x\n",
            "FROM python:3.12\nRUN pip install x\n",
            id="a-global-arg-without-a-default-expands-to-nothing",
        ),
        pytest.param(
            "ARG PATTERN=a\\d\nFROM python:3.12\nRUN grep $PATTERN /etc/hosts\n",
            "FROM python:3.12\nRUN grep a\\d /etc/hosts\n",
            id="an-arg-value-with-a-backslash-is-substituted-as-written",
        ),
    ],
)
def test_the_second_image_waits_for_the_first_when_their_first_steps_match(
    tmp_path: Path, a: str, b: str
) -> None:
    assert waits(tmp_path, {"a": a, "b": b}) == {"a": None, "b": "a"}


def test_a_from_that_names_no_image_still_counts_as_a_step() -> None:
    # docker refuses such a Dockerfile when it builds it; the plan must not fail first
    assert last_shared_step(["FROM --platform=linux/amd64", "RUN a"]) == ("stage-0", 2, "RUN")


def test_a_plan_of_one_image_builds_one_at_a_time_and_warns_of_nothing(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, {"a": "FROM python:3.12\n"})
    assert describe(plan)[0].endswith("; 1 at a time")
    assert plan.notes == ()  # each note is a warning before the builds


def test_heredocs_that_split_the_same_lines_differently_are_not_one_step(tmp_path: Path) -> None:
    # the same RUN line and the same lines below it, cut between the two bodies elsewhere:
    # /a and /b get other contents, so b has nothing to wait for; c, cut as a is, waits for a
    run = "FROM python:3.12\nRUN <<A cat > /a && <<B cat > /b\n"
    a, b = run + "x\ny\nA\nz\nB\n", run + "x\nA\ny\nz\nB\n"
    assert waits(tmp_path, {"a": a, "b": b, "c": a}) == {"a": None, "b": None, "c": "a"}
