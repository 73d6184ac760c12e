"""What counts as released when release plans its floating tags (existing.released)."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib import config as config_module
from buildlib import existing
from buildlib.errors import PublishError, RegistryError
from buildlib.git import Git
from tests.support.config_repo import write_repo
from tests.support.fixture_repo import git


class Registry:
    host = "registry.example"

    def __init__(self, tags: list[str] | None) -> None:
        self._tags = tags

    def tags(self, repo: str) -> list[str]:
        if self._tags is None:
            raise RegistryError("registry.example: 429 too many requests", hint="wait")
        return list(self._tags)


def project(tmp_path: Path, *tags: str):
    write_repo(tmp_path)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "chore: init")
    for tag in tags:
        git(tmp_path, "tag", tag)
    config = config_module.load(tmp_path)
    return config, Git(tmp_path)


def test_tags_that_are_not_release_shaped_do_not_count(tmp_path: Path) -> None:
    config, repo = project(tmp_path, "v1.2.0", "v842", "nightly")
    registry = Registry(["1.2.0", "1.2", "1", "latest", "main", "20240115", "842", "1.3.0rc1"])

    found = existing.released(config, repo, config.images, registry, quiet=False)  # type: ignore[arg-type]

    assert sorted(set(found["gpu"])) == ["1.2.0", "1.3.0rc1"]


def test_a_real_release_stops_when_the_registry_cannot_list(tmp_path: Path) -> None:
    config, repo = project(tmp_path, "v1.2.0")

    with pytest.raises(PublishError) as caught:
        existing.released(config, repo, config.images, Registry(None), quiet=False)  # type: ignore[arg-type]

    assert "floating tag could move back" in caught.value.message
    assert "Nothing was built or pushed" in caught.value.message


def test_a_dry_run_warns_and_uses_git(tmp_path: Path, capsys) -> None:
    config, repo = project(tmp_path, "v1.2.0")

    found = existing.released(config, repo, config.images, Registry(None), quiet=True)  # type: ignore[arg-type]

    assert found["gpu"] == ["1.2.0"]
    assert "this plan uses git tags only" in capsys.readouterr().err
