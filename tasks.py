"""Tasks of worker-tetra. `invoke --list` shows them; `invoke --help TASK` shows the flags.

The image tasks (build, build-<image>, push, release, doctor) come from buildlib, configured
by pyproject.toml's [tool.buildlib]; devtasks.py adds this repository's conveniences.
"""

from pathlib import Path

import devtasks
from buildlib.tasks import collection

ROOT = Path(__file__).resolve().parent

ns = collection(ROOT, *devtasks.TASKS)
