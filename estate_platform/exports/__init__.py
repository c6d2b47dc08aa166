"""Excel exports (导出 XLSX, issue 13 §3, DESIGN §5a): the registry of export kinds.

Each kind is an :class:`ExportKind`: its name in the URL (``GET /admin/api/v1/exports/{kind}``
and the page link ``/admin/exports/{kind}``), a Chinese title (sheet and file name), the staff
roles allowed, the columns (Chinese headers and a cell type) and the filters (the list page's
own filters, as query parameters), and ``rows(session, filters)`` yielding one tuple per row
in column order. :mod:`.writer` streams the rows into an XLSX file in constant memory.

Adding a kind (helpers of collections, payouts, statements, packages)::

    # estate_platform/<area>/exports.py
    from estate_platform.exports import Column, ExportKind, Filter, register

    def _rows(session, filters):
        query = select(...).where(...)            # one SELECT of plain columns, GROUP BY if needed
        for row in session.execute(query.execution_options(yield_per=2000)):
            yield (row.id, row.amount_cents, ...)   # phones masked here (estate_platform.phones.mask_phone)

    register(ExportKind(
        name="collections", title="回款记录", roles=("admin", "finance"),
        columns=(Column("回款编号", "int"), Column("金额（元）", "cents"), Column("到账日期", "date")),
        filters=(Filter("developer_id", "int", "开发商"), Filter("from", "date", "开始日期"),
                 Filter("to", "date", "结束日期")),
        rows=_rows))

then add the module to ``KIND_MODULES`` below. Give the kind a ``count`` (one COUNT of the
same query) so that background export jobs (:mod:`.jobs`) show a progress bar, and, if its rows
hold buyers' phones, ``full_phone_rows`` (the same rows, phones in full) for the logged
full-phone export (:mod:`.phones`). The admin JSON API creates one documented
operation per registered kind (its query schema from ``filters``), so nothing else changes;
link it from the list page with ``url_for('admin_exports.download', kind=..., **filters)``.

Cell types: ``text``, ``int``, ``cents`` (money: integer cents written as 元 numbers with a
``#,##0.00`` format), ``bps`` (a percentage cell), ``date`` (a real date), ``datetime`` (a UTC
instant shown in Asia/Shanghai), ``bool`` (是/否). Filters: ``int`` (an id, ≥ 1), ``date``
(an Asia/Shanghai day; a ``*from``/``*to`` pair is checked for order), ``choice`` (one of
``choices``), ``text`` (one line, ≤ 50 characters). Phones are always masked: the full-phone
export is a separate, logged action.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Iterable, Literal, Mapping

from sqlalchemy.orm import Session

from ..errors import NotFound, ValidationFailed

CellType = Literal["text", "int", "cents", "bps", "date", "datetime", "bool"]
FilterType = Literal["int", "date", "choice", "text"]
KIND_MODULES = ("estate_platform.exports.kinds",
                "estate_platform.receivables.exports",  # collections, receivables (issue 12)
                "estate_platform.settlement.exports",  # payouts, statements (issue 12)
                "estate_platform.buyback.exports")  # packages (issue 13 §1)
INT_MAX = 2 ** 31 - 1
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)  # a day filter outside is refused (422)


class ExportKindUnknown(NotFound):
    code, message = "export_kind_unknown", "没有这种导出类型"


@dataclass(frozen=True)
class Column:
    header: str  # Chinese, as the sheet shows it
    type: CellType = "text"
    width: int = 14


@dataclass(frozen=True)
class Filter:
    name: str  # the query parameter, as on the list page
    type: FilterType
    label: str  # Chinese, for error messages and the API description
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportKind:
    name: str
    title: str
    roles: tuple[str, ...]
    columns: tuple[Column, ...]
    filters: tuple[Filter, ...]
    rows: Callable[[Session, dict], Iterable[tuple]]
    description: str = ""
    examples: Mapping[str, Any] = field(default_factory=dict)
    #: How many rows ``rows`` will yield (one COUNT), so a background job can show progress;
    #: None: the job shows rows written without a total.
    count: Callable[[Session, dict], int] | None = None
    #: The same rows with buyers' full phone numbers, for the logged full-phone export
    #: (:mod:`.phones`); None: the kind holds no buyer phones.
    full_phone_rows: Callable[[Session, dict], Iterable[tuple]] | None = None


REGISTRY: dict[str, ExportKind] = {}


def register(kind: ExportKind) -> ExportKind:
    if kind.name in REGISTRY and REGISTRY[kind.name] is not kind:
        raise ValueError(f"export kind {kind.name!r} registered twice")
    REGISTRY[kind.name] = kind
    return kind


def load_kinds() -> dict[str, ExportKind]:
    """Import every module that registers kinds (idempotent); returns the registry."""
    for module in KIND_MODULES:
        importlib.import_module(module)
    return REGISTRY


def get_kind(name: str) -> ExportKind:
    kind = load_kinds().get(name)
    if kind is None:
        raise ExportKindUnknown(details={"kind": name})
    return kind


def parse_filters(kind: ExportKind, raw: Mapping[str, Any]) -> dict:
    """Query-string values (strings, or already typed by an API schema) → typed filters.
    Every bad field is reported at once (422); unknown parameters are refused."""
    errors: dict[str, list[str]] = {}
    known = {f.name: f for f in kind.filters}
    values: dict[str, Any] = {}
    for name in raw:
        if name not in known:
            errors.setdefault(name, []).append("不支持的筛选条件")
    for flt in kind.filters:
        value = raw.get(flt.name)
        if value is None or value == "":
            continue
        if isinstance(value, (dict, list, tuple, set, float)):
            errors.setdefault(flt.name, []).append(f"{flt.label}：格式不正确")
            continue
        try:
            values[flt.name] = _typed(flt, value)
        except ValueError as exc:
            errors.setdefault(flt.name, []).append(f"{flt.label}：{exc}")
    for flt in kind.filters:
        if flt.type == "date" and flt.name.endswith("from"):
            end_name = flt.name[:-4] + "to"
            if flt.name in values and end_name in values and values[flt.name] > values[end_name]:
                errors.setdefault(end_name, []).append("结束日期不能早于开始日期")
    if errors:
        raise ValidationFailed(errors)
    return values


def _typed(flt: Filter, value: Any) -> Any:
    if flt.type == "int":
        if isinstance(value, bool):
            raise ValueError("请填写编号")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError("请填写编号（正整数）") from None
        if not 1 <= number <= INT_MAX:
            raise ValueError("编号超出范围")
        return number
    if flt.type == "date":
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            raise ValueError("日期格式应为 YYYY-MM-DD") from None
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValueError(f"日期应在 {FIRST_DAY.year}–{LAST_DAY.year} 年之间")
        return day
    text = str(value)
    if flt.type == "choice":
        if text not in flt.choices:
            raise ValueError("不在可选范围内")
        return text
    if len(text) > 50 or any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text):
        raise ValueError("最多 50 个字符，且不能包含控制字符")
    return text.strip()
