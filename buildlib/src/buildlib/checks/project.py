"""What every check reads, loaded once: the root, pyproject.toml (raw and as a Config), git.

Loading never raises: a pyproject.toml that does not parse, or a [tool.buildlib] table that
does not validate, is kept as an error for its own check to report, and the other checks
read buildlib's defaults (or say why they are skipped). The checks read the table only as
:mod:`buildlib.config` parsed it: this module must never interpret it a second time.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from buildlib.config import Config, defaults, toml_error_position
from buildlib.errors import REFERENCE, ConfigError
from buildlib.git import Git
from buildlib.options import environment, registry_override
from buildlib.versions import version_in_tag

if sys.version_info >= (3, 11):  # noqa: UP036 - buildlib also serves Python 3.10
    import tomllib
else:
    import tomli as tomllib


PYPROJECT = "pyproject.toml"


@dataclass(frozen=True)
class TomlProblem:
    message: str
    line: int | None = None
    column: int | None = None
    hint: str | None = None


@dataclass
class Project:
    """The repository under check. Build it with :meth:`load`."""

    root: Path
    environ: Mapping[str, str]
    registry_flag: str | None = None
    text: str | None = None
    data: dict[str, Any] | None = None
    toml_problem: TomlProblem | None = None
    config: Config | None = None  # when [tool.buildlib] validates
    config_error: ConfigError | None = None
    git: Git = field(init=False)
    is_git: bool = field(init=False, default=False)
    head: str | None = field(init=False, default=None)
    _cache: dict[str, Any] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.git = Git(self.root)

    @classmethod
    def load(
        cls,
        root: Path | str = ".",
        *,
        environ: Mapping[str, str] | None = None,
        registry: str | None = None,
    ) -> Project:
        root = Path(root).resolve()
        project = cls(
            root=root,
            environ=environment() if environ is None else environ,
            registry_flag=registry,
        )
        path = root / PYPROJECT
        try:
            project.text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            project.toml_problem = TomlProblem(f"{PYPROJECT} not found in {root}")
        except (OSError, UnicodeDecodeError) as exc:
            project.toml_problem = TomlProblem(f"{PYPROJECT} cannot be read: {exc}")
        if project.text is not None and project.text.startswith("\ufeff"):
            from buildlib.config import BOM_PROBLEM

            project.toml_problem = TomlProblem(
                BOM_PROBLEM, 1, 1, hint=f"save {PYPROJECT} as UTF-8 without a BOM"
            )
        elif project.text is not None:
            try:
                project.data = tomllib.loads(project.text)
            except tomllib.TOMLDecodeError as exc:
                project.toml_problem = TomlProblem(*toml_error_position(exc))
        if project.data is not None and project.version is not None:
            from buildlib import config as config_module

            try:
                project.config = config_module.parse(
                    project.text or "", root=root, filename=PYPROJECT
                )
            except ConfigError as exc:
                project.config_error = exc
            except Exception as exc:  # noqa: BLE001 - a value config.py did not expect
                project.config_error = ConfigError(
                    f"cannot validate [tool.buildlib]: {type(exc).__name__}: {exc}",
                    location=PYPROJECT,
                    hint=f"compare the table with {REFERENCE}",
                )
        project.is_git = project.git.is_repository()
        project.head = project.git.head() if project.is_git else None
        return project

    # --- pyproject values ---------------------------------------------------------------

    @property
    def settings(self) -> Config:
        """The ``[tool.buildlib]`` values the checks read: the parsed Config's, or, when it
        does not validate (its own check fails), buildlib's defaults: never a second reading
        of the table."""
        return self.config if self.config is not None else defaults(self.root)

    @property
    def project_table(self) -> dict[str, Any]:
        table = (self.data or {}).get("project")
        return table if isinstance(table, dict) else {}

    @property
    def project_name(self) -> str | None:
        name = self.project_table.get("name")
        return name if isinstance(name, str) else None

    @property
    def version_text(self) -> str | None:
        version = self.project_table.get("version")
        return version if isinstance(version, str) else None

    @property
    def version(self) -> Version | None:
        if self.version_text is None:
            return None
        try:
            return Version(self.version_text)
        except InvalidVersion:
            return None

    @property
    def git_tag_pattern(self) -> str:
        return self.settings.release.git_tag

    def release_tag(self, version: str | None = None) -> str | None:
        version = version or self.version_text
        return self.git_tag_pattern.format(version=version) if version else None

    def tag_version(self, tag: str) -> str | None:
        """The version in a release tag (``v1.2.3`` -> ``1.2.3``), or None if it is not one."""
        text = version_in_tag(self.git_tag_pattern, tag)
        if text is None:
            return None
        try:
            Version(text)
        except InvalidVersion:
            return None
        return text

    @property
    def tag_glob(self) -> str:
        return self.git_tag_pattern.replace("{version}", "[0-9]*")

    @property
    def registry(self) -> str:
        configured = self.settings.registry
        # the same cascade as the tasks' (a bad flag or variable was refused before loading)
        override = registry_override(self.registry_flag, self.environ)
        return override or configured

    @property
    def credential_env(self) -> tuple[str, str]:
        return self.settings.credentials.username_env, self.settings.credentials.token_env

    @property
    def main_branch(self) -> str:
        return self.settings.main_branch

    @property
    def line_ending_globs(self) -> tuple[str, ...]:
        return self.settings.line_ending_globs

    @property
    def configured_dockerfiles(self) -> list[str]:
        return [image.dockerfile for image in self.config.images] if self.config else []

    def dockerfiles(self) -> list[str]:
        """Configured Dockerfiles and every ``Dockerfile*`` at the root, relative, existing."""
        names = {self.rel(self.root / name) for name in self.configured_dockerfiles}
        names |= {p.name for p in self.root.glob("Dockerfile*") if p.is_file()}
        return sorted(n for n in names if (self.root / n).is_file())

    # --- helpers -------------------------------------------------------------------------

    def rel(self, path: Path | str) -> str:
        path = Path(path)
        if not path.is_absolute():
            return path.as_posix()
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def cached(self, key: str, compute: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


def json_key_line(text: str, key: str, after: int = 0) -> int | None:
    """The first line (1-based, after line ``after``) holding the JSON key ``"key":``."""
    pattern = re.compile(rf'"{re.escape(key)}"\s*:')
    for number, raw in enumerate(text.splitlines(), start=1):
        if number > after and pattern.search(raw):
            return number
    return None
