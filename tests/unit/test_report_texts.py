"""The words ``push`` and ``release`` print and write for people and workflows: the plan of a
dry run, one line per published image, the GITHUB_OUTPUT values and the step summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildlib.credentials import Credentials
from buildlib.pushing import Access
from buildlib.releaseplan import ImagePublication, Published
from buildlib.report import print_plan, report

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


@pytest.fixture(autouse=True)
def _outside_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


def publications() -> list[ImagePublication]:
    return [
        ImagePublication("gpu", "acme/app", ("1.1.0", "1.1")),
        ImagePublication(
            "cpu",
            "acme/app-cpu",
            ("1.1.0",),
            skipped=(("latest", "1.2.0 is newer"), ("1", "1.2.0 is newer")),
        ),
    ]


@pytest.mark.parametrize(
    ("access", "login"),
    [
        (
            Access("ghcr.io", Credentials("bot", "token-123456", from_environment=True), "h"),
            "login from the environment",
        ),
        (
            Access("ghcr.io", Credentials("bot", "token-123456"), "h"),
            "using the existing docker login",
        ),
        (Access("ghcr.io", None, "h"), "no credentials (anonymous)"),
    ],
)
def test_the_plan_names_the_login_every_tag_and_every_tag_left_alone(
    capsys: pytest.CaptureFixture[str], access: Access, login: str
) -> None:
    print_plan(access, publications(), as_json=False, version="1.1.0")

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"==> plan for ghcr.io, version 1.1.0: {login}",
        "  gpu: acme/app ← 1.1.0, 1.1",
        "  cpu: acme/app-cpu ← 1.1.0",
        "    not moving latest: 1.2.0 is newer",
        "    not moving 1: 1.2.0 is newer",
    ]


def test_a_push_plan_has_no_version(capsys: pytest.CaptureFixture[str]) -> None:
    print_plan(Access("docker.io", None, "h"), [], as_json=False, version=None)
    assert capsys.readouterr().err == "==> plan for docker.io: no credentials (anonymous)\n"


def test_the_json_plan_is_one_document_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    access = Access("ghcr.io", Credentials("bot", "token-123456", from_environment=True), "h")
    print_plan(access, publications(), as_json=True, version="1.1.0")

    captured = capsys.readouterr()
    assert captured.err == ""
    assert json.loads(captured.out) == {
        "version": "1.1.0",
        "registry": "ghcr.io",
        "login": True,
        "images": [
            {"name": "gpu", "repository": "acme/app", "tags": ["1.1.0", "1.1"], "skipped": []},
            {
                "name": "cpu",
                "repository": "acme/app-cpu",
                "tags": ["1.1.0"],
                "skipped": [
                    {"tag": "latest", "reason": "1.2.0 is newer"},
                    {"tag": "1", "reason": "1.2.0 is newer"},
                ],
            },
        ],
    }
    assert "token-123456" not in captured.out


def results() -> list[Published]:
    return [
        Published("gpu", "acme/app", "acme/app:1.1.0", DIGEST, ["1.1.0", "1.1"]),
        Published("cpu", "acme/app-cpu", "acme/app-cpu:1.1.0", OTHER, ["1.1.0"], unchanged=True),
    ]


def test_every_published_image_gets_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    report(results(), "ghcr.io", as_json=False, version="1.1.0")

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"gpu: ghcr.io/acme/app:1.1.0, 1.1 → {DIGEST}",
        f"cpu: ghcr.io/acme/app-cpu:1.1.0 → {OTHER} (already there)",
    ]


@pytest.mark.parametrize(
    ("registry", "written"), [("docker.io", "docker.io"), ("registry.example:5000", None)]
)
def test_the_summary_line_names_the_registry_as_the_workflow_outputs_do(
    registry: str, written: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    report(results()[:1], registry, as_json=False, version="1.1.0")

    assert capsys.readouterr().err.splitlines() == [
        f"gpu: {written or registry}/acme/app:1.1.0, 1.1 → {DIGEST}"
    ]


def test_the_workflow_reads_every_digest_tag_and_full_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    output.write_text("earlier=1\n")
    summary.write_text("# Earlier step\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    report(results(), "ghcr.io", as_json=True, version=None)

    images = [
        {
            "name": "gpu",
            "repository": "acme/app",
            "digest": DIGEST,
            "tags": ["1.1.0", "1.1"],
            "references": ["ghcr.io/acme/app:1.1.0", "ghcr.io/acme/app:1.1"],
        },
        {
            "name": "cpu",
            "repository": "acme/app-cpu",
            "digest": OTHER,
            "tags": ["1.1.0"],
            "references": ["ghcr.io/acme/app-cpu:1.1.0"],
        },
    ]
    assert json.loads(capsys.readouterr().out) == {
        "version": None,
        "registry": "ghcr.io",
        "images": images,
    }
    assert output.read_text().splitlines() == [
        "earlier=1",  # appended to, never replaced: other steps' outputs stay
        f"gpu-digest={DIGEST}",
        "gpu-tags=1.1.0,1.1",
        "gpu-references=ghcr.io/acme/app:1.1.0,ghcr.io/acme/app:1.1",
        f"cpu-digest={OTHER}",
        "cpu-tags=1.1.0",
        "cpu-references=ghcr.io/acme/app-cpu:1.1.0",
        f"images={json.dumps(images)}",
    ]
    assert summary.read_text() == (
        "# Earlier step\n"
        "### Images pushed to ghcr.io\n\n"
        "| image | tags | digest |\n"
        "|---|---|---|\n"
        f"| `acme/app` | `1.1.0`, `1.1` | `{DIGEST}` |\n"
        f"| `acme/app-cpu` | `1.1.0` | `{OTHER}` |\n"
    )
