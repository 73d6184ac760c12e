"""push and release against a real registry (htpasswd auth on a loopback port), read back
over the Registry HTTP API. The docker client is wrapped by a script that records every
command line, so the token is checked against the argv of every docker process."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke
from tests.support.publishing import (
    REPOS,
    USER,
    assert_secret_never_leaked,
    commit_all,
    git,
    make_repo,
    release_digests,
    set_version,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stand_ins", "uv_lock")]


def test_push_main_all_images(registry, env_for, password, docker_log, tmp_path):
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    env = env_for(registry, GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary))
    # :main is pushed from the main branch only: a clone on main, not this checkout's branch
    clone = make_repo(tmp_path / "repo", "1.2.3")

    result = invoke("push", "--tag", "main", env=env, cwd=clone)

    assert result.returncode == 0, result.stderr[-3000:]
    outputs = output.read_text()
    for name, repo in REPOS.items():
        assert registry.tags(repo) == ["main"]
        digest = registry.digest(repo, "main")
        assert digest and f"{name}-digest={digest}" in outputs
        assert digest in summary.read_text()
    assert f"login {registry.host} --username {USER} --password-stdin" in docker_log[1].read_text()
    assert_secret_never_leaked(password, result, docker_log[1], tmp_path)


def test_push_several_tags_and_the_sha_tag_by_one_upload(registry, env_for, docker_log, tmp_path):
    output = tmp_path / "github_output"
    env = env_for(registry, GITHUB_OUTPUT=str(output))
    clone = make_repo(tmp_path / "repo", "1.2.3")  # on main, which :main is pushed from
    head = git(clone, "rev-parse", "HEAD").strip()

    argv = ("push", "--tag", "main", "--tag", "nightly", "--sha-tag", "--image", "cpu")
    result = invoke(*argv, env=env, cwd=clone)

    assert result.returncode == 0, result.stderr[-3000:]
    repo, sha = REPOS["cpu"], f"sha-{head[:7]}"
    assert sorted(registry.tags(repo)) == sorted(["main", "nightly", sha])
    assert len({registry.digest(repo, tag) for tag in ("main", "nightly", sha)}) == 1
    pushes = [line for line in docker_log[1].read_text().splitlines() if line.startswith("push")]
    assert len(pushes) == 1, pushes  # the other tags are added in the registry
    # not a release: the image claims to be `main`, its first tag, not the pyproject version
    assert registry.labels(repo, "main")["org.opencontainers.image.version"] == "main"
    references = [f"{registry.host}/{repo}:{tag}" for tag in ("main", "nightly", sha)]
    assert f"cpu-references={','.join(references)}" in output.read_text().splitlines()


def test_push_refuses_release_tags_without_force(registry, env_for):
    for tag in ("latest", "1.2.3", "1.2", "v2"):
        from_flag = invoke("push", "--tag", tag, "--image", "cpu", env=env_for(registry))
        # the tag variable is read the same way as --tag, and refused the same way
        from_env = invoke("push", "--image", "cpu", env=env_for(registry, TETRA_IMAGE_TAG=tag))
        for result in (from_flag, from_env):
            assert result.returncode == 2, (tag, result.stderr)
            assert "belongs to releases" in result.stderr and "Traceback" not in result.stderr
    assert registry.tags(REPOS["cpu"]) == []


def test_release_lifecycle(registry, env_for, password, docker_log, tmp_path):
    repo = make_repo(tmp_path / "repo", "1.2.3")
    env = env_for(registry)

    plan = invoke("release", "--dry-run", "--json", env=env, cwd=repo)
    assert plan.returncode == 0, plan.stderr
    document = json.loads(plan.stdout)
    assert document["version"] == "1.2.3" and document["login"] is True
    assert [(i["name"], i["repository"], i["tags"]) for i in document["images"]] == [
        (name, repo_name, ["1.2.3", "1.2", "1", "latest"]) for name, repo_name in REPOS.items()
    ]
    assert registry.tags(REPOS["gpu"]) == []

    first = invoke("release", env=env, cwd=repo)
    assert first.returncode == 0, first.stderr[-3000:]
    for name, repo_name in REPOS.items():
        assert sorted(registry.tags(repo_name)) == ["1", "1.2", "1.2.3", "latest"]
        digests = {registry.digest(repo_name, t) for t in ("1.2.3", "1.2", "1", "latest")}
        assert len(digests) == 1, (name, digests)
    released = release_digests(registry, "1.2.3")
    assert_secret_never_leaked(password, first, docker_log[1], tmp_path)
    pushes = [line for line in docker_log[1].read_text().splitlines() if line.startswith("push")]
    assert len(pushes) == 3, pushes  # floating tags are added in the registry, not uploaded

    again = invoke("release", env=env, cwd=repo)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already in the registry with the same content" in again.stderr
    assert release_digests(registry, "latest") == released

    set_version(repo, "1.3.0rc1")
    pre = invoke("release", "--image", "cpu", env=env, cwd=repo)
    assert pre.returncode == 0, pre.stderr[-3000:]
    assert "1.3.0rc1" in registry.tags(REPOS["cpu"])
    assert "1.3" not in registry.tags(REPOS["cpu"])
    assert release_digests(registry, "latest") == released
    assert registry.digest(REPOS["cpu"], "1") == released["cpu"]


def test_a_newer_release_moves_the_floating_tags_and_a_backport_only_its_line(
    registry, env_for, tmp_path
):
    """1.2.3, then 1.2.4 from changed code: `1.2`, `1` and `latest` move to 1.2.4. Then a
    backport 1.1.0 (from a later commit) gets `1.1` and moves nothing else."""
    repo = make_repo(tmp_path / "repo", "1.2.3")
    env = env_for(registry)
    first = invoke("release", env=env, cwd=repo)
    assert first.returncode == 0, first.stderr[-3000:]
    old = release_digests(registry, "1.2.3")

    (repo / "worker" / "changed.py").write_text("CHANGED = 124\n")
    commit_all(repo, "fix: a change for 1.2.4")
    set_version(repo, "1.2.4")
    second = invoke("release", env=env, cwd=repo)

    assert second.returncode == 0, second.stderr[-3000:]
    new = release_digests(registry, "1.2.4")
    for name in REPOS:
        assert new[name] is not None and new[name] != old[name], name
    for tag in ("1.2", "1", "latest"):
        assert release_digests(registry, tag) == new, tag
    assert release_digests(registry, "1.2.3") == old

    (repo / "worker" / "changed.py").write_text("CHANGED = 110\n")
    commit_all(repo, "fix: the backport")
    set_version(repo, "1.1.0")
    backport = invoke("release", env=env, cwd=repo)

    assert backport.returncode == 0, backport.stderr[-3000:]
    line = release_digests(registry, "1.1.0")
    assert release_digests(registry, "1.1") == line
    for name in REPOS:
        assert line[name] not in (None, new[name], old[name]), name
    for tag in ("1.2", "1", "latest"):
        assert release_digests(registry, tag) == new, tag


def test_changed_image_under_existing_version_is_refused(registry, env_for, tmp_path):
    repo = make_repo(tmp_path / "repo", "2.0.0")
    env = env_for(registry)
    assert invoke("release", "--image", "cpu", env=env, cwd=repo).returncode == 0
    before = registry.digest(REPOS["cpu"], "2.0.0")
    (repo / "worker" / "changed.py").write_text("CHANGED = True\n")
    commit_all(repo, "fix: change the worker without bumping")
    git(repo, "tag", "-f", "v2.0.0")

    result = invoke("release", "--image", "cpu", env=env, cwd=repo)

    assert result.returncode != 0
    assert "immutable" in result.stderr and "Traceback" not in result.stderr
    assert "--force" in result.stderr
    assert registry.digest(REPOS["cpu"], "2.0.0") == before


def test_release_needs_its_git_tag_at_head(registry, env_for, tmp_path):
    repo = make_repo(tmp_path / "repo", "3.1.0", tag=False)

    result = invoke("release", env=env_for(registry), cwd=repo)

    assert result.returncode == 5
    assert "git tag v3.1.0" in result.stderr and "does not exist" in result.stderr
    assert registry.tags(REPOS["gpu"]) == []


def test_push_and_release_without_credentials_give_one_answer_before_any_build(
    registry, env_for, docker_log, tmp_path
):
    repo = make_repo(tmp_path / "repo", "3.2.0")
    env = env_for(registry, DOCKERHUB_USERNAME="", DOCKERHUB_TOKEN="")

    pushed = invoke("push", "--tag", "topic", env=env, cwd=repo)
    released = invoke("release", env=env, cwd=repo)

    for result in (pushed, released):
        assert result.returncode == 5, result.stderr[-3000:]
        assert f"{registry.host} requires a login, and there are no credentials" in result.stderr
        assert "DOCKERHUB_USERNAME and DOCKERHUB_TOKEN" in result.stderr
    log = docker_log[1].read_text() if docker_log[1].exists() else ""
    builds = ("build ", "buildx build ", "buildx bake ", "push ")
    assert not [line for line in log.splitlines() if line.startswith(builds)], log


def test_per_image_release_jobs_move_floating_tags_only_after_the_last(registry, env_for, tmp_path):
    """CI runs one docker-prod job per image; none moves `latest` until all have the version."""
    repo = make_repo(tmp_path / "repo", "4.0.0")
    env = env_for(registry)

    def planned(name: str) -> tuple[list[str], list[str]]:
        dry = invoke("release", "--image", name, "--dry-run", "--json", env=env, cwd=repo)
        (image,) = json.loads(dry.stdout)["images"]
        return image["tags"], [skipped["tag"] for skipped in image["skipped"]]

    for name in ("cpu", "gpu"):
        # the dry run plans what the real run does: the floating tags wait for the others
        assert planned(name) == (["4.0.0"], ["4.0", "4", "latest"])
        result = invoke("release", "--image", name, env=env, cwd=repo)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "floating tags not moved yet" in result.stderr
        assert release_digests(registry, "latest") == {"gpu": None, "cpu": None, "lb": None}

    assert planned("lb") == (["4.0.0", "4.0", "4", "latest"], [])
    last = invoke("release", "--image", "lb", env=env, cwd=repo)

    assert last.returncode == 0, last.stderr[-3000:]
    for name, repo_name in REPOS.items():
        full = registry.digest(repo_name, "4.0.0")
        assert full is not None
        assert {registry.digest(repo_name, t) for t in ("4.0", "4", "latest")} == {full}, name
