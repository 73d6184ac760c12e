"""Tasks of worker-tetra. `invoke --list` shows them; `invoke --help TASK` shows the flags.

The image tasks come from buildlib (configured in pyproject.toml's [tool.buildlib]);
this file only adds the repository's own conveniences.
"""

from pathlib import Path

from buildlib.tasks import collection

ROOT = Path(__file__).resolve().parent

ns = collection(ROOT)
