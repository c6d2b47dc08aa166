"""Which column of a developer's sales list (销售台账) holds what: the column mapping.

Sales offices name their columns in many ways (客户姓名 / 购房人 / 买受人, 联系电话 /
手机号, 成交总价（万元） …). :func:`suggest_mapping` proposes a mapping from a header
row; the upload page shows it for a person to confirm or change, and the confirmed
:class:`ColumnMapping` is remembered per developer as JSON (:meth:`ColumnMapping.as_dict`).

A mapping names columns by their header text, not their position, so that next
month's file with one more title row or a new column in between still reads.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Mapping

FIELDS = ("buyer_name", "phone", "unit", "price", "sale_date", "channel", "project")
REQUIRED_FIELDS = ("phone",)  # a buyer's identity is his phone (DESIGN §2); the rest may be absent
FIELD_LABELS = {"buyer_name": "客户姓名", "phone": "电话", "unit": "房号", "price": "成交总价",
                "sale_date": "签约日期", "channel": "成交渠道", "project": "项目"}
PRICE_UNITS = ("yuan", "wan")  # 元, 万元

# Header texts that name a field, best first (the first of several matching columns wins:
# with both 签约日期 and 认购日期 the signing date is the sale date).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "buyer_name": ("客户姓名", "购房人姓名", "购房人", "买受人", "姓名", "客户名称", "客户", "购房者", "业主姓名", "业主",
                   "买方"),
    "phone": ("联系电话", "手机号", "手机号码", "手机", "客户电话", "购房人电话", "电话", "电话号码", "联系方式"),
    "unit": ("房号", "房间号", "房源", "房源编号", "房屋编号", "房号信息", "房间"),
    "price": ("成交总价", "合同总价", "合同金额", "成交金额", "总价", "成交价", "房款总额", "总房款"),
    "sale_date": ("签约日期", "网签日期", "成交日期", "认购日期", "签约时间", "成交时间", "认购时间", "日期"),
    "channel": ("成交渠道", "渠道", "来源", "经纪公司", "分销公司", "客户来源", "渠道来源", "渠道名称", "分销商",
                "中介公司"),
    "project": ("项目", "项目名称", "楼盘", "楼盘名称", "案名"),
}
# Words that make a longer header name a field when no header matches it exactly
# (``购房人手机号码`` is a phone), and words that rule a header out although it
# contains one (``成交单价`` is not the price, ``置业顾问姓名`` is not the buyer,
# ``到访日期`` is not the sale date).
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "buyer_name": ("姓名", "购房人", "买受人", "业主"),
    "phone": ("电话", "手机", "联系方式"),
    "unit": ("房号", "房间", "房源"),
    "price": ("总价", "金额", "成交价", "房款"),
    "sale_date": ("签约", "网签", "成交日期", "认购", "日期"),
    "channel": ("渠道", "来源", "经纪", "分销", "中介"),
    "project": ("项目", "楼盘"),
}
_EXCLUDED: dict[str, tuple[str, ...]] = {
    "buyer_name": ("顾问", "经纪人", "销售", "业务员", "员工", "电话", "手机", "证件", "身份证"),
    "phone": (),
    "unit": ("面积", "类型", "户型"),
    "price": ("单价", "定金", "首付", "贷款", "按揭", "面积", "佣金", "优惠", "折扣", "已付", "回款"),
    "sale_date": ("到访", "报备", "付款", "回款", "交房", "放款", "生日", "出生"),
    "channel": ("电话", "手机"),
    "project": ("编号",),
}
_BRACKETED = re.compile(r"[(\[（【][^)\]）】]*[)\]）】]")


def header_key(text: object) -> str:
    """How a header is compared: NFKC, no whitespace anywhere, lower case
    (``成交总价\\n（万元）`` and ``成交总价(万元)`` are one header)."""
    folded = unicodedata.normalize("NFKC", str(text or ""))
    return "".join(folded.split()).lower()


def price_unit_of_header(text: object) -> str | None:
    """``成交总价（万元）`` → ``"wan"``, ``合同金额(元)`` → ``"yuan"``, ``总价`` → None."""
    key = header_key(text)
    if "万" in key:
        return "wan"
    if "元" in key or "¥" in key or "rmb" in key:
        return "yuan"
    return None


def _field_rank(key: str) -> tuple[str, int] | None:
    """The field a header names and how well (0 best): exact synonyms first, then
    keywords, ignoring a unit in brackets (``总价（万元）``, ``电话(必填)``)."""
    bare = _BRACKETED.sub("", key) or key
    for name, synonyms in SYNONYMS.items():
        if bare in synonyms:
            return name, synonyms.index(bare)
    for name, words in _KEYWORDS.items():
        for position, word in enumerate(words):
            if word in bare and not any(excluded in bare for excluded in _EXCLUDED[name]):
                return name, 100 + position
    return None


def match_headers(headers: Iterable[object]) -> dict[str, int]:
    """field → column index for the columns a header row names; each column names
    at most one field and each field takes its best column (ties: leftmost)."""
    best: dict[str, tuple[int, int]] = {}
    for index, text in enumerate(headers):
        ranked = _field_rank(header_key(text))
        if ranked is None:
            continue
        name, rank = ranked
        if name not in best or rank < best[name][0]:
            best[name] = (rank, index)
    return {name: index for name, (rank, index) in best.items()}


class MappingInvalid(ValueError):
    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))


@dataclass(frozen=True)
class ColumnMapping:
    """field → header text as the file writes it, the unit of the price column, and
    the developer's own words for a sale with no agency (besides 自然到访, 自访, 案场 …).

    ``price_unit`` None takes the unit from the price header (``（万元）``), else 元;
    a cell that says ``万`` or ``元`` itself always wins.
    """
    columns: Mapping[str, str]
    price_unit: str | None = None
    direct_channels: tuple[str, ...] = field(default=())

    def __post_init__(self):
        problems = {}
        for name, header in self.columns.items():
            if name not in FIELDS:
                problems[name] = "未知的字段"
            elif not isinstance(header, str) or not header_key(header):
                problems[name] = "列名不能为空"
        for name in REQUIRED_FIELDS:
            if name not in self.columns:
                problems[name] = f"必须指定{FIELD_LABELS[name]}列"
        keys = [header_key(h) for h in self.columns.values() if isinstance(h, str)]
        if len(set(keys)) != len(keys):
            problems["columns"] = "同一列不能对应两个字段"
        if self.price_unit is not None and self.price_unit not in PRICE_UNITS:
            problems["price_unit"] = "金额单位只能是元或万元"
        if problems:
            raise MappingInvalid(problems)
        object.__setattr__(self, "columns", dict(self.columns))
        object.__setattr__(self, "direct_channels", tuple(self.direct_channels))

    def as_dict(self) -> dict:
        return {"columns": dict(self.columns), "price_unit": self.price_unit,
                "direct_channels": list(self.direct_channels)}

    @classmethod
    def from_dict(cls, data: Mapping) -> "ColumnMapping":
        return cls(columns=dict(data.get("columns") or {}), price_unit=data.get("price_unit"),
                   direct_channels=tuple(data.get("direct_channels") or ()))


def suggest_mapping(headers: Iterable[object]) -> tuple[dict[str, str], str | None]:
    """The columns a header row names (field → header text) and the price unit its
    price header states, for the mapping step to show."""
    headers = [str(h or "").strip() for h in headers]
    columns = {name: headers[index] for name, index in match_headers(headers).items()}
    unit = price_unit_of_header(columns["price"]) if "price" in columns else None
    return columns, unit
