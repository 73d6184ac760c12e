"""What counts as released when release plans its floating tags (existing.released)."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib import config as config_module
from buildlib import existing
from buildlib.errors import RegistryError
from buildlib.git import Git
from tests.support.config_repo import write_repo
from tests.support.fixture_repo import git


class Registry:
    host = "registry.example"

    def __init__(self, tags: list[str] | None, hint: str | None = "wait") -> None:
        self._tags, self._hint = tags, hint

    def tags(self, repo: str) -> list[str]:
        if self._tags is None:
            raise RegistryError("registry.example: 429 too many requests", hint=self._hint)
        return list(self._tags)


def project(tmp_path: Path, *tags: str, version: str = "1.2.3"):
    write_repo(tmp_path, 'version = "1.2.3"', f'version = "{version}"')
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

    found = existing.released(config, repo, registry, quiet=False)  # type: ignore[arg-type]

    assert sorted(set(found["gpu"])) == ["1.2.0", "1.3.0rc1"]


def test_a_three_part_release_counts_for_a_project_of_four_part_versions(
    tmp_path: Path,
) -> None:
    # 1.2.3 came before 1.2.3.1: a floating tag that holds it must not be taken for no
    # release (a build number or a date, of fewer parts, still is none)
    config, repo = project(tmp_path, "v1.2.3", version="1.2.3.1")
    registry = Registry(["1.2.3", "1.2.2.9", "1.2", "latest", "20240115", "842"])

    found = existing.released(config, repo, registry, quiet=False)  # type: ignore[arg-type]

    assert sorted(set(found["gpu"])) == ["1.2.2.9", "1.2.3"]


@pytest.mark.parametrize(
    ("cause_hint", "hint"),
    [("wait", "wait"), (None, "run `invoke release` again when the registry answers")],
)
def test_a_real_release_stops_when_the_registry_cannot_list(
    tmp_path: Path, cause_hint: str | None, hint: str
) -> None:
    config, repo = project(tmp_path, "v1.2.0")
    repository = config.images[0].repository

    with pytest.raises(RegistryError) as caught:
        existing.released(config, repo, Registry(None, cause_hint), quiet=False)  # type: ignore[arg-type]

    assert caught.value.exit_code == 6  # nothing was written: no "stopped part-way" (8)

    assert caught.value.message == (
        f"could not list {repository}'s tags in registry.example (registry.example: 429 too "
        "many requests); without them a floating tag could move back. Nothing was built or "
        "pushed"
    )
    assert caught.value.hint == hint


def test_a_dry_run_warns_and_uses_git(tmp_path: Path, capsys) -> None:
    config, repo = project(tmp_path, "v1.2.0")

    found = existing.released(config, repo, Registry(None), quiet=True)  # type: ignore[arg-type]

    assert found["gpu"] == ["1.2.0"]
    assert (
        f"could not list {config.images[0].repository}'s tags (registry.example: 429 too many "
        "requests); this plan uses git tags only"
    ) in " ".join(capsys.readouterr().err.split())
