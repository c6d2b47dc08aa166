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
from typing import IO, Iterable
from urllib.parse import quote

from sqlalchemy.orm import Session

from ..clock import SHANGHAI, local_date
from . import ExportKind, get_kind, parse_filters

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


def write_xlsx(kind: ExportKind, rows: Iterable[tuple], handle: IO[bytes]) -> int:
    """Chinese headers in a frozen first row, then one row per tuple; returns the row count."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(handle, {"constant_memory": True, "in_memory": False,
                                            "tmpdir": tempfile.gettempdir()})
    sheet = workbook.add_worksheet(kind.title[:31])
    header = workbook.add_format({"bold": True, "bg_color": "#EEF0F3", "border": 1})
    formats = {"cents": workbook.add_format({"num_format": "#,##0.00"}),
               "bps": workbook.add_format({"num_format": "0.00%"}),
               "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
               "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})}
    for index, column in enumerate(kind.columns):
        sheet.set_column(index, index, column.width)
    sheet.write_row(0, 0, [c.header for c in kind.columns], header)
    sheet.freeze_panes(1, 0)
    types = [c.type for c in kind.columns]
    count = 0
    for count, row in enumerate(rows, start=1):
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
        sheet.autofilter(0, 0, count, len(kind.columns) - 1)
    workbook.close()
    return count


def export(session: Session, name: str, raw_filters: dict, *, now: datetime) -> ExportFile:
    """The whole export: kind (404 ``export_kind_unknown``), filters (422), rows, file.
    The caller has checked the staff member's role against ``get_kind(name).roles``."""
    kind = get_kind(name)
    filters = parse_filters(kind, raw_filters)
    handle = tempfile.TemporaryFile()
    try:
        count = write_xlsx(kind, kind.rows(session, filters), handle)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    day = local_date(now).strftime("%Y%m%d")
    return ExportFile(kind=kind, handle=handle, rows=count, filename=f"{kind.title}-{day}.xlsx",
                      ascii_filename=f"{kind.name}-{day}.xlsx")


__all__ = ["XLSX_TYPE", "ExportFile", "export", "write_xlsx", "yuan_number"]
