"""Reconciliation (对账) of a developer's sales list against registrations (DESIGN §4, §5a).

``reading`` turns an uploaded CSV or XLSX into typed rows (``sniff``, ``read_rows``);
``mapping`` names its columns; ``phone_cells`` and ``cells`` read single cells.
"""
from .files import SalesListUnreadable
from .mapping import FIELDS, ColumnMapping, MappingInvalid, suggest_mapping
from .phone_cells import CellError, MaskedPhone, PhoneCell, parse_phone_cell
from .reading import ReadRow, ReadStats, RowError, SalesListColumnsMissing, SalesListRows, SheetPreview, \
    read_rows, sniff

__all__ = ["FIELDS", "CellError", "ColumnMapping", "MappingInvalid", "MaskedPhone", "PhoneCell", "ReadRow",
           "ReadStats", "RowError", "SalesListColumnsMissing", "SalesListRows", "SalesListUnreadable",
           "SheetPreview", "parse_phone_cell", "read_rows", "sniff", "suggest_mapping"]
