"""buildlib: build, push and release several Docker image variants from one repository.

A repository adopts it with a ``[tool.buildlib]`` table in ``pyproject.toml`` and a short
``tasks.py``; see README.md. Importing the package must never import more than its error
type: ``invoke --list`` imports it.
"""

from __future__ import annotations

__all__ = ["BuildlibError"]

from buildlib.errors import BuildlibError
