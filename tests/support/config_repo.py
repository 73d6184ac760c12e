"""A two-image ``[tool.buildlib]`` repository for the configuration tests: the text, and a
writer that changes one piece of it (to break it in exactly one place)."""

from __future__ import annotations

from pathlib import Path

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
