"""run_preflight: the fast subset that build, push and release run first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from buildlib import config as config_module
from buildlib.checks import CheckResult
from buildlib.checks import lock as lock_module
from buildlib.checks.preflight import preflight, run_preflight
from buildlib.config import ImageSpec
from buildlib.errors import CheckFailed
from tests.support.fixture_repo import TOKEN_ENV, USER_ENV, git, make_repo, write

pytestmark = pytest.mark.usefixtures("isolated")


@dataclass(frozen=True)
class Build:  # the fields of plan.ImageBuild that preflight reads
    image: ImageSpec
    dockerfile: Path
    references: tuple[str, ...]

    @property
    def primary(self) -> str:
        return self.references[0]

    @property
    def published(self) -> str:
        return self.references[0]


def builds(config, tag="local", registry=""):
    prefix = f"{registry}/" if registry else ""
    return tuple(
        Build(i, config.root / i.dockerfile, (f"{prefix}{i.repository}:{tag}",))
        for i in config.images
    )


def failed(results):
    return [(r.id, r.file, r.line) for r in results if r.status == "fail"]


def test_clean_build_preflight(repo):
    config = config_module.load(repo)
    results = run_preflight(config, builds(config), "build")
    assert failed(results) == []
    assert {r.id for r in results} == {"line-endings", "uv-lock-fresh", "secret-build-args"}


def test_a_build_preflight_asks_git_nothing_its_checks_do_not_use(repo, monkeypatch):
    import buildlib.git

    asked, ask = [], buildlib.git.ask
    monkeypatch.setattr(
        buildlib.git, "ask", lambda argv, **kw: asked.append(argv) or ask(argv, **kw)
    )
    config = config_module.load(repo)
    ok = CheckResult("uv-lock-fresh", "ok", "")
    assert failed(run_preflight(config, builds(config), "build", lock_fresh=lambda: ok)) == []
    assert asked == []


def test_the_preflight_checks_the_configuration_it_is_given_without_parsing_it_again(
    repo, monkeypatch
):
    config = config_module.load(repo)
    monkeypatch.setattr(config_module, "parse", lambda *a, **k: pytest.fail("parsed again"))
    ok = CheckResult("uv-lock-fresh", "ok", "")
    assert failed(run_preflight(config, builds(config), "build", lock_fresh=lambda: ok)) == []


def test_build_preflight_asks_uv_offline(repo, monkeypatch):
    asked = []

    def fake_uv(project, argv):
        asked.append(argv[1:])
        return lock_module.UvResult(True, "")

    monkeypatch.setattr(lock_module, "run_uv", fake_uv)
    config = config_module.load(repo)
    run_preflight(config, builds(config), "build")
    assert asked == [["lock", "--check", "--offline"]]

    asked.clear()  # a result the caller already has (build runs uv beside its probes)
    given = CheckResult("uv-lock-fresh", "fail", "stale", file="uv.lock")
    results = run_preflight(config, builds(config), "build", lock_fresh=lambda: given)
    assert asked == [] and given in results


def test_images_that_do_not_install_from_the_lock_skip_the_lock_checks(repo):
    write(repo / "Dockerfile", "FROM scratch\nCOPY app /app\n")
    (repo / "uv.lock").unlink()
    config = config_module.load(repo)

    results = run_preflight(config, builds(config), "build")

    assert failed(results) == []
    assert not {r.id for r in results} & {"uv-lock", "uv-lock-fresh"}


def test_build_preflight_catches_crlf_stale_lock_and_secret_args(repo):
    write(repo / "Dockerfile", "FROM scratch\r\nARG GITHUB_TOKEN\r\nCOPY uv.lock /app/\r\n")
    path = repo / "pyproject.toml"
    path.write_text(path.read_text().replace('"cloudpickle>=3.0",', '"cloudpickle>=3.0", "rich",'))
    config = config_module.load(repo)

    results = run_preflight(config, builds(config), "build")

    assert failed(results) == [
        ("line-endings", "Dockerfile", 1),
        ("uv-lock-fresh", "uv.lock", None),
        ("secret-build-args", "Dockerfile", 2),
    ]


def test_preflight_raises_the_first_failure_and_counts_the_others(repo):
    write(repo / "Dockerfile", "FROM scratch\r\nARG GITHUB_TOKEN\r\n")
    config = config_module.load(repo)

    with pytest.raises(CheckFailed) as caught:
        preflight(config, builds(config), "build")

    assert caught.value.message.endswith(" (and 1 more: `invoke doctor`)")
    assert "CRLF" in caught.value.message
    assert caught.value.location == "Dockerfile:1"
    assert caught.value.exit_code == 5


def test_a_stale_lock_names_uv_lock_once_and_keeps_its_place_and_fix(repo, monkeypatch):
    def stale(project, argv):
        if "--dry-run" in argv:
            return lock_module.UvResult(True, "Update rich v13.0.0 -> v14.0.0")
        return lock_module.UvResult(False, "needs to be updated")

    monkeypatch.setattr(lock_module, "run_uv", stale)
    config = config_module.load(repo)

    with pytest.raises(CheckFailed) as caught:
        preflight(config, builds(config), "build")

    assert str(caught.value).startswith(
        "uv.lock is out of date (uv lock --check): Update rich v13.0.0 -> v14.0.0 (fix: uv lock "
    )
    assert caught.value.location == "uv.lock"  # the GitHub annotation's file


def test_missing_lock_fails_the_build(tmp_path):
    repo = make_repo(tmp_path, with_lock=False)
    config = config_module.load(repo)
    assert ("uv-lock", "uv.lock", None) in failed(run_preflight(config, builds(config), "build"))


def test_push_needs_credentials_and_main_for_main(repo, monkeypatch):
    git(repo, "switch", "-q", "-c", "feature")
    config = config_module.load(repo)

    results = run_preflight(config, builds(config, tag="main"), "push")
    assert [r[0] for r in failed(results)] == ["credentials", "git-branch"]

    monkeypatch.setenv(USER_ENV, "alice")
    monkeypatch.setenv(TOKEN_ENV, "secret")
    other_tag = run_preflight(config, builds(config, tag="pr-12"), "push")
    assert failed(other_tag) == []
    assert "git-branch" not in {r.id for r in other_tag}


def loaded_for_push(config, tag):
    """The builds a real push pre-flights: loaded under a local name of the run."""
    from buildlib.plan import BuildPlan, ImageBuild
    from buildlib.releaseplan import run_local
    from tests.support.publish_fakes import CAPS

    made = tuple(
        ImageBuild(
            image=i,
            references=(f"{i.repository}:{tag}",),
            dockerfile=config.root / i.dockerfile,
            context=config.root,
            platforms=("linux/amd64",),
            build_args=(),
            labels=(),
        )
        for i in config.images
    )
    return run_local(BuildPlan(CAPS, made)).builds


@pytest.mark.parametrize(("first", "tags"), [("main", ("main",)), ("topic", ("topic", "main"))])
def test_a_push_that_writes_main_needs_main_whatever_the_local_name(repo, monkeypatch, first, tags):
    git(repo, "switch", "-q", "-c", "feature")
    monkeypatch.setenv(USER_ENV, "alice")
    monkeypatch.setenv(TOKEN_ENV, "secret")
    config = config_module.load(repo)
    loaded = loaded_for_push(config, first)
    assert all("-buildlib-" in b.references[0] for b in loaded)

    results = run_preflight(config, loaded, "push", tags=tags)

    assert [r[0] for r in failed(results)] == ["git-branch"]
    assert failed(run_preflight(config, loaded_for_push(config, "topic"), "push")) == []


def test_a_push_of_main_outside_git_is_refused_and_another_tag_is_not(tmp_path, monkeypatch):
    # outside git neither the branch nor the files an image ships can be known: a :main
    # image would be labelled revision=unknown, so :main is pushed from a clone only
    monkeypatch.setenv(USER_ENV, "alice")
    monkeypatch.setenv(TOKEN_ENV, "secret")
    repo = make_repo(tmp_path, with_git=False)
    config = config_module.load(repo)

    results = run_preflight(config, builds(config, tag="main"), "push")

    [branch] = [r for r in results if r.status == "fail"]
    assert branch.id == "git-branch"
    assert branch.message == "not a git repository: :main images are pushed from a clone on main"
    assert branch.hint == "run it in a clone on main (or push another tag: invoke push --tag NAME)"
    assert failed(run_preflight(config, builds(config, tag="pr-12"), "push")) == []


def test_a_main_branch_with_a_slash_guards_the_tag_made_of_its_name(repo, monkeypatch):
    # a tag holds no "/": release/1.x's images are :release-1.x, as docker/metadata-action's
    # type=ref,event=branch names them; compared with the branch's own name, the guard was off
    text = (repo / "pyproject.toml").read_text()
    write(
        repo / "pyproject.toml",
        text.replace("[tool.buildlib]\n", '[tool.buildlib]\nmain-branch = "release/1.x"\n'),
    )
    git(repo, "switch", "-q", "-c", "feature")
    monkeypatch.setenv(USER_ENV, "alice")
    monkeypatch.setenv(TOKEN_ENV, "secret")
    config = config_module.load(repo)

    results = run_preflight(config, builds(config, "release-1.x"), "push")

    [branch] = [r for r in results if r.status == "fail"]
    assert branch.message == (
        "on branch feature, but :release-1.x images are pushed from release/1.x only"
    )
    assert branch.hint.startswith("git switch release/1.x && git pull")
    git(repo, "switch", "-q", "-c", "release/1.x")
    assert failed(run_preflight(config, builds(config, "release-1.x"), "push")) == []


def test_push_to_a_local_registry_reads_its_login(repo):
    config = config_module.load(repo)
    local = builds(config, tag="x", registry="127.0.0.1:5000")
    results = run_preflight(config, local, "push", registry="127.0.0.1:5000")
    [credentials] = [r for r in results if r.id == "credentials"]
    assert credentials.status == "warn" and "127.0.0.1:5000" in credentials.message


def test_push_preflight_reads_the_credentials_of_the_environment_it_is_given(repo, monkeypatch):
    config = config_module.load(repo)
    given = {USER_ENV: "alice", TOKEN_ENV: "secret"}

    assert failed(run_preflight(config, builds(config, tag="x"), "push", environ=given)) == []
    monkeypatch.setenv(USER_ENV, "alice")
    monkeypatch.setenv(TOKEN_ENV, "secret")
    assert failed(run_preflight(config, builds(config, tag="x"), "push", environ={})) == [
        ("credentials", None, None)
    ]


def test_release_needs_the_tag_and_one_version(tmp_path, monkeypatch):
    monkeypatch.setenv(USER_ENV, "alice")
    monkeypatch.setenv(TOKEN_ENV, "secret")
    repo = make_repo(tmp_path, tagged=False)
    write(repo / ".release-please-manifest.json", '{".": "0.2.0"}\n')
    config = config_module.load(repo)

    results = run_preflight(config, builds(config, tag="0.1.0"), "release")

    assert [r[0] for r in failed(results)] == ["release-tag", "version-agreement"]
