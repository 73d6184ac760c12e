"""A build that pushes (a multi-platform image, or one with attestations) is verified by
the digest buildx reports (``--metadata-file``, ``containerimage.digest``) against the one
the registry holds, not by the tag merely existing. No buildx here: a stand-in docker
client writes the metadata file as buildx does; the registry side runs against a real
registry in tests/integration/test_registry_auth.py."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from buildlib import digests
from buildlib.build import execute
from buildlib.config import ImageSpec
from buildlib.docker import build_command
from buildlib.engine import Capabilities
from buildlib.errors import NotVerified, PublishError, UsageError
from buildlib.plan import BuildPlan, ImageBuild
from buildlib.runner import Runner

INDEX = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
MULTI = ("linux/amd64", "linux/arm64")

FAKE_BUILDX = """\
#!{python}
import json, sys
args = sys.argv[1:]
def value(flag):
    return args[args.index(flag) + 1] if flag in args else None
if args[:2] == ["buildx", "build"]:
    if value("--iidfile"):
        open(value("--iidfile"), "w").write("{index}")
    if value("--metadata-file"):
        json.dump({{"containerimage.digest": "{index}"}}, open(value("--metadata-file"), "w"))
elif args[:2] == ["buildx", "bake"]:
    targets = [a for a in args[2:] if not a.startswith("-")]
    targets = [t for t in targets if t not in (value("--file"), value("--progress"),
               value("--metadata-file"))]
    json.dump({{t: {{"containerimage.digest": "{index}"}} for t in targets}},
              open(value("--metadata-file"), "w"))
else:
    sys.exit("the stand-in runs nothing else: " + " ".join(args))
"""


def stand_in(tmp_path: Path) -> Capabilities:
    fake = tmp_path / "docker"
    fake.write_text(FAKE_BUILDX.format(python=sys.executable, index=INDEX), encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return Capabilities(
        str(fake), "buildx", "27.3.1", buildx_version="v0.17.1", server_version="27"
    )


def a_build(tmp_path: Path, name: str) -> ImageBuild:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    return ImageBuild(
        image=ImageSpec(name, f"acme/{name}", "Dockerfile", "."),
        references=(f"acme/{name}:main",),
        dockerfile=tmp_path / "Dockerfile",
        context=tmp_path,
        platforms=MULTI,
        build_args=(),
        labels=(),
        output="push",
        workdir=tmp_path,
    )


def test_buildx_is_asked_for_a_metadata_file(tmp_path: Path) -> None:
    caps = stand_in(tmp_path)
    argv, _ = build_command(a_build(tmp_path, "gpu"), caps, metadata_file=tmp_path / "m.json")
    assert argv[argv.index("--metadata-file") + 1] == str(tmp_path / "m.json")
    builtin = Capabilities("docker", "buildkit", "20.10.24", server_version="20.10.24")
    argv, _ = build_command(a_build(tmp_path, "gpu"), builtin, metadata_file=tmp_path / "m.json")
    assert "--metadata-file" not in argv


def test_one_pushed_build_reports_the_digest_buildx_wrote(tmp_path: Path) -> None:
    caps = stand_in(tmp_path)
    plan = BuildPlan(caps, (a_build(tmp_path, "gpu"),))
    (built,) = execute(plan, Runner(quiet=True))
    assert built.digest == INDEX


def test_a_bake_reports_each_targets_digest(tmp_path: Path) -> None:
    caps = stand_in(tmp_path)
    plan = BuildPlan(caps, (a_build(tmp_path, "gpu"), a_build(tmp_path, "cpu")), jobs=2)
    built = execute(plan, Runner(quiet=True))
    assert [(image.name, image.digest) for image in built] == [("gpu", INDEX), ("cpu", INDEX)]


class StubClient:
    host = "registry.example"

    def __init__(self, held: str | None) -> None:
        self.held = held

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        return self.held


def test_the_registry_must_hold_what_the_build_reported() -> None:
    assert digests.verify_pushed(StubClient(INDEX), "acme/gpu", "acme/gpu:main", "main", INDEX) == (  # type: ignore[arg-type]
        INDEX
    )
    with pytest.raises(PublishError) as caught:
        digests.verify_pushed(StubClient(OTHER), "acme/gpu", "acme/gpu:main", "main", INDEX)  # type: ignore[arg-type]
    assert caught.value.message == (
        "another writer replaced acme/gpu:main during this run: the registry has "
        f"{OTHER[:19]}, the build pushed {INDEX[:19]}"
    )
    with pytest.raises(NotVerified, match="lists nothing under acme/gpu:main"):
        digests.verify_pushed(StubClient(None), "acme/gpu", "acme/gpu:main", "main", INDEX)  # type: ignore[arg-type]


def test_without_a_reported_digest_it_says_it_only_checked_the_tag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert digests.verify_pushed(StubClient(OTHER), "acme/gpu", "acme/gpu:main", "main", None) == (  # type: ignore[arg-type]
        OTHER
    )
    assert "reported no digest (--metadata-file)" in capsys.readouterr().err


def test_metadata_is_read_as_buildx_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps({"containerimage.digest": INDEX}), encoding="utf-8")
    assert digests.pushed_digest(digests.read_metadata(path)) == INDEX
    path.write_text("not json", encoding="utf-8")
    assert digests.read_metadata(path) == {}
    assert digests.pushed_digest({"containerimage.digest": "md5:x"}) is None


def test_several_platforms_without_buildx_is_one_line_with_the_fix(tmp_path: Path) -> None:
    from buildlib import config as config_module
    from buildlib.flags import ImageFlags
    from buildlib.options import options_for
    from buildlib.plan import make_plan
    from tests.support.config_repo import write_repo

    write_repo(tmp_path)
    config = config_module.load(tmp_path)
    options = options_for(
        config, ImageFlags(platform="linux/amd64,linux/arm64"), tag="main", environ={}
    )
    builtin = Capabilities("docker", "buildkit", "20.10.24", server_version="20.10.24")
    with pytest.raises(UsageError) as caught:
        make_plan(config, config.select(["cpu"]), options, builtin, output="push")
    assert "\n" not in str(caught.value)
    assert caught.value.message == (
        "cpu: building linux/amd64, linux/arm64 at once needs docker buildx (this client has "
        "the BuildKit built into the engine (client 20.10.24))"
    )
    assert caught.value.hint == "install the buildx plugin, or pass one --platform"


def test_each_verification_failure_says_the_fix() -> None:
    """A refused push names its way out: take turns for a replaced tag, look at the
    registry's storage for a tag it does not list."""
    with pytest.raises(PublishError) as replaced:
        digests.verify_pushed(StubClient(OTHER), "acme/gpu", "acme/gpu:main", "main", INDEX)  # type: ignore[arg-type]
    assert replaced.value.hint == (
        "run it again; runs that push the same tag must take turns (a CI concurrency group)"
    )
    with pytest.raises(PublishError) as missing:
        digests.verify_pushed(StubClient(None), "acme/gpu", "acme/gpu:main", "main", INDEX)  # type: ignore[arg-type]
    assert missing.value.message == (
        "acme/gpu:main was pushed, but the registry could not confirm it: registry.example "
        "lists nothing under acme/gpu:main"
    )
    assert missing.value.hint == "check registry.example's storage, then push again"


def test_the_unverified_digest_warning_is_one_whole_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    digests.verify_pushed(StubClient(OTHER), "acme/gpu", "acme/gpu:main", "main", None)  # type: ignore[arg-type]
    assert (
        "the build of acme/gpu:main reported no digest (--metadata-file): only checked that "
        "the registry lists the tag; a newer buildx reports it"
    ) in " ".join(capsys.readouterr().err.split())
