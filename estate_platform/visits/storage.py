"""Where visit attachments (the signed 来访确认单) live: content-addressed files.

Content is stored once under ``<root>/<sha256[:2]>/<sha256>``; the database row
(VisitAttachment) carries the name, type and size. The root directory is passed
in by the caller (the web layer uses ``INSTANCE_PATH/uploads``), so the core
never reads configuration. Also here: the pure checks on what a file is.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path

ALLOWED_TYPES = ("image/jpeg", "image/png", "application/pdf")
#: Declared types that say nothing about the content (browsers send these for unknown files).
GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream")

_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FORBIDDEN_IN_NAME = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
DEFAULT_FILENAME = "attachment"
MAX_FILENAME = 200


def sniff_type(head: bytes) -> str | None:
    """The allowed type the content's magic bytes say it is, or None."""
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    return None


def sanitise_filename(raw: str | None) -> str:
    """A display name safe to store and to put in a download header: the last path
    component, no control or path characters, at most 200 characters (the extension kept).
    Chinese names stay Chinese."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _FORBIDDEN_IN_NAME.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    if not name:
        return DEFAULT_FILENAME
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[:MAX_FILENAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_FILENAME]
    return name


def path_for(root: str | os.PathLike, sha256: str) -> Path:
    if not _SHA256.fullmatch(sha256):
        raise ValueError("not a sha256 hex digest")
    return Path(root) / sha256[:2] / sha256


def save(root: str | os.PathLike, content: bytes) -> str:
    """Store ``content`` (once) and return its sha256. The write is atomic: a reader
    never sees half a file."""
    digest = hashlib.sha256(content).hexdigest()
    target = path_for(root, digest)
    if target.exists():
        return digest
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return digest


def exists(root: str | os.PathLike, sha256: str) -> bool:
    return path_for(root, sha256).is_file()
