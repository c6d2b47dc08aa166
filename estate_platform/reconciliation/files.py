"""Opening an uploaded sales list: its format, encoding and delimiter, and its rows
with the line number a person sees (DESIGN §5a).

* Format by content, not by file name: an XLSX is a zip; anything else that is not
  a known binary is read as delimited text.
* Text encoding: a BOM decides (UTF-8, or UTF-16 as Excel's "Unicode text" writes
  it); else valid UTF-8 is UTF-8; else GB18030, the superset of GBK and GB2312 that
  Chinese Windows and WPS write.
* CSV lines: the physical line a record starts on, as a text editor numbers it;
  the header is line 1 when there is no title line, and a quoted cell spanning two
  lines moves every later record down one line.
* XLSX rows: the sheet's own row number. Read with python-calamine (Rust) rather
  than openpyxl's read-only mode: on this machine it reads a 100k-row list about
  ten times faster, and it reports merged ranges, which openpyxl's read-only mode
  cannot see (``mergeCells`` comes after the rows in the sheet's XML). The price is
  that calamine holds the sheet's cells in native memory while Python walks its
  rows: about 80 bytes a cell, so ~85 MB for 100k rows of ten columns, where the
  CSV path stays flat (benchmarks/reconciliation_reading.py prints both).
"""
from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from itertools import chain
from typing import Iterator

from ..errors import DomainError

Row = tuple[int, list]  # (line or row number a person sees, cells)

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and also every password-protected .xlsx
DELIMITERS = (",", "\t", ";")
_SNIFF_BYTES = 64 * 1024
_SNIFF_RECORDS = 30
_FIELD_LIMIT = 1024 * 1024  # one cell up to 1 MB (csv's default is 128 KB)


class SalesListUnreadable(DomainError):
    code, status, message = "sales_list_unreadable", 422, "无法读取销售台账文件"


def file_format(content: bytes) -> str:
    """``xlsx`` or ``csv``; SalesListUnreadable for an empty file, an old .xls or an
    encrypted workbook, and for the web pages some systems save as ``.xls``."""
    if not content.strip():
        raise SalesListUnreadable("文件是空的")
    if content.startswith(XLSX_MAGIC):
        return "xlsx"
    if content.startswith(OLE_MAGIC):
        raise SalesListUnreadable("这是旧版 Excel（.xls）或设置了密码的文件，请在 Excel 中去掉密码并另存为 .xlsx 或 CSV 后上传")
    head = content[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<html", b"<!doctype", b"<table", b"<?xml", b"<meta")):
        raise SalesListUnreadable("这是网页或 XML 格式的表格（有些系统导出的 .xls 就是这样），请用 Excel 打开后另存为 .xlsx 或 CSV 后上传")
    if b"\x00" in content[:4096] and not content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SalesListUnreadable("无法识别的文件格式，请上传 .xlsx 或 CSV 文件")
    return "csv"


# --- delimited text --------------------------------------------------------------------------------


def text_encoding(content: bytes) -> str:
    if content.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:  # validate in slices: no second copy of a large file as one str
        for start in range(0, len(content), 1 << 20):
            decoder.decode(content[start:start + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _text(content: bytes, encoding: str) -> io.TextIOWrapper:
    # GB18030 decodes almost every byte sequence; what it cannot becomes U+FFFD in that
    # cell rather than failing the whole file half way.
    return io.TextIOWrapper(io.BytesIO(content), encoding=encoding, errors="replace", newline="")


def sniff_delimiter(content: bytes, encoding: str) -> str:
    """The delimiter that splits the most of the first records into the same number
    (two or more) of cells; a comma when none does."""
    sample = content[:_SNIFF_BYTES].decode(encoding, errors="ignore")
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        records = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
        widths = Counter(len(cells) for _, cells in zip(range(_SNIFF_RECORDS), records) if len(cells) > 1)
        if widths:
            width, count = max(widths.items(), key=lambda item: (item[1], item[0]))
            if (count, width) > best_score:
                best, best_score = delimiter, (count, width)
    return best


def csv_rows(content: bytes, encoding: str, delimiter: str) -> Iterator[Row]:
    """Records with the physical line each starts on."""
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    reader = csv.reader(_text(content, encoding), delimiter=delimiter)
    previous = 0
    try:
        for cells in reader:
            yield previous + 1, cells
            previous = reader.line_num
    except csv.Error as problem:
        raise SalesListUnreadable(f"第 {previous + 1} 行无法读取：{problem}") from None


# --- workbooks -------------------------------------------------------------------------------------


def open_workbook(content: bytes):
    import python_calamine

    try:
        return python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
    except Exception:  # calamine raises its own errors, zip and XML errors alike
        raise SalesListUnreadable("无法打开 Excel 文件，文件可能已损坏；请在 Excel 中打开后另存为 .xlsx 再上传") from None


def visible_sheets(workbook) -> list[str]:
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    names = [meta.name for meta in workbook.sheets_metadata
             if meta.visible == SheetVisibleEnum.Visible and meta.typ == SheetTypeEnum.WorkSheet]
    return names or list(workbook.sheet_names)


def sheet_rows(workbook, name: str) -> Iterator[Row]:
    """The sheet's rows with their row numbers; each cell of a range merged over
    several rows holds the range's value (a project or date merged down a block of
    sales); a range merged only across one row (a title, a 合计 label) is left as it is."""
    try:
        sheet = workbook.get_sheet_by_name(name)
    except Exception:
        raise SalesListUnreadable(f"无法读取工作表“{name}”") from None
    if sheet.start is None:
        return iter(())
    first_row, first_column = sheet.start
    rows = iter(sheet.iter_rows())
    # python-calamine yields rows from the sheet's first row (blank rows above the data
    # included) but columns from the first used column. Should a version yield rows from
    # the first used row instead, its first row is not blank: number from there.
    number = 1
    if first_row:
        peek = next(rows, None)
        if peek is None:
            return iter(())
        number = first_row + 1 if any(cell != "" for cell in peek) else 1
        rows = chain([peek], rows)
    merged = [((top, left), (bottom, right)) for (top, left), (bottom, right) in (sheet.merged_cell_ranges or ())
              if bottom > top]
    numbered = enumerate(rows, start=number)
    if merged:
        return _filled(numbered, merged, first_column)
    return numbered


def _filled(numbered: Iterator[Row], merged: list, first_column: int) -> Iterator[Row]:
    starting: dict[int, list] = {}
    for (top, left), (bottom, right) in merged:
        starting.setdefault(top + 1, []).append((bottom + 1, left - first_column, right - first_column))
    active: list[tuple[int, int, int, object]] = []  # (last row, first cell, last cell, value)
    for number, cells in numbered:
        if active:
            active = [span for span in active if span[0] >= number]
        if active and any(cell != "" for cell in cells):  # a blank row stays blank
            for _last, left, right, value in active:
                if len(cells) <= right:
                    cells = cells + [""] * (right + 1 - len(cells))
                for index in range(max(left, 0), right + 1):
                    if cells[index] == "":
                        cells[index] = value
        for last, left, right in starting.get(number, ()):
            value = cells[left] if 0 <= left < len(cells) else ""
            for index in range(max(left + 1, 0), min(right + 1, len(cells))):
                if cells[index] == "":
                    cells[index] = value
            active.append((last, left, right, value))
        yield number, cells
