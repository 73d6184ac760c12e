"""The build context buildlib computes is the one the engine receives: a tricky
``.dockerignore`` is sent through a real build (``COPY . /ctx/``) and the image's files are
compared with :func:`buildlib.context.context_files`."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from buildlib.context import context_files, matcher_for

pytestmark = pytest.mark.integration

IGNORE = """\
# a comment, then a BOM-free list
*.md
!KEEP.md
**/*.pyc
docs
!docs/keep.txt
/build/
[^a]bc
a\\*b
Secret.env
sub/*/deep.txt
./tmp
"""
FILES = [
    "README.md",
    "KEEP.md",
    "x.pyc",
    "sub/y.pyc",
    "docs/a.txt",
    "docs/keep.txt",
    "build/z",
    "xbc",
    "abc",
    "a*b",
    "axxb",
    "secret.env",
    "Secret.env",
    "sub/q/deep.txt",
    "sub/deep.txt",
    "tmp/t",
    "notes/inner.md",
]


def test_context_files_are_what_the_engine_sends(tmp_path: Path, docker_bin: str) -> None:
    for rel in FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / ".dockerignore").write_text(IGNORE)
    (tmp_path / "Dockerfile").write_text('FROM scratch\nCOPY . /ctx/\nCMD ["none"]\n')
    tag = f"buildlib-context-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    build = subprocess.run(
        [docker_bin, "build", "-q", "-t", tag, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert build.returncode == 0, build.stderr
    try:
        container = subprocess.run(
            [docker_bin, "create", tag], capture_output=True, text=True, check=True
        ).stdout.strip()
        exported = subprocess.run([docker_bin, "export", container], capture_output=True)
        subprocess.run([docker_bin, "rm", container], capture_output=True)
    finally:
        subprocess.run([docker_bin, "image", "rm", "--force", tag], capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as archive:
        sent = sorted(
            m.name.removeprefix("ctx/")
            for m in archive.getmembers()
            if m.isfile() and m.name.startswith("ctx/")
        )

    assert context_files(tmp_path, matcher_for(tmp_path / "Dockerfile", tmp_path)) == sent
