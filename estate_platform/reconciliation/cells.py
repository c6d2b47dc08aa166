"""Reading one cell of a sales list: dates, prices, the sales channel, plain text.

Cells come as text (CSV, or XLSX text cells) or as the values an XLSX holds
(numbers, dates). Each reader returns the typed value, None for an empty cell,
or raises :class:`CellError` with the reason in Chinese. Prices are integer cents
through ``Decimal``: nothing multiplies money by a float (STYLE §7). Pure functions.
"""
from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal

from .phone_cells import CellError

# --- text ------------------------------------------------------------------------------------------


def cell_text(value: object) -> str:
    """A cell as a person reads it: numbers without a spurious ``.0``, dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if (value.hour, value.minute, value.second) != (0, 0, 0) \
            else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def read_text(value: object) -> str | None:
    """Names, units and projects: NFKC (full-width digits and letters in 房号 fold to
    ASCII), runs of whitespace collapsed; None when empty."""
    text = value if isinstance(value, str) else cell_text(value)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split()) or None


# --- dates -----------------------------------------------------------------------------------------

EXCEL_EPOCH = date(1899, 12, 30)  # the 1900 date system, past Lotus's 1900-02-29
EARLIEST, LATEST = date(1990, 1, 1), date(2100, 12, 31)
_SERIAL_RANGE = ((EARLIEST - EXCEL_EPOCH).days, (LATEST - EXCEL_EPOCH).days)
_DATE_TEXT = re.compile(
    r"([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?"
    r"(?:\s*T?\s*[0-9]{1,2}[:：][0-9]{2}(?:[:：][0-9]{2}(?:\.[0-9]+)?)?)?")
_COMPACT_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_SERIAL_TEXT = re.compile(r"([0-9]{5})(?:\.[0-9]+)?")
_DATE_SHAPES = "支持 2026-11-03、2026/11/3、2026.11.3、2026年11月3日 和 Excel 日期"


def _checked(year: int, month: int, day: int, text: object) -> date:
    try:
        found = date(year, month, day)
    except ValueError:
        raise CellError(f"日期不存在：{text}") from None
    if not EARLIEST <= found <= LATEST:
        raise CellError(f"日期不在 {EARLIEST.year}–{LATEST.year} 年之间：{text}")
    return found


def _serial(days: int, text: object) -> date:
    if not _SERIAL_RANGE[0] <= days <= _SERIAL_RANGE[1]:
        raise CellError(f"无法识别的日期（{_DATE_SHAPES}）：{text}")
    return EXCEL_EPOCH + timedelta(days=days)


def read_date(value: object) -> date | None:
    """``2026-11-03``, ``2026/11/3``, ``2026.11.3``, ``2026年11月3日`` (a time after it is
    ignored), ``20261103``, an XLSX date or datetime, or an Excel serial number
    (46329, as a number or as text) between 1990 and 2100."""
    if isinstance(value, datetime):
        return _checked(value.year, value.month, value.day, cell_text(value))
    if isinstance(value, date):
        return _checked(value.year, value.month, value.day, value)
    if isinstance(value, bool) or isinstance(value, float) and not math.isfinite(value):
        raise CellError(f"无法识别的日期（{_DATE_SHAPES}）：{value}")
    if isinstance(value, (int, float)):
        return _serial(int(value), cell_text(value))
    text = unicodedata.normalize("NFKC", str(value or "")).strip()
    if not text:
        return None
    found = _DATE_TEXT.fullmatch(text) or _COMPACT_DATE.fullmatch(text)
    if found:
        return _checked(int(found[1]), int(found[2]), int(found[3]), value)
    serial = _SERIAL_TEXT.fullmatch(text)
    if serial:
        return _serial(int(serial[1]), value)
    raise CellError(f"无法识别的日期（{_DATE_SHAPES}）：{value}")


# --- prices ----------------------------------------------------------------------------------------

CENTS_PER_UNIT = {"yuan": 100, "wan": 1_000_000}
MAX_PRICE_CENTS = 10**12  # 100 亿元: beyond any home, well inside a bigint
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_PLAIN_NUMBER = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,8})?")
_CURRENCY_MARKS = ("人民币", "rmb", "cny", "¥", "元", ",", "_")


def read_price_cents(value: object, unit: str = "yuan") -> int | None:
    """A price in integer cents. ``unit`` (``yuan`` or ``wan``) is the column's unit; a
    cell that says ``万``/``万元`` or ``元``/``¥`` itself wins. Thousands separators,
    full-width digits and spaces are fine; zero, negative and fractions of a cent are not."""
    if isinstance(value, bool):
        raise CellError(f"无法识别的金额：{value}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise CellError(f"无法识别的金额：{value}")
        # a float as Excel shows it, to 15 significant digits (0.1 + 0.2 is 0.3)
        amount = Decimal(format(value, ".15g")) if isinstance(value, float) else Decimal(value)
        text = cell_text(value)
    elif isinstance(value, str) and _PLAIN_NUMBER.fullmatch(value):  # the usual cell: 356.8
        amount, text = Decimal(value), value
    else:
        text = str(value or "").strip()
        if not text:
            return None
        compact = "".join(unicodedata.normalize("NFKC", text).split()).lower()
        if compact.endswith("万元") or compact.endswith("万"):
            unit, compact = "wan", compact.removesuffix("元").removesuffix("万")
        elif "元" in compact or "¥" in compact:
            unit = "yuan"
        for mark in _CURRENCY_MARKS:
            compact = compact.replace(mark, "")
        negative = compact.startswith("-")
        if not _NUMBER.fullmatch(compact.removeprefix("-")):
            raise CellError(f"无法识别的金额：{text}")
        amount = Decimal(compact)
        if negative:
            raise CellError(f"成交价必须大于 0：{text}")
    cents = amount * CENTS_PER_UNIT[unit]
    if cents <= 0:
        raise CellError(f"成交价必须大于 0：{text}")
    if cents != cents.to_integral_value():
        raise CellError(f"金额精确到分以下，无法换算：{text}")
    if cents > MAX_PRICE_CENTS:
        raise CellError(f"金额过大（单位是否有误）：{text}")
    return int(cents)


# --- channel ---------------------------------------------------------------------------------------

# A sale with no agency (DESIGN §5a): the buyer came by himself or the column is empty.
DIRECT_CHANNELS = frozenset({"自然到访", "自然来访", "自访", "案场", "无", "自然来电", "-", "/", "—", "无渠道"})


def channel_key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def read_channel(value: object, direct_words: frozenset[str] = DIRECT_CHANNELS) -> tuple[str, str | None]:
    """(``direct``, None) for a sale with no agency, else (``agency``, the agency's name
    as the file writes it). ``direct_words`` are compared by :func:`channel_key`."""
    name = read_text(value)
    if name is None or channel_key(name) in direct_words:
        return "direct", None
    return "agency", name


def direct_words(extra: tuple[str, ...] = ()) -> frozenset[str]:
    """The words meaning "no agency": DESIGN's and a developer's own (from the mapping)."""
    return frozenset(channel_key(word) for word in (*DIRECT_CHANNELS, *extra))
