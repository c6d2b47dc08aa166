"""QR codes of share URLs (segno: pure Python, no system libraries)."""
from __future__ import annotations

import io

import segno

KINDS = ("svg", "png")
CONTENT_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


def render(url: str, kind: str) -> bytes:
    """The QR code of ``url`` as an SVG document or a PNG image, with a quiet zone.

    Error correction M survives a crease or a thumb on a printed poster; segno
    raises it further when the data leaves room (``boost_error``).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown QR image kind {kind!r}")
    code = segno.make(url, error="m", micro=False)
    buffer = io.BytesIO()
    if kind == "svg":
        code.save(buffer, kind="svg", scale=8, border=2, xmldecl=False, title="邀请二维码", encoding="utf-8")
    else:
        code.save(buffer, kind="png", scale=10, border=2)
    return buffer.getvalue()
