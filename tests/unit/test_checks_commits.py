"""conventional-commits and release-preview."""

from __future__ import annotations

import json

import pytest

from buildlib.checks.commits import (
    check_conventional_commits,
    check_release_preview,
    parse_commit,
    preview,
    split_commit,
)
from buildlib.checks.project import Project
from buildlib.doctor import collect
from tests.support.fixture_repo import commit, make_repo, write

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.mark.parametrize(
    ("message", "kind", "breaking"),
    [
        ("feat: add a thing", "feat", False),
        ("fix(handler): correct the order", "fix", False),
        ("feat(api)!: drop v1", "feat", True),
        ("refactor!: rename", "refactor", True),
        ("chore: tidy\n\nBREAKING CHANGE: the config moved", "chore", True),
        ("fix: x\n\nBREAKING-CHANGE: y", "fix", True),
        ("Feat: capitalized type", "Feat", False),
        ("fix: x\n\nBREAKING CHANGE:y", "fix", True),
        ("feat(): empty scope", None, False),
        ("Update README", None, False),
        ("feat:no space", "feat", False),
        ("feat(scope: unclosed", None, False),
        ("WIP", None, False),
        ("fixup! feat: add a thing", None, False),
    ],
)
def test_parse_commit(message, kind, breaking):
    parsed = parse_commit("abc1234", message)
    assert (parsed.type, parsed.breaking) == (kind, breaking)


# Where a BREAKING CHANGE stands decides whether release-please counts it: the parser
# (lib/parser.js body and footer) takes "BREAKING CHANGE:" at a body line's start, with its
# note running on below it, and "BREAKING CHANGE #" only as a footer; postProcessCommits
# (src/commit.ts) also finds "BREAKING-CHANGE:" anywhere in the body's text.
@pytest.mark.parametrize(
    ("message", "breaking"),
    [
        ("feat: drop Python 3.8\n\nBREAKING CHANGE:\nPython 3.8 is no longer supported.", True),
        ("feat(cli): rename --out\n\nThis is a BREAKING-CHANGE: --out is now --output.", True),
        ("fix: keep the cache\n\nBREAKING CHANGE #123\nsee the migration guide", False),
        ("fix: keep the cache\n\nBREAKING CHANGE #123", True),
        ("docs: explain\n\nA commit with BREAKING CHANGE: in a footer bumps the major", False),
        # the note's text is the last marker's: an empty footer undoes the "!" before it
        ("feat!: drop v1\n\nBREAKING CHANGE:", False),
        ("feat!: drop v1\n\nBREAKING CHANGE:\n  the v1 routes are gone", True),
    ],
)
def test_breaking_change_in_the_body(message, breaking):
    assert parse_commit("abc1234", message).breaking is breaking


# A footer's value goes on over the lines below it that open with whitespace (the parser's
# value and continuation, lib/parser.js): its last line is the note's text.
@pytest.mark.parametrize(
    ("message", "breaking", "release_as"),
    [
        ("feat: move the cache\n\nBREAKING CHANGE:\n  it now lives in ~/.cache", True, None),
        ("chore: release 2.0.0\n\nRelease-As:\n  2.0.0", False, "2.0.0"),
    ],
)
def test_footer_continued_on_the_next_lines(message, breaking, release_as):
    parsed = parse_commit("abc1234", message)
    assert (parsed.breaking, parsed.release_as) == (breaking, release_as)


def test_footer_commit_reads_its_continuation_lines():
    # test/fixtures/commit-messages/meta.txt of release-please, whose test/commits.ts
    # ("parses meta commits") expects the feat commit to be breaking
    message = (
        "meta: multiple commits.\n\nDetails.\n\nSome clarifying facts.\n\n"
        "fix: fixes bug #733\nfeat(recaptchaenterprise): migrate microgenerator\n"
        "  Committer: @miraleung\n  PiperOrigin-RevId: 345559154\n"
        "  BREAKING-CHANGE: for some reason this migration is breaking.\n"
        "  Source-Link: googleapis/googleapis@5e0dcb2\n\n"
        "fix(securitycenter): fixes security center.\n  Committer: @miraleung\n"
        "  PiperOrigin-RevId: 345559182\n  Source-Link: googleapis/googleapis@e5eef86"
    )
    commits = {(c.type, c.scope): c.breaking for c in split_commit("abc1234", message)}
    assert commits[("feat", "recaptchaenterprise")] is True
    assert commits[("fix", "securitycenter")] is False


# What the parser takes for a footer's token (lib/parser.js token, scope, breakingChange)
@pytest.mark.parametrize(
    ("message", "kind", "release_as"),
    [
        # a type with a scope and "!": release-please reads the type alone as release-as
        ("chore: release 2.0.0\n\nRelease-As(api)!: 2.0.0", "chore", "2.0.0"),
        # "!" alone is a token: the lines still end in footers
        ("chore: pin\n\nRelease-As: 2.0.0\n!: no type", "chore", "2.0.0"),
        # a line opening with a type and an unclosed "(" stops the parser (scope throws):
        # release-please drops the commit
        ("fix(cli): pass the timeout\n\nsubprocess.run(\n    cmd, timeout=t)", None, None),
        ("fix: nested calls\n\nf(g(x)) no longer fails", None, None),
    ],
)
def test_footer_tokens(message, kind, release_as):
    parsed = parse_commit("abc1234", message)
    assert (parsed.type, parsed.release_as) == (kind, release_as)


def test_footer_with_a_hash_is_parsed_again_without_it():
    # src/commit.ts:271-274 leaves out a " #" separator: "Refs #12: x" reads as "Refs12: x"
    parsed = split_commit("abc1234", "fix: x\n\nRefs #12: see the thread\nCloses #3")
    assert [c.type for c in parsed] == ["Refs12", "fix"]


def test_a_commit_whose_body_stops_the_parser_gets_a_hint_for_that_line(repo):
    bad = commit(repo, "fix(cli): pass the timeout\n\nsubprocess.run(\n    cmd, timeout=t)")

    result = check_conventional_commits(Project.load(repo))

    assert result.status == "warn"
    assert f"{bad}'s header is conventional, but a line of its body" in str(result.hint)
    assert "indent that line" in str(result.hint)


def test_release_as_footer():
    assert parse_commit("a", "chore: pin\n\nRelease-As: 2.0.0").release_as == "2.0.0"


def test_clean_history_since_the_tag(repo):
    commit(repo, "feat(api): add the thing")
    commit(repo, "fix: handle the edge")

    result = check_conventional_commits(Project.load(repo))

    assert result.status == "ok"
    assert "2 commit(s) since v0.1.0, all Conventional Commits" in result.message


def test_non_conventional_commit_is_listed_with_its_hash(repo):
    good = commit(repo, "feat: fine")
    bad = commit(repo, "Update stuff")
    other = commit(repo, "WIP")

    result = check_conventional_commits(Project.load(repo))

    assert (result.id, result.status) == ("conventional-commits", "warn")
    assert "2 of 3 commit(s) since v0.1.0" in result.message
    assert f"{bad} 'Update stuff'" in result.message and f"{other} 'WIP'" in result.message
    assert good not in result.message
    assert "git rebase -i v0.1.0" in result.hint


def test_merge_commits_are_not_counted(repo):
    from tests.support.fixture_repo import git

    git(repo, "switch", "-q", "-c", "topic")
    commit(repo, "feat: on a branch")
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge branch 'topic'", "topic")

    assert check_conventional_commits(Project.load(repo)).status == "ok"


def test_preview_reads_the_pull_request_title_in_a_merge_commit(repo):
    from tests.support.fixture_repo import git

    git(repo, "switch", "-q", "-c", "topic")
    commit(repo, "fix: on a branch")
    git(repo, "switch", "-q", "main")
    title = "Merge pull request #5 from acme/topic\n\nfeat: the pull request's title"
    git(repo, "merge", "-q", "--no-ff", "-m", title, "topic")

    result = check_release_preview(Project.load(repo))

    assert "0.1.0 -> 0.2.0: minor bump (1 feat), 2 commit(s) since v0.1.0" in result.message
    assert check_conventional_commits(Project.load(repo)).status == "ok"


def test_without_git_both_are_skipped(tmp_path):
    repo = make_repo(tmp_path, with_git=False)
    project = Project.load(repo)
    assert check_conventional_commits(project).status == "skipped"
    assert check_release_preview(project).status == "skipped"


def test_preview_from_the_repository(repo):
    commit(repo, "feat: a feature")
    commit(repo, "fix: a fix")

    result = check_release_preview(Project.load(repo))

    assert (result.id, result.status) == ("release-preview", "ok")
    assert "0.1.0 -> 0.2.0" in result.message
    assert "minor bump (1 feat)" in result.message


def test_preview_reason_names_the_hidden_feature_that_decides_the_bump():
    hide_feat = {
        "release-type": "python",
        "changelog-sections": [{"type": "feat", "hidden": True}, {"type": "fix"}],
    }

    version, why = preview("1.4.2", [c("feat: a"), c("fix: b")], hide_feat)

    assert (version, why) == ("1.5.0", "minor bump (1 feat)")


def test_preview_reason_for_a_patch_counts_the_user_facing_commits():
    version, why = preview("1.4.2", [c("fix: a"), c("perf: b"), c("chore: c")], PYTHON)

    assert (version, why) == ("1.4.3", "patch bump (1 fix, 1 perf)")


def test_preview_reads_pre_major_options_from_the_config(repo):
    config = json.loads((repo / "release-please-config.json").read_text())
    config["packages"]["."]["bump-minor-pre-major"] = True
    write(repo / "release-please-config.json", json.dumps(config))
    commit(repo, "feat!: breaking")

    result = check_release_preview(Project.load(repo))

    assert "0.1.0 -> 0.2.0" in result.message
    assert "bump-minor-pre-major" in result.message


PYTHON = {"release-type": "python"}


@pytest.mark.parametrize("key", ["release-type", "include-component-in-tag"])
def test_preview_reads_a_null_in_the_package_as_no_value(repo, key):
    # mergeReleaserConfig (src/manifest.ts:1742-1799) takes a package's option ?? the top
    # level's: a null in packages["."] leaves the top level's value
    config = json.loads((repo / "release-please-config.json").read_text())
    config["packages"]["."][key] = None
    write(repo / "release-please-config.json", json.dumps(config))
    commit(repo, "fix: a fix")

    result = check_release_preview(Project.load(repo))

    assert "0.1.0 -> 0.1.1: patch bump (1 fix), 1 commit(s) since v0.1.0" in result.message


def test_preview_is_skipped_for_a_release_type_it_does_not_follow(repo):
    config = json.loads((repo / "release-please-config.json").read_text())
    config["packages"]["."]["release-type"] = "simple"
    write(repo / "release-please-config.json", json.dumps(config))
    commit(repo, "feat: a feature")

    result = check_release_preview(Project.load(repo))

    assert result.status == "skipped"
    assert "release-type simple: the preview knows the python one only" in result.message


def test_preview_needs_the_manifest(repo):
    (repo / ".release-please-manifest.json").unlink()
    commit(repo, "fix: a fix")

    result = check_release_preview(Project.load(repo))

    assert result.status == "skipped"
    assert "no valid .release-please-manifest.json" in result.message


def test_preview_without_a_version_in_the_manifest_is_the_first_release(repo):
    write(repo / ".release-please-manifest.json", json.dumps({"sub": "2.0.0"}))
    commit(repo, "feat!: breaking")

    result = check_release_preview(Project.load(repo))

    assert result.status == "ok"
    assert "propose a first release -> 0.1.0" in result.message


def test_preview_reads_from_the_tag_of_the_manifest_version(repo):
    from tests.support.fixture_repo import git

    commit(repo, "feat: a feature")
    git(repo, "tag", "v0.2.0")  # the manifest still says 0.1.0: not release-please's release
    commit(repo, "fix: a fix")

    result = check_release_preview(Project.load(repo))

    assert "0.1.0 -> 0.2.0: minor bump (1 feat), 2 commit(s) since v0.1.0" in result.message


def test_preview_without_the_release_tag_reads_from_bootstrap_sha(repo):
    from tests.support.fixture_repo import git

    git(repo, "tag", "-d", "v0.1.0")
    base = git(repo, "rev-parse", "HEAD").strip()
    config = json.loads((repo / "release-please-config.json").read_text())
    write(repo / "release-please-config.json", json.dumps({**config, "bootstrap-sha": base}))
    commit(repo, "fix: a fix")

    result = check_release_preview(Project.load(repo))

    assert f"0.1.0 -> 0.1.1: patch bump (1 fix), 1 commit(s) since {base}" in result.message


def test_preview_reads_bootstrap_sha_from_the_top_level_only(repo):
    from tests.support.fixture_repo import git

    # parseConfig (src/manifest.ts:1444-1487) reads bootstrap-sha, last-release-sha and
    # commit-search-depth from the config's top level; a package's are not read
    git(repo, "tag", "-d", "v0.1.0")
    base = git(repo, "rev-parse", "HEAD").strip()
    config = json.loads((repo / "release-please-config.json").read_text())
    config["packages"]["."].update({"bootstrap-sha": base, "last-release-sha": base})
    write(repo / "release-please-config.json", json.dumps(config))
    commit(repo, "fix: a fix")

    result = check_release_preview(Project.load(repo))

    assert result.message.endswith("3 commit(s) in all history (no release tag yet)")


def test_doctor_on_a_repository_without_commits_skips_both_with_the_reason(tmp_path):
    from tests.support.fixture_repo import git

    repo = make_repo(tmp_path, with_git=False)
    git(repo, "init", "-q")  # HEAD names a branch that has no commit yet

    results = {r.id: r for r in collect(repo, engine=False)}

    for check in ("conventional-commits", "release-preview"):
        assert (results[check].status, results[check].message) == (
            "skipped",
            "the repository has no commits yet",
        )


def test_preview_with_the_manifest_but_no_release_tag_reads_all_history(repo):
    """release-please, finding no release for the manifest's version, takes that version as
    the latest one and reads the whole history (Manifest.buildPullRequests, src/manifest.ts:
    "No latest release found for path ... but a previous version ... was specified")."""
    from tests.support.fixture_repo import git

    git(repo, "tag", "-d", "v0.1.0")
    commit(repo, "fix: a fix")
    every = len(git(repo, "log", "--format=%h").splitlines())

    result = check_release_preview(Project.load(repo))

    assert result.status == "ok"
    assert result.message == (
        "release-please would propose 0.1.0 -> 0.2.0: minor bump (1 feat), "
        f"{every} commit(s) in all history (no release tag yet)"
    )


def test_without_a_release_tag_the_commit_check_reads_all_history_and_rebases_from_root(repo):
    from tests.support.fixture_repo import git

    git(repo, "tag", "-d", "v0.1.0")
    bad = commit(repo, "Update stuff")
    every = len(git(repo, "log", "--format=%h").splitlines())

    result = check_conventional_commits(Project.load(repo))

    assert result.status == "warn"
    assert f"1 of {every} commit(s) (no release tag yet: all history)" in result.message
    assert f"{bad} 'Update stuff'" in result.message
    assert "git rebase -i --root" in result.hint


def test_preview_with_only_hidden_commits_and_no_release_tag_proposes_nothing(tmp_path):
    from tests.support.fixture_repo import git

    repo = make_repo(tmp_path, with_git=False)
    git(repo, "init", "-q")
    commit(repo, "chore: adopt buildlib")
    commit(repo, "ci: add the workflow")

    result = check_release_preview(Project.load(repo))

    assert result.status == "ok"
    assert result.message == (
        "release-please would not propose a release: 2 commit(s) in all history "
        "(no release tag yet), no user-facing commits (only chore, ci)"
    )


def c(message):
    return parse_commit("0000000", message)


@pytest.mark.parametrize(
    ("current", "messages", "options", "expected"),
    [
        ("0.7.3", ["fix: a"], {}, "0.7.4"),
        ("0.7.3", ["feat: a", "fix: b"], {}, "0.8.0"),
        ("0.7.3", ["feat!: a"], {}, "1.0.0"),
        ("0.7.3", ["fix: a\n\nBREAKING CHANGE: b"], {}, "1.0.0"),
        ("0.7.3", ["feat!: a"], {"bump-minor-pre-major": True}, "0.8.0"),
        ("0.7.3", ["feat: a"], {"bump-patch-for-minor-pre-major": True}, "0.7.4"),
        ("1.4.2", ["feat!: a"], {"bump-minor-pre-major": True}, "2.0.0"),
        ("1.4.2", ["feat: a"], {"bump-patch-for-minor-pre-major": True}, "1.5.0"),
        ("1.4.2", ["perf: faster"], {}, "1.4.3"),
        ("1.4.2", ["chore: a", "ci: b", "Update"], {}, None),
        # release-type python shows docs and deps in its notes, not feature
        ("1.4.2", ["docs: b"], {}, "1.4.3"),
        ("1.4.2", ["deps: b"], {}, "1.4.3"),
        ("1.4.2", ["feature: b"], {}, None),
        # the bump reads every conventional commit: a hidden feature still makes it minor
        ("1.4.2", ["feature: a", "fix: b"], {}, "1.5.0"),
        # a commit release-please cannot parse is dropped with its Release-As footer
        ("1.4.2", ["Update\n\nRelease-As: 3.0.0", "fix: a"], {}, "1.4.3"),
        (
            "1.4.2",
            ["docs: b"],
            {"changelog-sections": [{"type": "docs", "section": "Docs"}]},
            "1.4.3",
        ),
        ("1.4.2", ["fix: a"], {"changelog-sections": [{"type": "fix", "hidden": True}]}, None),
        ("1.4.2", ["chore!: drop python 3.10"], {}, "2.0.0"),
        ("1.4.2", ["chore: x\n\nRelease-As: 3.0.0"], {}, "3.0.0"),
        ("1.4.2", ["fix: a"], {"release-as": "1.9.0"}, "1.9.0"),
        # the config's release-as does not make a release without user-facing commits
        ("1.4.2", ["chore: a"], {"release-as": "1.9.0"}, None),
        ("1.4.2", [], {"release-as": "1.9.0"}, None),
        # a Release-As footer shows its commit in the notes, whatever the sections
        (
            "1.4.2",
            ["ci: x\n\nRelease-As: 3.0.0"],
            {"changelog-sections": [{"type": "fix"}]},
            "3.0.0",
        ),
        ("1.4.2", ["fix: a"], {"versioning": "always-bump-minor"}, "1.5.0"),
        # the always-bump strategies ignore the pre-major options
        (
            "0.7.3",
            ["fix: a"],
            {"versioning": "always-bump-major", "bump-minor-pre-major": True},
            "1.0.0",
        ),
        (
            "0.0.1",
            ["feat!: a"],
            {"bump-minor-pre-major": True, "bump-patch-for-minor-pre-major": True},
            "0.1.0",
        ),
        (
            "0.7.3",
            ["feat: a"],
            {"bump-minor-pre-major": True, "bump-patch-for-minor-pre-major": True},
            "0.7.4",
        ),
        # release-please's Version: the first X.Y.Z, a -pre and +build kept by a bump
        ("1.4.2-rc.1", ["fix: a"], {}, "1.4.3-rc.1"),
        ("1.4.2rc1", ["fix: a"], {}, "1.4.3"),
        ("1.4.2", ["fix: a"], {"release-as": "v2.0.0"}, "2.0.0"),
        # release-please's parser: no space needed after the colon; the type keeps its case,
        # so "Feat" shows in the notes (the sections match it lowercased) but bumps a patch
        ("1.4.2", ["feat:a"], {}, "1.5.0"),
        ("1.4.2", ["Feat: a"], {}, "1.4.3"),
        (
            "1.4.2",
            ["feat(ui): a"],
            {"changelog-sections": [{"type": "feat", "scope": "api"}]},
            None,
        ),
        ("1.4.2", ["fix: a"], {"changelog-sections": []}, None),
        ("1.4.2", [], {}, None),
        # splitMessages: a paragraph opening with a listed type is a commit of its own
        ("1.4.2", ["chore: deps\n\nfeat: a new flag"], {}, "1.5.0"),
        (
            "1.4.2",
            ["chore: release\n\nBEGIN_NESTED_COMMIT\nfix: b\nEND_NESTED_COMMIT"],
            {},
            "1.4.3",
        ),
        # a footer that parses as a header is a commit too
        ("1.4.2", ["chore: update\n\ndeps: bump foo"], {}, "1.4.3"),
        ("1.4.2", ["feat: a\nfix!: b"], {}, "2.0.0"),
        ("1.4.2", ["chore: a\n\nSigned-off-by: A <a@example.com>"], {}, None),
        # Release-As counts as a footer only: in the body it is text
        ("1.4.2", ["chore: x\n\nRelease-As: 2.0.0\nsee above"], {}, None),
        ("1.4.2", ["fix: x\n\nrelease-as: 2.0.0\nRefs #12"], {}, "2.0.0"),
        # the notes keep a Release-As commit only when its value looks like a version
        ("1.4.2", ["chore: x\n\nRelease-As: v2.0.0"], {}, "2.0.0"),
        ("1.4.2", ["chore: x\n\nRelease-As: version 2.0.0"], {}, None),
        # no version in the manifest, or 0.0.0: python's first release, whatever the bump
        (None, ["feat!: a"], {}, "0.1.0"),
        ("0.0.0", ["feat!: a"], {"initial-version": "2.0.0"}, "0.1.0"),
        (None, ["chore: a"], {}, None),
        (None, ["chore: a\n\nRelease-As: 2.0.0"], {}, "2.0.0"),
    ],
)
def test_preview_rules(current, messages, options, expected):
    commits = [parsed for m in messages for parsed in split_commit("0000000", m)]
    version, why = preview(current, commits, {**PYTHON, **options})
    assert version == expected, why


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({}, "release-type node: the preview knows the python one only"),
        ({"release-type": "simple"}, "release-type simple"),
        ({"release-type": "python", "versioning": "service-pack"}, "versioning service-pack"),
        ({"release-type": "python", "release-as": "next"}, "'next' is not a version"),
        ({"release-type": "python", "changelog-type": "github"}, "changelog-type github"),
        ({"release-type": "python", "exclude-paths": ["docs"]}, "exclude-paths"),
        ({"release-type": "python", "last-release-sha": "abc"}, "last-release-sha abc"),
    ],
)
def test_preview_refuses_what_it_does_not_predict(options, error):
    with pytest.raises(ValueError, match=error):
        preview("1.4.2", [c("fix: a")], options)


# BaseStrategy.buildReleasePullRequest (src/strategies/base.ts) builds the version before
# it looks at the notes: a release-as that Version.parse cannot read stops release-please
# even without user-facing commits, and an empty Release-As footer is one.
@pytest.mark.parametrize(
    ("message", "options", "error"),
    [
        ("chore: x\n\nRelease-As: next", {}, "'next' is not a version"),
        ("fix: x\n\nRelease-As:", {}, "'' is not a version"),
        ("chore: x", {"release-as": "next"}, "'next' is not a version"),
    ],
)
def test_preview_refuses_a_release_as_without_a_version(message, options, error):
    with pytest.raises(ValueError, match=error):
        preview("1.4.2", split_commit("0000000", message), {**PYTHON, **options})
