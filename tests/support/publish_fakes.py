"""A stand-in registry and docker for driving ``push`` and ``release`` without an engine
(the integration tests share tests/support/publishing.py).

Only the edges are replaced: the registry client (:class:`StubRegistry`, in memory), the
docker commands (:class:`FakeDocker`, a Runner that builds, inspects and pushes into the stub)
and the engine detection. Everything publish decides
(what is pushed, in which order, what floats, what is refused, what is put back) runs as in
production, on a real git repository made by :func:`released_project`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from buildlib.engine import Capabilities
from buildlib.errors import BuildlibError, CommandFailed, RegistryError
from buildlib.runner import Result, Runner
from tests.support.config_repo import write_repo
from tests.support.fixture_repo import git

CAPS = Capabilities("docker", "buildkit", "28.0.1", server_version="28.0.1")
# buildx: a multi-platform image goes from the build straight to the registry (--push)
BUILDX = Capabilities("docker", "buildx", "28.0.1", "v0.19.3", server_version="28.0.1")
HOST = "docker.io"  # the fixture's registry: references carry no host


def digest_of(image_id: str) -> str:
    return "sha256:" + hashlib.sha256(image_id.encode()).hexdigest()


class StubRegistry:
    """repository -> tag -> manifest digest, and each digest's image (config) id.

    ``fail_add_tag`` maps (repository, tag) to the error the next re-tag there raises.
    ``writes`` lists every tag written, in order: (repository, tag, digest).
    """

    host = HOST
    credential_hint = None  # as a RegistryClient made without one

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, str]] = {}
        self.image_of: dict[str, str] = {}
        self.writes: list[tuple[str, str, str]] = []
        self.fail_add_tag: dict[tuple[str, str], BuildlibError] = {}
        # what buildx pushed: (repository, tag) -> platforms of the index, config labels
        self.index_platforms: dict[tuple[str, str], tuple[str, ...]] = {}
        self.labels: dict[tuple[str, str], dict[str, str]] = {}

    # what the fake docker push does
    def store(self, repository: str, tag: str, image_id: str) -> str:
        digest = digest_of(image_id)
        self.image_of[digest] = image_id
        self._write(repository, tag, digest)
        return digest

    def _write(self, repository: str, tag: str, digest: str) -> None:
        self.repos.setdefault(repository, {})[tag] = digest
        self.writes.append((repository, tag, digest))

    def tag_map(self, repository: str) -> dict[str, str]:
        return dict(self.repos.get(repository, {}))

    # the RegistryClient methods publish uses
    def tags(self, repo: str) -> list[str]:
        return sorted(self.repos.get(repo, {}))

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        return self.repos.get(repo, {}).get(tag)

    def config_digest(self, repo: str, tag: str, *, platform: str | None = None) -> str | None:
        digest = tag if tag in self.image_of else self.manifest_digest(repo, tag)
        return self.image_of[digest] if digest else None

    def platforms(self, repo: str, tag: str) -> tuple[str, ...] | None:
        if self.manifest_digest(repo, tag) is None:
            return None
        return self.index_platforms.get((repo, tag), ())

    def config_labels(
        self, repo: str, tag: str, *, platform: str | None = None
    ) -> dict[str, str] | None:
        if self.manifest_digest(repo, tag) is None:
            return None
        return self.labels.get((repo, tag), {})

    def add_tag(self, repo: str, source_ref: str, new_tag: str) -> str:
        error = self.fail_add_tag.pop((repo, new_tag), None)
        if error is not None:
            raise error
        if source_ref.startswith("sha256:"):
            digest = source_ref
        else:
            found = self.manifest_digest(repo, source_ref)
            if found is None:
                raise RegistryError(f"{repo}:{source_ref} not found")
            digest = found
        self._write(repo, new_tag, digest)
        return digest


class FakeDocker(Runner):
    """Runs no program: ``docker build`` makes an image whose id is the hash of its
    Dockerfile, ``docker tag`` and ``docker image rm`` name and unname it, ``docker push``
    stores it in the stub registry. ``push_failures`` are the
    outputs of the next failing pushes (exit 1), used in order."""

    def __init__(self, registry: StubRegistry) -> None:
        super().__init__(quiet=True)
        self.registry = registry
        self.images: dict[str, str] = {}  # local reference -> image id
        self.digests: dict[str, str] = {}  # local reference -> digest it was pushed as
        self.calls: list[list[str]] = []
        self.push_failures: list[str] = []
        # the output of a build that fails after pushing what it built (buildx --push)
        self.build_failure: str | None = None
        # the digest buildx says it pushed, when not what it stored (another writer won)
        self.reported: str | None = None

    def run(self, argv: Any, **kwargs: Any) -> Result:  # type: ignore[override]
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        result = self._answer(argv, kwargs)
        if kwargs.get("check", True) and not result.ok:
            raise CommandFailed(f"{kwargs.get('what') or argv[1]} failed: {result.stderr}")
        return result

    def _answer(self, argv: list[str], kwargs: dict[str, Any]) -> Result:
        if argv[1:3] == ["buildx", "build"]:
            return self._buildx(argv, kwargs)
        if argv[1] == "build":
            dockerfile = Path(kwargs.get("cwd") or ".") / argv[argv.index("--file") + 1]
            image_id = "sha256:" + hashlib.sha256(dockerfile.read_bytes()).hexdigest()
            for i, word in enumerate(argv):
                if word == "--tag":
                    self.images[argv[i + 1]] = image_id
            if "--iidfile" in argv:  # not in a dry run
                Path(argv[argv.index("--iidfile") + 1]).write_text(image_id, encoding="utf-8")
            return Result(argv, 0)
        if argv[1] == "tag":  # by image id or by name
            source, target = argv[2], argv[3]
            self.images[target] = self.images.get(source, source)
            return Result(argv, 0)
        if argv[1:3] == ["image", "inspect"]:
            found = self.images.get(argv[-1])
            return Result(argv, 0 if found else 1, found or "")
        if argv[1:3] == ["image", "rm"]:
            found = self.images.pop(argv[3], None)
            return Result(argv, 0 if found else 1)
        if argv[1] == "push":
            reference = argv[2]
            if self.push_failures:
                return Result(argv, 1, "", self.push_failures.pop(0))
            repository, _, tag = reference.rpartition(":")
            self.digests[reference] = self.registry.store(repository, tag, self.images[reference])
            return Result(argv, 0, f"{tag}: digest: {self.digests[reference]}\n")
        raise AssertionError(f"unexpected command {argv}")

    def _buildx(self, argv: list[str], kwargs: dict[str, Any]) -> Result:
        """A buildx build: ``--push`` stores an index of ``--platform`` with the labels."""
        dockerfile = Path(kwargs.get("cwd") or ".") / argv[argv.index("--file") + 1]
        image_id = "sha256:" + hashlib.sha256(dockerfile.read_bytes()).hexdigest()
        tags = [argv[i + 1] for i, word in enumerate(argv) if word == "--tag"]
        labels = dict(argv[i + 1].split("=", 1) for i, word in enumerate(argv) if word == "--label")
        platforms = tuple(argv[argv.index("--platform") + 1].split(","))
        if "--iidfile" in argv:
            Path(argv[argv.index("--iidfile") + 1]).write_text(image_id, encoding="utf-8")
        pushed = None
        for reference in tags:
            self.images[reference] = image_id
            if "--push" in argv:
                repository, _, tag = reference.rpartition(":")
                pushed = self.registry.store(repository, tag, image_id)
                self.registry.index_platforms[(repository, tag)] = platforms
                self.registry.labels[(repository, tag)] = labels
        if "--metadata-file" in argv and (self.reported or pushed):
            metadata = {"containerimage.digest": self.reported or pushed}
            Path(argv[argv.index("--metadata-file") + 1]).write_text(json.dumps(metadata))
        if self.build_failure is not None:
            return Result(argv, 1, "", self.build_failure)
        return Result(argv, 0)

    def builds(self) -> list[list[str]]:
        return [argv for argv in self.calls if "build" in argv[1:3]]

    def pushes(self) -> list[str]:
        return [argv[2] for argv in self.calls if argv[1] == "push"]


@contextmanager
def publishing(
    monkeypatch: pytest.MonkeyPatch, registry: StubRegistry, caps: Capabilities = CAPS
) -> Iterator[FakeDocker]:
    """Route publish's registry, engine and docker to the stand-ins; yield the docker."""
    import buildlib.publish as publish
    import buildlib.pushing as pushing

    docker = FakeDocker(registry)
    monkeypatch.setattr(pushing, "RegistryClient", lambda *args, **kwargs: registry)
    monkeypatch.setattr(publish, "detect", lambda *args, **kwargs: caps)
    # the pre-flight checks read the machine (engine, lock file): not what these test
    monkeypatch.setattr(publish, "preflight", lambda *args, **kwargs: None)
    monkeypatch.setattr(publish, "run_preflight", lambda *args, **kwargs: [])
    # retries wait between attempts; these tests count attempts, not seconds
    monkeypatch.setattr(pushing.time, "sleep", lambda seconds: None)
    yield docker


def released_project(root: Path, version: str, dockerfile: str = "FROM scratch\n") -> Path:
    """The two-image fixture repository at ``version``, committed and tagged v{version}.
    Call again with a later version (and other Dockerfile text for a changed image)."""
    if not (root / ".git").exists():
        root.mkdir(parents=True, exist_ok=True)
        write_repo(root)
        # the build context is the repository: its .git is no part of an image
        (root / ".dockerignore").write_text(".git\n", encoding="utf-8")
        git(root, "init", "-q", "-b", "main")
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    current = text.split('version = "', 1)[1].split('"', 1)[0]
    (root / "pyproject.toml").write_text(
        text.replace(f'version = "{current}"', f'version = "{version}"', 1), encoding="utf-8"
    )
    for name in ("Dockerfile", "Dockerfile-cpu"):
        (root / name).write_text(dockerfile, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", f"chore: release {version}")
    git(root, "tag", f"v{version}")
    return root


def reconfigure(root: Path, old: str, new: str, message: str) -> None:
    """``old`` becomes ``new`` (once) in the fixture's pyproject.toml, committed as ``message``;
    the release tag stays where it was."""
    path = root / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    git(root, "commit", "-qam", message)


GPU = "runpod/tetra-rp"
CPU = "runpod/tetra-rp-cpu"
