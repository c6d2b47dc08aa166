"""Reading a developer's sales list (销售台账) into typed rows (DESIGN §4, §5a).

Two steps, as the upload page has them:

1. :func:`sniff` looks at the file: format, encoding, delimiter, sheet, which row is
   the header (title rows above it are skipped), a few sample rows and a suggested
   column mapping for a person to confirm.
2. :func:`read_rows` streams the file with the confirmed mapping and yields a
   :class:`ReadRow` per sale or a :class:`RowError` per row it cannot read, with the
   line (CSV) or row (XLSX) number a person sees and the reason in Chinese. No row is
   dropped silently: blank rows and totals rows (合计/总计/小计) are counted in
   :attr:`SalesListRows.stats`.

Matching the rows to buyers and registrations is not done here; the rows are plain
frozen values, ready to be streamed into a COPY.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Iterator

from .cells import cell_text, direct_words, read_channel, read_date, read_price_cents, read_text
from .files import SalesListUnreadable, csv_rows, file_format, open_workbook, sheet_rows, sniff_delimiter, \
    text_encoding, visible_sheets
from .mapping import FIELD_LABELS, REQUIRED_FIELDS, ColumnMapping, header_key, match_headers, \
    price_unit_of_header, suggest_mapping
from .phone_cells import CellError, MaskedPhone, parse_phone_cell

HEADER_SEARCH_ROWS = 20  # title rows a header may sit below
SAMPLE_ROWS = 5
_TOTAL_WORDS = ("合计", "总计", "小计")
_TOTAL_COLUMNS = 4  # a totals label sits in one of the first columns


class SalesListColumnsMissing(SalesListUnreadable):
    code, message = "sales_list_columns_missing", "在文件中找不到映射的列"


@dataclass(frozen=True, slots=True)
class ReadRow:
    """One sale as the list states it. ``phones`` are whole numbers in E.164, ``masked``
    the masked ones; ``channel`` is ``direct`` (no agency) or ``agency`` with its name
    in ``agency`` (DESIGN §5a). Fields the mapping leaves out, and empty cells, are None."""
    line: int
    phones: tuple[str, ...]
    masked: tuple[MaskedPhone, ...]
    buyer_name: str | None
    unit: str | None
    price_cents: int | None
    sale_date: date | None
    channel: str
    agency: str | None
    project: str | None


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that cannot be read: its line, every reason (Chinese, joined by "；") and
    its cells as text."""
    line: int
    reason_zh: str
    raw: tuple[str, ...]


@dataclass
class ReadStats:
    """Counts so far (final once the rows are exhausted)."""
    rows: int = 0
    errors: int = 0
    skipped_blank: int = 0
    skipped_totals: int = 0
    total_lines: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SheetPreview:
    filename: str
    format: str  # "csv" or "xlsx"
    encoding: str | None  # CSV only
    delimiter: str | None  # CSV only
    sheet: str | None  # XLSX only: the sheet whose header names the most fields
    sheets: tuple[str, ...]
    header_line: int | None  # None: the file has no rows
    headers: tuple[str, ...]
    samples: tuple[tuple[int, tuple[str, ...]], ...]  # (line, cells as text) after the header
    suggested_columns: dict[str, str]
    suggested_price_unit: str | None  # from the price header, else from the sample prices
    missing: tuple[str, ...]  # required fields no header names

    @property
    def suggested(self) -> ColumnMapping | None:
        """The suggestion as a mapping, or None while a required column is not found."""
        if self.missing:
            return None
        return ColumnMapping(self.suggested_columns, price_unit=self.suggested_price_unit)


# --- sniffing --------------------------------------------------------------------------------------


def _head(rows: Iterator, count: int) -> list:
    head = []
    for row in rows:
        head.append(row)
        if len(head) == count:
            break
    return head


def _empty(cell) -> bool:
    return cell == "" or cell is None or (isinstance(cell, str) and not cell.strip())


def _is_blank(cells: list) -> bool:
    return all(_empty(cell) for cell in cells)


def _best_header(head: list) -> tuple[int, int]:
    """(index in head, fields named) of the row naming the most fields; ties go to the
    earlier row, and with none named, the first non-blank row."""
    best_index, best_score = None, 0
    for index, (_, cells) in enumerate(head):
        score = len(match_headers(cells))
        if score > best_score:
            best_index, best_score = index, score
    if best_index is None:
        best_index = next((i for i, (_, cells) in enumerate(head) if not _is_blank(cells)), 0)
    return best_index, best_score


def _sample_unit(price_header: str | None, samples: list[list], index: int | None) -> str | None:
    unit = price_unit_of_header(price_header) if price_header else None
    if unit or index is None:
        return unit
    try:
        amounts = [read_price_cents(cells[index]) for cells in samples if index < len(cells)]
    except CellError:
        return None
    amounts = [a for a in amounts if a]
    if amounts and all(a < 10_000 * 100 for a in amounts):
        return "wan"  # 356.8 for a home is 万元: no home costs 356.8 元
    return "yuan" if amounts else None


def sniff(content: bytes, filename: str = "") -> SheetPreview:
    """Look at an uploaded sales list; raise SalesListUnreadable when it is no table."""
    kind = file_format(content)
    encoding = delimiter = sheet = None
    sheets: tuple[str, ...] = ()
    if kind == "csv":
        encoding = text_encoding(content)
        delimiter = sniff_delimiter(content, encoding)
        head = _head(csv_rows(content, encoding, delimiter), HEADER_SEARCH_ROWS + SAMPLE_ROWS)
        found, _ = _best_header(head[:HEADER_SEARCH_ROWS])
    else:
        workbook = open_workbook(content)
        sheets = tuple(visible_sheets(workbook))
        best = None
        for name in sheets:
            candidate = _head(sheet_rows(workbook, name), HEADER_SEARCH_ROWS + SAMPLE_ROWS)
            index, score = _best_header(candidate[:HEADER_SEARCH_ROWS])
            if best is None or score > best[0]:
                best = (score, name, candidate, index)
        _, sheet, head, found = best if best else (0, None, [], 0)
    if not head:
        return SheetPreview(filename, kind, encoding, delimiter, sheet, sheets, None, (), (), {}, None,
                            REQUIRED_FIELDS)
    header_line, header_cells = head[found]
    headers = tuple(cell_text(cell).strip() for cell in header_cells)
    after = [(line, cells) for line, cells in head[found + 1:] if not _is_blank(cells)][:SAMPLE_ROWS]
    columns, _ = suggest_mapping(headers)
    price_index = headers.index(columns["price"]) if "price" in columns else None
    unit = _sample_unit(columns.get("price"), [cells for _, cells in after], price_index)
    samples = tuple((line, tuple(cell_text(cell) for cell in cells)) for line, cells in after)
    missing = tuple(name for name in REQUIRED_FIELDS if name not in columns)
    return SheetPreview(filename, kind, encoding, delimiter, sheet, sheets, header_line, headers, samples,
                        columns, unit, missing)


# --- reading ---------------------------------------------------------------------------------------


class SalesListRows:
    """The rows of a sales list as an iterator of ReadRow and RowError, in file order,
    with where they came from and counts that are final once it is exhausted."""

    def __init__(self, *, format: str, encoding: str | None, delimiter: str | None, sheet: str | None,
                 header_line: int, columns: dict[str, int], rows: Iterator, mapping: ColumnMapping,
                 headers: tuple[str, ...]):
        self.format, self.encoding, self.delimiter, self.sheet = format, encoding, delimiter, sheet
        self.header_line, self.columns, self.headers = header_line, columns, headers
        self.stats = ReadStats()
        unit = mapping.price_unit or price_unit_of_header(headers[columns["price"]] if "price" in columns else "")
        self._items = _typed(rows, columns, unit or "yuan", direct_words(mapping.direct_channels), self.stats)

    def __iter__(self) -> "SalesListRows":
        return self

    def __next__(self) -> ReadRow | RowError:
        return next(self._items)


def _locate(rows: Iterator, mapping: ColumnMapping) -> tuple[int, tuple[str, ...], dict[str, int]] | list:
    """The header row naming every mapped column (rows above it are titles): its line,
    its cells as text and field → column index. Returns the rows looked at instead
    when no row within the first HEADER_SEARCH_ROWS does."""
    wanted = {name: header_key(text) for name, text in mapping.columns.items()}
    looked_at = []
    for line, cells in rows:
        looked_at.append(cells)
        keys = [header_key(cell_text(cell)) for cell in cells]
        if all(key in keys for key in wanted.values()):
            return line, tuple(cell_text(cell).strip() for cell in cells), \
                {name: keys.index(key) for name, key in wanted.items()}
        if len(looked_at) == HEADER_SEARCH_ROWS:
            break
    return looked_at


def _missing(looked_at: list, mapping: ColumnMapping) -> SalesListColumnsMissing:
    seen = {header_key(cell_text(cell)) for cells in looked_at for cell in cells}
    missing = [text for text in mapping.columns.values() if header_key(text) not in seen]
    names = "、".join(missing) or "、".join(mapping.columns.values())
    return SalesListColumnsMissing(f"在文件前 {HEADER_SEARCH_ROWS} 行中找不到同时包含这些列的表头：{names}",
                                   details={"missing_columns": missing})


def read_rows(content: bytes, filename: str, mapping: ColumnMapping, *, sheet: str | None = None) -> SalesListRows:
    """Stream the rows of an uploaded sales list with a confirmed mapping.

    XLSX: ``sheet`` by name, else the first visible sheet whose header has the mapped
    columns. Raises SalesListUnreadable (or SalesListColumnsMissing) before the first
    row when the file is no table or no header row within the first 20 rows names
    every mapped column; after that, every problem is a RowError.
    """
    kind = file_format(content)
    encoding = delimiter = None
    if kind == "csv":
        encoding = text_encoding(content)
        delimiter = sniff_delimiter(content, encoding)
        candidates = [(None, lambda: csv_rows(content, encoding, delimiter))]
    else:
        workbook = open_workbook(content)
        names = [sheet] if sheet is not None else visible_sheets(workbook)
        candidates = [(name, lambda name=name: sheet_rows(workbook, name)) for name in names]
    looked_at: list = []
    for name, open_rows in candidates:
        rows = open_rows()
        located = _locate(rows, mapping)
        if isinstance(located, tuple):
            header_line, headers, columns = located
            return SalesListRows(format=kind, encoding=encoding, delimiter=delimiter, sheet=name,
                                 header_line=header_line, columns=columns, rows=rows, mapping=mapping,
                                 headers=headers)
        looked_at.extend(located)
    raise _missing(looked_at, mapping)


def _is_total(cells: list) -> bool:
    for cell in cells[:_TOTAL_COLUMNS]:
        if isinstance(cell, str) and cell:
            compact = "".join(cell.split())
            if len(compact) <= 12 and any(word in compact for word in _TOTAL_WORDS):
                return True
    return False


def _typed(rows: Iterator, columns: dict[str, int], unit: str, direct: frozenset[str],
           stats: ReadStats) -> Iterator[ReadRow | RowError]:
    # One pass, no per-row allocations beyond the row itself: 100k rows is the budget's size.
    phone_at = columns["phone"]
    name_at, unit_at, price_at, date_at, channel_at, project_at = (
        columns.get(name, -1) for name in ("buyer_name", "unit", "price", "sale_date", "channel", "project"))
    mapped = sorted(columns.values())
    padding = [""] * (max(mapped) + 2)  # index -1 (a field not mapped) reads the padding's last cell
    labels = FIELD_LABELS

    for line, cells in rows:
        raw = cells
        cells = [*cells, *padding]
        if all(_empty(cells[index]) for index in mapped):
            if _is_total(cells):
                stats.skipped_totals += 1
                stats.total_lines.append(line)
            else:
                stats.skipped_blank += 1
            continue
        problems = None
        try:
            phones = parse_phone_cell(cells[phone_at])
        except CellError as problem:
            if _is_total(cells):
                stats.skipped_totals += 1
                stats.total_lines.append(line)
                continue
            phones = None
            problems = [f"{labels['phone']}：{problem.reason}"]
        try:
            price = read_price_cents(cells[price_at], unit)
        except CellError as problem:
            price = None
            problems = (problems or []) + [f"{labels['price']}：{problem.reason}"]
        try:
            sold_on = read_date(cells[date_at])
        except CellError as problem:
            sold_on = None
            problems = (problems or []) + [f"{labels['sale_date']}：{problem.reason}"]
        if problems:
            stats.errors += 1
            yield RowError(line, "；".join(problems), tuple(cell_text(cell) for cell in raw))
            continue
        channel, agency = read_channel(cells[channel_at], direct)
        stats.rows += 1
        yield ReadRow(line, phones.exact, phones.masked, read_text(cells[name_at]), read_text(cells[unit_at]),
                      price, sold_on, channel, agency, read_text(cells[project_at]))
