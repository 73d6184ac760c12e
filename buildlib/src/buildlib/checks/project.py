"""What every check reads, loaded once: the root, pyproject.toml (raw and as a Config), git.

Loading never raises: a pyproject.toml or [tool.buildlib] table ``build`` would stop on is
kept as its :class:`ConfigError` for its own check to report; the others read buildlib's
defaults. This module must never interpret the table a second time, nor keep defaults.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from packaging.version import InvalidVersion, Version

from buildlib import config as config_module
from buildlib.config import PYPROJECT, Config
from buildlib.errors import REFERENCE, ConfigError
from buildlib.git import Git
from buildlib.options import environment, registry_override
from buildlib.versions import version_in_tag

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Project:
    """The repository under check. Build it with :meth:`load`."""

    root: Path
    environ: Mapping[str, str]
    registry_flag: str | None = None
    text: str | None = None
    data: dict[str, Any] | None = None
    toml_problem: ConfigError | None = None  # pyproject.toml cannot be read or parsed
    config: Config | None = None  # when [tool.buildlib] validates
    config_error: ConfigError | None = None
    git: Git = field(init=False)
    _cache: dict[Any, Any] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.git = Git(self.root)

    @classmethod
    def load(
        cls,
        root: Path | str = ".",
        *,
        environ: Mapping[str, str] | None = None,
        registry: str | None = None,
        config: Config | None = None,
    ) -> Project:
        """``config``: the table as the caller's run resolved it, then not parsed again."""
        root = Path(root).resolve()
        env = environment() if environ is None else environ
        project = cls(root=root, environ=env, registry_flag=registry)
        try:
            project.text = config_module.read(root)
            project.data = config_module.parse_toml(project.text, PYPROJECT)
        except ConfigError as exc:
            project.toml_problem = exc
        if config is not None:
            project.config = config
        elif project.data is not None and project.version is not None:
            try:
                project.config = config_module.parse(project.text or "", root=root)
            except ConfigError as exc:
                project.config_error = exc
            except Exception as exc:  # noqa: BLE001 - a value config.py did not expect
                project.config_error = ConfigError(
                    f"cannot validate [tool.buildlib]: {type(exc).__name__}: {exc}",
                    location=PYPROJECT,
                    hint=f"compare the table with {REFERENCE}",
                )
        return project

    # asked when a check needs them: a build's pre-flight mostly does not
    @functools.cached_property
    def is_git(self) -> bool:
        return self.git.is_repository()

    @functools.cached_property
    def head(self) -> str | None:
        return self.git.head() if self.is_git else None

    @property
    def settings(self) -> Config:
        """The parsed ``[tool.buildlib]``, or buildlib's defaults (no image) when it does not
        validate: never a second reading of the table."""
        return self.config if self.config is not None else Config(root=self.root)

    def _project_text(self, key: str) -> str | None:
        """``[project].key`` read raw (its checks report what config.py refuses), if a string."""
        table = (self.data or {}).get("project")
        value = table.get(key) if isinstance(table, dict) else None
        return value if isinstance(value, str) else None

    @property
    def project_name(self) -> str | None:
        return self._project_text("name")

    @property
    def version_text(self) -> str | None:
        return self._project_text("version")

    @property
    def version(self) -> Version | None:
        try:
            return Version(self.version_text) if self.version_text is not None else None
        except InvalidVersion:
            return None

    def release_tag(self, version: str | None = None) -> str | None:
        version = version or self.version_text
        return self.settings.release.git_tag_for(version) if version else None

    def tag_version(self, tag: str) -> str | None:
        """The version in a release tag (``v1.2.3`` -> ``1.2.3``), or None if it is not one."""
        text = version_in_tag(self.settings.release.git_tag, tag)
        try:
            Version(text or "")  # only a PEP 440 version is a release's
        except InvalidVersion:
            return None
        return text

    @property
    def tag_glob(self) -> str:
        return self.settings.release.git_tag.replace("{version}", "[0-9]*")

    @property
    def registry(self) -> str:
        # the same cascade as the tasks' (a bad flag or variable was refused before loading)
        return registry_override(self.registry_flag, self.environ) or self.settings.registry

    def dockerfiles(self) -> list[str]:
        """Configured Dockerfiles and every ``Dockerfile*`` at the root, relative, existing."""
        names = {self.rel(self.root / image.dockerfile) for image in self.settings.images}
        names |= {p.name for p in self.root.glob("Dockerfile*") if p.is_file()}
        return sorted(n for n in names if (self.root / n).is_file())

    def rel(self, path: Path) -> str:
        """``path`` (absolute) relative to the resolved root, or whole when it is outside."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()


def per_project(
    compute: Callable[Concatenate[Project, P], T],
) -> Callable[Concatenate[Project, P], T]:
    """``compute`` run once per project and arguments: the checks that need it share it."""

    @functools.wraps(compute)
    def once(project: Project, *args: P.args, **kwargs: P.kwargs) -> T:
        key = (compute, args, tuple(kwargs.items()))
        if key not in project._cache:
            project._cache[key] = compute(project, *args, **kwargs)
        return cast(T, project._cache[key])

    return once


def exception_line(exc: BaseException) -> str:
    """The exception's type and the first line of its text, for a one-line verdict."""
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
