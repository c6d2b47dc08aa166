"""A sales list's phone cell: whole numbers, masked numbers, or a reason it is unusable.

Sales offices send what their systems export: ``13812345678``, ``+86 138-1234-5678``,
full-width digits, a number cell (``13812345678.0`` from XLSX), two numbers in one
cell (``13812345678/13987654321``), numbers masked 前三后四 ``138****5678`` or
前四后三 ``1381****678``, and numbers Excel has already ruined (``1.38E+10``).
Whole numbers go through the project's one normaliser (``estate_platform.phones``);
this module only recognises the shapes around it. Pure functions.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..phones import InvalidPhone, national, normalise_phone, search_digits


class CellError(ValueError):
    """A cell that cannot be read; ``reason`` is Chinese, for the person fixing the file."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


SCIENTIFIC = "电话号码被 Excel 转成了科学计数法，无法识别，请把该列设为文本后重新导出"
_SCIENTIFIC_TEXT = re.compile(r"[0-9]+(?:\.[0-9]*)?[eE]\+?[0-9]+")
_WHOLE_FLOAT_TEXT = re.compile(r"([0-9]{11,13})\.0+")  # 13812345678.0, as pandas writes a number column
_PLAIN_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# Between two numbers in one cell people put / , ， 、 ; ； | or a line break
# (full-width ，；／ fold to ASCII under NFKC); a space may separate them as well,
# but a space also separates the digits of one number, so it is tried last.
_BETWEEN_NUMBERS = re.compile(r"[/,、;|\\\n\r]+")
_MASK_CHARS = frozenset("*xX×●•○")
_MASKED = re.compile(r"(1[3-9][0-9]{1,2})([*xX×●•○]+)([0-9]{3,4})")
_COUNTRY_PREFIXES = ("+86", "0086", "86")
_MASK_RULES = {(3, 4): "first3_last4", (4, 3): "first4_last3"}


@dataclass(frozen=True, slots=True)
class MaskedPhone:
    """A masked mainland mobile: ``rule`` is ``first3_last4`` (138****5678) or
    ``first4_last3`` (1381****678), as in ``estate_platform.phones.MASK_RULES``."""
    rule: str
    prefix: str
    suffix: str

    @property
    def text(self) -> str:
        return self.prefix + "****" + self.suffix

    @property
    def like_pattern(self) -> str:
        """A SQL LIKE pattern for the 11-digit national number (``138____5678``)."""
        return self.prefix + "_" * (11 - len(self.prefix) - len(self.suffix)) + self.suffix

    def matches(self, phone_e164: str) -> bool:
        number = national(phone_e164)
        return len(number) == 11 and number.startswith(self.prefix) and number.endswith(self.suffix)


@dataclass(frozen=True, slots=True)
class PhoneCell:
    """Every number a cell holds: whole numbers in E.164 and masked ones, in cell order."""
    exact: tuple[str, ...] = ()
    masked: tuple[MaskedPhone, ...] = ()


def _masked(text: str) -> MaskedPhone | None:
    found = _MASKED.fullmatch(text)
    if not found:
        compact = "".join(c for c in unicodedata.normalize("NFKC", text) if not (c.isspace() or c in "-()"))
        for prefix in _COUNTRY_PREFIXES:
            if compact.startswith(prefix) and len(compact) - len(prefix) == 11:
                compact = compact[len(prefix):]
                break
        found = _MASKED.fullmatch(compact)
    if not found:
        return None
    head, stars, tail = found.groups()
    rule = _MASK_RULES.get((len(head), len(tail)))
    if rule is None or len(head) + len(stars) + len(tail) != 11:
        return None
    return MaskedPhone(rule, head, tail)


def _reason(text: str) -> str:
    compact = "".join(unicodedata.normalize("NFKC", text).split())
    if _SCIENTIFIC_TEXT.fullmatch(compact):
        return SCIENTIFIC
    if any(c in _MASK_CHARS for c in compact):
        return f"打码电话无法识别（支持前三后四如 138****5678、前四后三如 1381****678）：{text}"
    digits = search_digits(text)
    if digits is None:
        return f"无法识别的电话号码：{text}"
    if digits.startswith("0"):
        return f"不是手机号码（座机无法与报备的手机号对应）：{text}"
    if len(digits) != 11:
        return f"电话号码位数不对，应为 11 位手机号，这里是 {len(digits)} 位：{text}"
    return f"不是有效的大陆手机号码：{text}"


def _one(text: str) -> str | MaskedPhone:
    if _PLAIN_MOBILE.fullmatch(text):  # the usual cell: spare the normaliser's character walk
        return "+86" + text
    if "*" in text:  # the usual masked cell: try the mask first
        masked = _masked(text)
        if masked is not None:
            return masked
    whole = _WHOLE_FLOAT_TEXT.fullmatch(text.strip())
    try:
        return normalise_phone(whole.group(1) if whole else text)
    except InvalidPhone:
        pass
    masked = _masked(text)
    if masked is None:
        raise CellError(_reason(text))
    return masked


def _number(value: float | int) -> PhoneCell:
    """A number cell: exact up to 15 digits, so 13812345678.0 is the number; but a value
    whose last five digits are zeros is what is left of 1.38E+10 after a round trip
    through a CSV file that Excel displayed in scientific notation."""
    if isinstance(value, float) and not value.is_integer():
        raise CellError(SCIENTIFIC if "e" in repr(value) else f"电话号码不是整数：{value!r}")
    number = int(value)
    if len(str(number)) >= 11 and number % 100_000 == 0:
        raise CellError(SCIENTIFIC)
    return parse_phone_cell(str(number))


def parse_phone_cell(value: object) -> PhoneCell:
    """Every number in a phone cell, or CellError with the reason in Chinese.

    An empty cell raises too: a row without a phone cannot be matched to a buyer.
    """
    if isinstance(value, bool):
        raise CellError(f"无法识别的电话号码：{value}")
    if isinstance(value, (int, float)):
        return _number(value)
    text = str(value or "").strip()
    if not text:
        raise CellError("电话为空")
    try:
        parts = [_one(text)]
    except CellError as whole_cell:
        pieces = [p.strip() for p in _BETWEEN_NUMBERS.split(unicodedata.normalize("NFKC", text)) if p.strip()]
        if len(pieces) > 1:
            parts = [_one(piece) for piece in pieces]
        else:
            pieces = text.split()  # "138-1234-5678 139-8765-4321"
            if len(pieces) == 1:
                raise
            try:
                parts = [_one(piece) for piece in pieces]
            except CellError:
                raise whole_cell from None
    exact: list[str] = []
    masked: list[MaskedPhone] = []
    for part in parts:
        bucket = exact if isinstance(part, str) else masked
        if part not in bucket:
            bucket.append(part)
    return PhoneCell(tuple(exact), tuple(masked))
