"""The document types chatstream indexes, and how an upload's type is decided.

Pure functions of the upload's name, declared type and first bytes: the edge checks the
type with them before anything is stored, the ingestion stage reads by the same names.
"""

from __future__ import annotations

from pathlib import PurePosixPath

__all__ = ("SUPPORTED_MEDIA_TYPES", "resolve_media_type")

SUPPORTED_MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "text/plain": (".txt", ".text"),
    "text/markdown": (".md", ".markdown"),
    "text/html": (".html", ".htm"),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
}
_ALIASES = {
    "application/x-pdf": "application/pdf",
    "text/x-markdown": "text/markdown",
    "application/xhtml+xml": "text/html",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
}
# What clients send when they do not know; then the file name (or the bytes) decide.
_GENERIC = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_MAGIC = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
          (b"\xff\xd8\xff", "image/jpeg"))


def _by_extension(filename: str) -> str | None:
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    for media_type, suffixes in SUPPORTED_MEDIA_TYPES.items():
        if suffix in suffixes:
            return media_type
    return None


def resolve_media_type(filename: str, declared: str | None, head: bytes) -> str | None:
    """The supported media type of an upload, or None when it is not one we index.

    The declared type wins when it is supported (``text/plain`` is refined by a ``.md``
    or ``.html`` name, as many clients send it for any text); a generic or missing one
    defers to the file name, then to the first bytes.
    """
    kind = (declared or "").split(";", 1)[0].strip().lower()
    kind = _ALIASES.get(kind, kind)
    by_name = _by_extension(filename)
    if kind in SUPPORTED_MEDIA_TYPES:
        if kind == "text/plain" and by_name in ("text/markdown", "text/html"):
            return by_name
        return kind
    if kind in _GENERIC:
        if by_name is not None:
            return by_name
        for magic, media_type in _MAGIC:
            if head.startswith(magic):
                return media_type
    return None
