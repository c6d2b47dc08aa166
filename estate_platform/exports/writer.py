"""Writing an export (导出) as XLSX in constant memory (issue 13 §3).

XlsxWriter's ``constant_memory`` mode flushes each row to a temporary file as soon as the
next row starts, so memory stays flat whatever the row count; the rows come from a
server-side cursor (``yield_per``). The finished workbook is itself a temporary file that
the web layer streams to the client and the operating system reclaims when it is closed.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import IO, Callable, Iterable, Sequence
from urllib.parse import quote

from sqlalchemy.orm import Session

from ..clock import SHANGHAI, local_date
from . import Column, ExportKind, get_kind, parse_filters

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class ExportFile:
    kind: ExportKind
    handle: IO[bytes]  # positioned at 0; the caller closes it (streaming it closes it)
    rows: int
    filename: str  # 报备记录-20261202.xlsx
    ascii_filename: str  # registrations-20261202.xlsx

    @property
    def content_disposition(self) -> str:
        """RFC 6266 / RFC 5987: an ASCII fallback and the UTF-8 Chinese name."""
        return f"attachment; filename=\"{self.ascii_filename}\"; filename*=UTF-8''{quote(self.filename)}"


def yuan_number(cents: int) -> Decimal:
    """Cents as an exact 元 value for a number cell (the sheet shows two decimals)."""
    return Decimal(cents).scaleb(-2)


def full_phone_columns(kind: ExportKind) -> tuple[Column, ...]:
    """The kind's columns with the masked-phone header renamed for a full-phone export."""
    return tuple(Column(c.header.replace("（脱敏）", "（完整）"), c.type, c.width) if "脱敏" in c.header else c
                 for c in kind.columns)


def write_xlsx(kind: ExportKind, rows: Iterable[tuple], handle: IO[bytes], *,
               columns: Sequence[Column] | None = None, progress: Callable[[int], None] | None = None,
               every: int = 2000) -> int:
    """Chinese headers in a frozen first row, then one row per tuple; returns the row count.
    ``progress(rows_written)`` is called every ``every`` rows (a background job's progress)."""
    import xlsxwriter

    columns = tuple(columns or kind.columns)

    workbook = xlsxwriter.Workbook(handle, {"constant_memory": True, "in_memory": False,
                                            "tmpdir": tempfile.gettempdir()})
    sheet = workbook.add_worksheet(kind.title[:31])
    header = workbook.add_format({"bold": True, "bg_color": "#EEF0F3", "border": 1})
    formats = {"cents": workbook.add_format({"num_format": "#,##0.00"}),
               "bps": workbook.add_format({"num_format": "0.00%"}),
               "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
               "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})}
    for index, column in enumerate(columns):
        sheet.set_column(index, index, column.width)
    sheet.write_row(0, 0, [c.header for c in columns], header)
    sheet.freeze_panes(1, 0)
    types = [c.type for c in columns]
    count = 0
    for count, row in enumerate(rows, start=1):
        if progress is not None and count % every == 0:
            progress(count)
        for col, (cell_type, value) in enumerate(zip(types, row)):
            if value is None or value == "":
                continue
            if cell_type == "text":
                sheet.write_string(count, col, str(value))
            elif cell_type == "int":
                sheet.write_number(count, col, value)
            elif cell_type == "cents":
                sheet.write_number(count, col, yuan_number(value), formats["cents"])
            elif cell_type == "bps":
                sheet.write_number(count, col, Decimal(value).scaleb(-4), formats["bps"])
            elif cell_type == "date":
                sheet.write_datetime(count, col, datetime(value.year, value.month, value.day), formats["date"])
            elif cell_type == "datetime":
                local = value.astimezone(SHANGHAI).replace(tzinfo=None, microsecond=0)
                sheet.write_datetime(count, col, local, formats["datetime"])
            elif cell_type == "bool":
                sheet.write_string(count, col, "是" if value else "否")
            else:  # pragma: no cover - a kind declared a type this writer does not know
                raise ValueError(f"unknown cell type {cell_type!r}")
    if count:
        sheet.autofilter(0, 0, count, len(columns) - 1)
    workbook.close()
    return count


def file_names(kind: ExportKind, now: datetime, *, full_phones: bool = False) -> tuple[str, str]:
    """(Chinese name, ASCII fallback): 报备记录-20261202.xlsx, 报备记录-完整号码-20261202.xlsx."""
    day = local_date(now).strftime("%Y%m%d")
    if full_phones:
        return f"{kind.title}-完整号码-{day}.xlsx", f"{kind.name}-full-phones-{day}.xlsx"
    return f"{kind.title}-{day}.xlsx", f"{kind.name}-{day}.xlsx"


def export(session: Session, name: str, raw_filters: dict, *, now: datetime,
           full_phones: bool = False) -> ExportFile:
    """The whole export: kind (404 ``export_kind_unknown``), filters (422), rows, file.
    The caller has checked the staff member's role against ``get_kind(name).roles``, and
    for ``full_phones`` the full-phone rule; :func:`.phones.full_phone_export` does both and logs."""
    kind = get_kind(name)
    filters = parse_filters(kind, raw_filters)
    rows = (kind.full_phone_rows if full_phones else kind.rows)(session, filters)
    handle = tempfile.TemporaryFile()
    try:
        count = write_xlsx(kind, rows, handle, columns=full_phone_columns(kind) if full_phones else None)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    filename, ascii_filename = file_names(kind, now, full_phones=full_phones)
    return ExportFile(kind=kind, handle=handle, rows=count, filename=filename, ascii_filename=ascii_filename)


__all__ = ["XLSX_TYPE", "ExportFile", "export", "file_names", "full_phone_columns", "write_xlsx", "yuan_number"]
