"""A two-image ``[tool.buildlib]`` repository for the configuration tests: the text, and a
writer that changes one piece of it (to break it in exactly one place), and the readers of
the error such a break gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib import config as config_module
from buildlib.errors import ConfigError

TASKS_PY = """\
from buildlib.tasks import collection
from pathlib import Path
ns = collection(Path(__file__).parent)
"""

PYPROJECT = """\
[project]
name = "demo"
version = "1.2.3"

[tool.buildlib]
registry = "docker.io"
default-group = ["gpu", "cpu"]
tag-env = "TETRA_IMAGE_TAG"
default-tag = "local"

[tool.buildlib.images.gpu]
repository = "runpod/tetra-rp"
dockerfile = "Dockerfile"
platforms = ["linux/amd64"]

[tool.buildlib.images.cpu]
repository = "runpod/tetra-rp-cpu"
dockerfile = "Dockerfile-cpu"

[tool.buildlib.release]
git-tag = "v{version}"
floating-tags = ["major.minor", "major", "latest"]
"""


def write_repo(
    root: Path, old: str | None = None, new: str = "", *, with_tasks: bool = False
) -> Path:
    """A repository in ``root`` with both Dockerfiles and PYPROJECT, ``old`` replaced by
    ``new`` (exactly once); with ``with_tasks``, a ``tasks.py`` for the real CLI."""
    text = PYPROJECT
    if old is not None:
        assert text.count(old) == 1, f"the fixture must contain {old!r} once"
        text = text.replace(old, new)
    if with_tasks:
        (root / "tasks.py").write_text(TASKS_PY, encoding="utf-8")
    (root / "pyproject.toml").write_text(text, encoding="utf-8")
    (root / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (root / "Dockerfile-cpu").write_text("FROM scratch\n", encoding="utf-8")
    return root / "pyproject.toml"


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the only line of ``path`` containing ``needle``."""
    lines = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(lines) == 1, (needle, lines)
    return lines[0]


def load_error(root: Path) -> ConfigError:
    """The ConfigError that loading the repository in ``root`` raises."""
    with pytest.raises(ConfigError) as caught:
        config_module.load(root)
    return caught.value


def refused_at(root: Path, old: str, new: str, *, at: str) -> ConfigError:
    """The ConfigError of ``write_repo(root, old, new)``, checked to point at the line of
    pyproject.toml that holds ``at``."""
    path = write_repo(root, old, new)
    error = load_error(root)
    assert error.location == f"pyproject.toml:{line_of(path, at)}"
    return error
