"""What a plan refuses by default (an image is loaded unless told otherwise) and the whole
hint of a --builder the client cannot use."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib.config import load
from buildlib.engine import Capabilities
from buildlib.errors import UsageError
from buildlib.flags import ImageFlags
from buildlib.options import options_for
from buildlib.plan import make_plan
from tests.support.config_repo import write_repo

BUILDX = Capabilities("docker", "buildx", "27.3.1", buildx_version="v0.17.1")
LEGACY = Capabilities("docker", "legacy", "28.2.2")


def test_a_plan_loads_by_default_so_several_platforms_are_refused(tmp_path: Path) -> None:
    write_repo(tmp_path)
    config = load(tmp_path)
    options = options_for(config, ImageFlags(platform="linux/amd64,linux/arm64"), environ={})
    with pytest.raises(UsageError, match="cannot load a multi-platform image"):
        make_plan(config, config.select(["gpu"]), options, BUILDX)


def test_a_builder_from_the_environment_is_named_as_the_user_set_it(tmp_path: Path) -> None:
    write_repo(tmp_path)
    config = load(tmp_path)
    options = options_for(config, ImageFlags(), environ={"BUILDLIB_BUILDER": "remote"})
    with pytest.raises(UsageError) as refused:
        make_plan(config, config.select(["gpu"]), options, LEGACY)
    assert refused.value.message.startswith("BUILDLIB_BUILDER=remote needs docker buildx")
    assert refused.value.hint == (
        "install the buildx plugin (`docker buildx version` must answer), or unset BUILDLIB_BUILDER"
    )
    # the flag wins over the variable, and is what the advice then names
    flagged = options_for(config, ImageFlags(builder="k8s"), environ={"BUILDLIB_BUILDER": "x"})
    with pytest.raises(UsageError) as refused:
        make_plan(config, config.select(["gpu"]), flagged, LEGACY)
    assert refused.value.message.startswith("--builder k8s needs docker buildx")


def test_a_builder_without_buildx_is_refused_with_both_ways_out(tmp_path: Path) -> None:
    write_repo(tmp_path)
    config = load(tmp_path)
    options = options_for(config, ImageFlags(builder="remote"), environ={})
    with pytest.raises(UsageError) as refused:
        make_plan(config, config.select(["gpu"]), options, LEGACY)
    assert refused.value.hint == (
        "install the buildx plugin (`docker buildx version` must answer), or drop --builder"
    )
