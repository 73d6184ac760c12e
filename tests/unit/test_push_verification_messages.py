"""What a verified push says, and what metadata that is not a JSON object reads as."""

from __future__ import annotations

import json
import locale
from pathlib import Path

import pytest

from buildlib.digests import read_metadata, verify_pushed

DIGEST = "sha256:" + "c" * 64


class HoldsDigest:
    host = "registry.example"

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        return DIGEST


def test_a_verified_push_names_the_reference_and_its_digest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert verify_pushed(HoldsDigest(), "acme/gpu", "acme/gpu:1", "1", DIGEST) == DIGEST  # type: ignore[arg-type]
    assert f"pushed acme/gpu:1 ({DIGEST})" in capsys.readouterr().err


@pytest.mark.parametrize("written", [[DIGEST], "text", 3, None])
def test_metadata_that_is_not_an_object_reads_as_empty(tmp_path: Path, written: object) -> None:
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(written), encoding="utf-8")
    assert read_metadata(path) == {}


def test_metadata_is_read_as_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    path = tmp_path / "metadata.json"
    written = {"containerimage.digest": DIGEST, "label": "café"}
    path.write_bytes(json.dumps(written, ensure_ascii=False).encode("utf-8"))
    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # an ASCII locale: what open() reads by default
    try:
        assert read_metadata(path) == written
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)
