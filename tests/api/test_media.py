"""Which uploads the edge accepts, and as what."""

from __future__ import annotations

import pytest

from schemas.media import resolve_media_type


@pytest.mark.parametrize(("filename", "declared", "head", "expected"), [
    ("a.pdf", "application/pdf", b"%PDF-", "application/pdf"),
    ("a.pdf", "application/octet-stream", b"", "application/pdf"),
    ("scan", None, b"\x89PNG\r\n\x1a\n", "image/png"),
    ("photo", "", b"\xff\xd8\xff\xe0", "image/jpeg"),
    ("photo.JPG", "image/jpg", b"", "image/jpeg"),
    ("notes.md", "text/plain", b"#", "text/markdown"),
    ("notes.md", "text/markdown; charset=utf-8", b"#", "text/markdown"),
    ("page.htm", "application/octet-stream", b"<", "text/html"),
    ("readme.txt", "text/plain", b"", "text/plain"),
    ("corrupt.pdf", "application/pdf", b"garbage", "application/pdf"),  # ingestion says why
    ("a.zip", "application/zip", b"PK", None),
    ("a.docx", "application/octet-stream", b"PK", None),
    ("anim.gif", "image/gif", b"GIF89a", None),
    ("mystery", None, b"\x00\x01", None),
])
def test_resolve_media_type(filename: str, declared: str | None, head: bytes,
                            expected: str | None) -> None:
    assert resolve_media_type(filename, declared, head) == expected
