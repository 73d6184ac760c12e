"""The README's "Adopting buildlib" section, read by the docs tests and run, verbatim, by
tests/integration/test_adopting.py."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def adopting() -> str:
    readme = README.read_text(encoding="utf-8")
    start = readme.index("## Adopting buildlib")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def adopting_tasks_py() -> str:
    """The section's only python code block: the tasks.py an adopter writes."""
    (block,) = re.findall(r"```python\n(.*?)```", adopting(), re.S)
    return str(block)
