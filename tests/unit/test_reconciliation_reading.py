"""Reading a developer's sales list (销售台账) as sales offices really send it (DESIGN §4, §5a):
every file is made here, in each encoding, line ending and layout, and read back with the
line numbers a person sees."""
from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from estate_platform.phones import mask_phone
from estate_platform.reconciliation import (CellError, ColumnMapping, MappingInvalid, MaskedPhone, ReadRow,
                                            RowError, SalesListColumnsMissing, SalesListUnreadable,
                                            parse_phone_cell, read_rows, sniff, suggest_mapping)
from estate_platform.reconciliation.cells import read_channel, read_date, read_price_cents
from estate_platform.reconciliation.phone_cells import SCIENTIFIC

HEADER = ["序号", "客户姓名", "联系电话", "房号", "成交总价（万元）", "签约日期", "成交渠道"]
MAPPING = ColumnMapping({"buyer_name": "客户姓名", "phone": "联系电话", "unit": "房号", "price": "成交总价（万元）",
                         "sale_date": "签约日期", "channel": "成交渠道"})


def csv_bytes(lines: list[str], encoding: str = "utf-8", newline: str = "\r\n") -> bytes:
    return newline.join(lines).encode(encoding) + newline.encode(encoding)


def read_all(content: bytes, mapping: ColumnMapping = MAPPING, **kwargs):
    stream = read_rows(content, "台账", mapping, **kwargs)
    return list(stream), stream


def by_line(items) -> dict[int, ReadRow | RowError]:
    return {item.line: item for item in items}


def xlsx_bytes(workbook: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- CSV: encodings, line endings, the lines people see --------------------------------------------

SALES_CSV = [
    "云栖项目 2026年11月 销售台账",                                      # line 1: a title line
    ",".join(HEADER),                                                   # line 2: the header
    "1,张三,13812345678,1-101,356.8,2026-11-03,自然到访",                 # line 3
    '2,李四,139 8765 4321,1-102,400,2026/11/3,"链家\n(北京)"',            # lines 4-5: a cell on two lines
    "3,王五,138****5678,1-103,288.5,2026年11月3日,",                      # line 6
    ",,,,,,",                                                           # line 7: blank
    "4,赵六,1.38E+10,1-104,300,2026-11-04,贝壳",                          # line 8: unusable phone
    "合计,,,,1345.3,,",                                                 # line 9: totals
]


@pytest.mark.parametrize("encoding, detected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
                                                ("gb18030", "gb18030"), ("gbk", "gb18030")])
@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_a_csv_in_any_encoding_and_line_ending_reads_with_the_line_numbers_a_text_editor_shows(
        encoding, detected, newline):
    content = csv_bytes(SALES_CSV, encoding, newline)

    preview = sniff(content, "台账.csv")
    items, stream = read_all(content)

    assert (preview.format, preview.encoding, preview.delimiter, preview.header_line) == ("csv", detected, ",", 2)
    assert preview.headers == tuple(HEADER)
    assert preview.suggested == ColumnMapping(MAPPING.columns, price_unit="wan")
    rows = by_line(items)
    assert sorted(rows) == [3, 4, 6, 8]
    assert rows[3] == ReadRow(3, ("+8613812345678",), (), "张三", "1-101", 356_800_000, date(2026, 11, 3),
                              "direct", None, None)
    assert rows[4].phones == ("+8613987654321",) and rows[4].agency == "链家 (北京)"
    assert rows[6].masked == (MaskedPhone("first3_last4", "138", "5678"),) and rows[6].channel == "direct"
    assert rows[8] == RowError(8, f"电话：{SCIENTIFIC}", ("4", "赵六", "1.38E+10", "1-104", "300", "2026-11-04", "贝壳"))
    assert (stream.stats.rows, stream.stats.errors, stream.stats.skipped_blank, stream.stats.skipped_totals,
            stream.stats.total_lines) == (3, 1, 1, 1, [9])


def test_without_a_title_line_the_header_is_line_1_and_the_first_sale_line_2():
    content = csv_bytes(SALES_CSV[1:4])

    items, stream = read_all(content)

    assert stream.header_line == 1
    assert [item.line for item in items] == [2, 3]


def test_tab_and_semicolon_delimited_lists_are_recognised():
    for delimiter in ("\t", ";"):
        content = csv_bytes([delimiter.join(HEADER), delimiter.join(["1", "张三", "13812345678", "1-101", "356.8",
                                                                      "2026-11-03", "链家, 北京"])])
        assert sniff(content).delimiter == delimiter
        (row,), _ = read_all(content)
        assert row.agency == "链家, 北京" and row.price_cents == 356_800_000


def test_a_utf16_list_as_excel_saves_unicode_text_reads_too():
    lines = ["\t".join(HEADER), "1\t张三\t13812345678\t1-101\t356.8\t2026-11-03\t"]
    content = "\ufeff".encode("utf-16-le") + csv_bytes(lines, "utf-16-le")

    (row,), stream = read_all(content)

    assert stream.encoding == "utf-16" and row.phones == ("+8613812345678",)


def test_every_unreadable_field_of_a_row_is_reported_at_once_and_the_row_kept_as_text():
    content = csv_bytes([",".join(HEADER), "7,钱七,1381234567,1-107,-5,2026-02-30,"])

    (error,), stream = read_all(content)

    assert error.line == 2
    assert error.reason_zh.split("；") == ["电话：电话号码位数不对，应为 11 位手机号，这里是 10 位：1381234567",
                                          "成交总价：成交价必须大于 0：-5", "签约日期：日期不存在：2026-02-30"]
    assert error.raw == ("7", "钱七", "1381234567", "1-107", "-5", "2026-02-30", "")
    assert stream.stats.errors == 1 and stream.stats.rows == 0


def test_a_row_without_a_phone_is_an_error_not_a_silent_gap():
    content = csv_bytes([",".join(HEADER), "8,孙八,,1-108,300,2026-11-05,链家"])

    (error,), _ = read_all(content)

    assert error.reason_zh == "电话：电话为空" and error.line == 2


def test_rows_stream_lazily_with_counts_so_far():
    content = csv_bytes([",".join(HEADER)] + [f"{i},客户{i},138{i:08d},1-{i},300,2026-11-05," for i in range(1000)])

    stream = read_rows(content, "台账.csv", MAPPING)
    first = next(stream)

    assert first.line == 2 and stream.stats.rows == 1
    assert sum(1 for _ in stream) == 999 and stream.stats.rows == 1000


# --- XLSX: title rows, merged cells, number cells, totals --------------------------------------------

def sales_workbook() -> openpyxl.Workbook:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "11月"
    sheet["A1"] = "云栖项目销售台账"
    sheet.merge_cells("A1:H1")
    sheet["A2"] = "统计口径：网签"
    sheet.append(["项目", *HEADER])                                                                 # row 3
    sheet.append(["云栖一期", 1, "张三", 13812345678, "1-101", 356.8, date(2026, 11, 3), "自然到访"])      # row 4
    sheet.append([None, 2, "李四", 13987654321.0, "1-102", "400万元", datetime(2026, 11, 3, 9), "链家"])  # row 5
    sheet.append([None, 3, "王五", "1381****678", "1-103", 288.55, "2026/11/3", "案场"])                 # row 6
    sheet.append([None, None, None, None, None, None, None, None])                                  # row 7
    sheet.append(["云栖二期", 4, "赵六", 1.38e10, "2-101", 300, 46330, "贝壳"])                        # row 8
    sheet.append([None, 5, "钱七", "+86 137-1234-5678/13612345678", "2-102", "３１２．５", None, "  "])   # row 9
    sheet.append(["合计", None, None, None, None, 1657.85, None, None])                               # row 10
    sheet.merge_cells("A4:A7")   # the project merged down a block of sales
    sheet.merge_cells("A8:A9")
    sheet.merge_cells("G8:G9")   # and a date merged over two sales, as an Excel serial number
    sheet.merge_cells("A10:E10")
    return workbook


def test_an_xlsx_with_title_rows_merged_cells_and_a_totals_row_reads_by_sheet_row_number():
    content = xlsx_bytes(sales_workbook())
    preview = sniff(content, "台账.xlsx")
    mapping = ColumnMapping({**preview.suggested_columns}, price_unit=preview.suggested_price_unit)

    items, stream = read_all(content, mapping)

    assert (preview.format, preview.sheet, preview.header_line) == ("xlsx", "11月", 3)
    assert preview.suggested_columns["project"] == "项目" and preview.suggested_price_unit == "wan"
    assert [line for line, _ in preview.samples] == [4, 5, 6, 8, 9]
    rows = by_line(items)
    assert sorted(rows) == [4, 5, 6, 8, 9]
    assert rows[4] == ReadRow(4, ("+8613812345678",), (), "张三", "1-101", 356_800_000, date(2026, 11, 3),
                              "direct", None, "云栖一期")
    assert (rows[5].phones, rows[5].price_cents, rows[5].sale_date, rows[5].project) == \
        (("+8613987654321",), 400_000_000, date(2026, 11, 3), "云栖一期")
    assert rows[6].masked == (MaskedPhone("first4_last3", "1381", "678"),) and rows[6].price_cents == 288_550_000
    assert rows[8] == RowError(8, f"电话：{SCIENTIFIC}",
                               ("云栖二期", "4", "赵六", "13800000000", "2-101", "300", "46330", "贝壳"))
    assert rows[9] == ReadRow(9, ("+8613712345678", "+8613612345678"), (), "钱七", "2-102", 312_500_000,
                              date(2026, 11, 4), "direct", None, "云栖二期")
    assert (stream.stats.skipped_blank, stream.stats.skipped_totals, stream.stats.total_lines) == (1, 1, [10])


def test_xlsx_row_numbers_hold_when_the_table_starts_below_and_right_of_a1():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["D5"] = "客户"
    sheet["E5"] = "手机号"
    sheet["D6"] = "张三"
    sheet["E6"] = "13812345678"
    sheet["E8"] = "139-8765-4321"

    items, stream = read_all(xlsx_bytes(workbook), ColumnMapping({"buyer_name": "客户", "phone": "手机号"}))

    assert stream.header_line == 5
    assert [(item.line, item.buyer_name, item.phones) for item in items] == \
        [(6, "张三", ("+8613812345678",)), (8, None, ("+8613987654321",))]


def test_the_sheet_with_the_list_is_found_behind_a_summary_sheet():
    workbook = openpyxl.Workbook()
    workbook.active.title = "汇总"
    workbook.active.append(["本月成交", 2])
    detail = workbook.create_sheet("明细")
    detail.append(["姓名", "电话", "总价（元）"])
    detail.append(["张三", "13812345678", "3,568,000.00"])

    content = xlsx_bytes(workbook)
    preview = sniff(content)
    (row,), stream = read_all(content, preview.suggested)

    assert preview.sheets == ("汇总", "明细") and preview.sheet == "明细"
    assert preview.suggested_price_unit == "yuan"
    assert stream.sheet == "明细" and row.price_cents == 356_800_000 and row.line == 2


def test_a_mapped_column_missing_from_the_file_is_named_before_any_row_is_read():
    content = csv_bytes([",".join(HEADER), "1,张三,13812345678,1-101,356.8,2026-11-03,"])
    mapping = ColumnMapping({"phone": "联系电话", "unit": "房间号"})

    with pytest.raises(SalesListColumnsMissing) as refused:
        read_rows(content, "台账.csv", mapping)

    assert refused.value.details == {"missing_columns": ["房间号"]}
    assert refused.value.code == "sales_list_columns_missing" and refused.value.status == 422


@pytest.mark.parametrize("content, words", [
    (b"", "空"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
    ("<html><table><tr><td>姓名</td></tr></table></html>".encode(), "网页"),
    (b"PK\x03\x04not really a zip", "损坏"),
])
def test_a_file_that_is_no_table_is_refused_with_what_to_do(content, words):
    if words == "损坏":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("readme.txt", "hello")
        content = buffer.getvalue()
    with pytest.raises(SalesListUnreadable) as refused:
        sniff(content, "台账")
    assert words in refused.value.message


# --- phones -----------------------------------------------------------------------------------------

M34 = MaskedPhone("first3_last4", "138", "5678")
M43 = MaskedPhone("first4_last3", "1381", "678")


@pytest.mark.parametrize("cell, exact, masked", [
    ("13812345678", ["+8613812345678"], []),
    ("+86 138 1234 5678", ["+8613812345678"], []),
    ("8613812345678", ["+8613812345678"], []),
    ("138-1234-5678", ["+8613812345678"], []),
    ("１３８１２３４５６７８", ["+8613812345678"], []),
    (13812345678, ["+8613812345678"], []),
    (13812345678.0, ["+8613812345678"], []),
    ("13812345678.0", ["+8613812345678"], []),
    ("138****5678", [], [M34]),
    ("138 **** 5678", [], [M34]),
    ("１３８＊＊＊＊５６７８", [], [M34]),
    ("+86 138****5678", [], [M34]),
    ("1381****678", [], [M43]),
    ("13812345678/13987654321", ["+8613812345678", "+8613987654321"], []),
    ("13812345678，13987654321", ["+8613812345678", "+8613987654321"], []),
    ("13812345678、138****5678", ["+8613812345678"], [M34]),
    ("138-1234-5678 139-8765-4321", ["+8613812345678", "+8613987654321"], []),
    ("13812345678\n13812345678", ["+8613812345678"], []),
])
def test_every_phone_shape_a_sales_office_sends_reads(cell, exact, masked):
    phones = parse_phone_cell(cell)
    assert (list(phones.exact), list(phones.masked)) == (exact, masked)


@pytest.mark.parametrize("cell, reason", [
    ("1.38E+10", SCIENTIFIC),
    ("1.38123E+10", SCIENTIFIC),
    (1.38e10, SCIENTIFIC),
    (13812345678.5, "不是整数"),
    ("1381234567", "应为 11 位手机号，这里是 10 位"),
    ("138123456789", "这里是 12 位"),
    ("025-12345678", "不是手机号码"),
    ("12812345678", "不是有效的大陆手机号码"),
    ("138***5678", "打码电话无法识别"),
    ("13812345678/1391234", "这里是 7 位：1391234"),
    ("张三", "无法识别的电话号码"),
    ("", "电话为空"),
    (None, "电话为空"),
])
def test_an_unusable_phone_says_why_in_chinese(cell, reason):
    with pytest.raises(CellError) as refused:
        parse_phone_cell(cell)
    assert reason in refused.value.reason


def test_a_masked_phone_matches_the_numbers_it_could_be_and_gives_a_like_pattern():
    assert M34.matches("+8613812345678") and not M34.matches("+8613912345678")
    assert M34.like_pattern == "138____5678" and M43.like_pattern == "1381____678"
    assert M43.text == "1381****678"


mobiles = st.builds(lambda second, rest: f"1{second}{rest:09d}", st.sampled_from("3456789"),
                    st.integers(min_value=0, max_value=10**9 - 1))
FULL_WIDTH = str.maketrans("0123456789*", "０１２３４５６７８９＊")
EXACT_SHAPES = [
    lambda n: n, lambda n: "+86" + n, lambda n: "86" + n, lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}",
    lambda n: f"{n[:3]}-{n[3:7]}-{n[7:]}", lambda n: n.translate(FULL_WIDTH), lambda n: int(n), lambda n: float(n),
]


@given(mobiles, st.sampled_from(EXACT_SHAPES))
def test_a_whole_number_in_any_supported_shape_reads_back_to_itself(number, shape):
    if number.endswith("00000") and shape in EXACT_SHAPES[-2:]:
        return  # a number cell ending in five zeros is taken for a scientific-notation loss
    assert parse_phone_cell(shape(number)).exact == ("+86" + number,)


@given(mobiles, st.sampled_from(["first3_last4", "first4_last3"]), st.booleans(), st.sampled_from(["", " ", "+86"]))
def test_a_masked_number_in_any_supported_shape_reads_back_to_its_mask(number, rule, full_width, prefix):
    text = mask_phone("+86" + number, rule)
    cell = prefix + (text.translate(FULL_WIDTH) if full_width else text)

    (masked,) = parse_phone_cell(cell).masked

    assert masked.rule == rule and masked.text == text and masked.matches("+86" + number)


@given(mobiles, mobiles, st.sampled_from(["/", ",", "，", "、", ";", "；", " ", "\n", " / "]))
def test_two_numbers_in_one_cell_are_both_kept(first, second, separator):
    assert parse_phone_cell(first + separator + second).exact == tuple(dict.fromkeys(["+86" + first, "+86" + second]))


# --- dates ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["2026-11-03", "2026/11/3", "2026.11.3", "2026年11月3日", "2026 年 11 月 3 日",
                                  "2026-11-03 14:30", "2026/11/3 14:30:05", "20261103", "２０２６－１１－０３",
                                  46329, 46329.0, 46329.6, "46329", date(2026, 11, 3), datetime(2026, 11, 3, 23, 59)])
def test_every_date_shape_reads_as_the_same_day(cell):
    assert read_date(cell) == date(2026, 11, 3)


@pytest.mark.parametrize("cell, reason", [
    ("2026-02-30", "日期不存在"), ("2026-13-01", "日期不存在"), ("11/3/2026", "无法识别的日期"),
    ("下周", "无法识别的日期"), (12, "无法识别的日期"), ("1899-12-31", "不在 1990–2100 年之间"), (True, "无法识别的日期"),
])
def test_an_unreadable_date_says_why(cell, reason):
    with pytest.raises(CellError) as refused:
        read_date(cell)
    assert reason in refused.value.reason


def test_an_empty_date_is_none():
    assert read_date("") is None and read_date("  ") is None and read_date(None) is None


# --- prices -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, unit, cents", [
    ("3568000", "yuan", 356_800_000), ("3,568,000.00", "yuan", 356_800_000), ("¥3,568,000", "yuan", 356_800_000),
    ("￥3568000元", "yuan", 356_800_000), ("３５６８０００", "yuan", 356_800_000), (3568000, "yuan", 356_800_000),
    ("356.8", "wan", 356_800_000), (356.8, "wan", 356_800_000), ("356.8万", "yuan", 356_800_000),
    ("356.8万元", "yuan", 356_800_000), ("3568000元", "wan", 356_800_000), ("356.1234", "wan", 356_123_400),
    (0.1 + 0.2, "yuan", 30), ("1,234.56", "yuan", 123_456),
])
def test_prices_read_exactly_in_cents_in_yuan_or_wan(cell, unit, cents):
    assert read_price_cents(cell, unit) == cents


@pytest.mark.parametrize("cell, unit, reason", [
    ("0", "yuan", "大于 0"), ("-356.8", "wan", "大于 0"), (-5, "yuan", "大于 0"), ("1.005", "yuan", "分以下"),
    ("三百万", "yuan", "无法识别的金额"), ("1e6", "yuan", "无法识别的金额"), ("99999999999", "wan", "金额过大"),
    (float("nan"), "yuan", "无法识别的金额"),
])
def test_an_unusable_price_says_why(cell, unit, reason):
    with pytest.raises(CellError) as refused:
        read_price_cents(cell, unit)
    assert reason in refused.value.reason


@given(st.integers(min_value=1, max_value=10**11), st.booleans(), st.booleans(), st.booleans())
def test_a_price_written_in_yuan_or_wan_reads_back_to_the_exact_cents(cents, in_wan, separators, marks):
    if in_wan:
        text = format(Decimal(cents) / 1_000_000, "f")
        cell = text + ("万元" if marks else "")
        unit = "yuan" if marks else "wan"
    else:
        whole, fraction = divmod(cents, 100)
        text = (f"{whole:,}" if separators else str(whole)) + f".{fraction:02d}"
        cell = ("¥" + text + "元") if marks else text
        unit = "yuan"
    assert read_price_cents(cell, unit) == cents


# --- channels and mapping ------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, expected", [
    ("自然到访", ("direct", None)), ("自访", ("direct", None)), ("案场", ("direct", None)), ("自然来访", ("direct", None)),
    ("无", ("direct", None)), ("", ("direct", None)), (None, ("direct", None)), (" 自然 到访 ", ("direct", None)),
    ("链家", ("agency", "链家")), ("贝壳找房（北京）", ("agency", "贝壳找房(北京)")),
])
def test_a_sale_is_direct_only_when_no_agency_is_named(cell, expected):
    assert read_channel(cell) == expected


def test_a_developers_own_word_for_direct_sales_comes_from_the_mapping():
    mapping = ColumnMapping({"phone": "联系电话", "channel": "成交渠道"}, direct_channels=("老带新",))
    content = csv_bytes(["联系电话,成交渠道", "13812345678,老带新", "13987654321,链家"])

    rows, _ = read_all(content, mapping)

    assert [(row.channel, row.agency) for row in rows] == [("direct", None), ("agency", "链家")]


@pytest.mark.parametrize("headers, expected", [
    (["客户姓名", "联系电话", "房号", "成交总价（万元）", "签约日期", "成交渠道"],
     {"buyer_name": "客户姓名", "phone": "联系电话", "unit": "房号", "price": "成交总价（万元）", "sale_date": "签约日期",
      "channel": "成交渠道"}),
    (["购房人", "手机号", "房源", "合同金额", "认购日期", "经纪公司", "项目名称"],
     {"buyer_name": "购房人", "phone": "手机号", "unit": "房源", "price": "合同金额", "sale_date": "认购日期",
      "channel": "经纪公司", "project": "项目名称"}),
    (["置业顾问姓名", "客户", "购房人手机号码", "成交单价(元/㎡)", "成交价", "到访日期", "认购日期", "签约日期", "来源"],
     {"buyer_name": "客户", "phone": "购房人手机号码", "price": "成交价", "sale_date": "签约日期", "channel": "来源"}),
    (["姓名", "电话", "房间号", "总价", "日期", "分销公司"],
     {"buyer_name": "姓名", "phone": "电话", "unit": "房间号", "price": "总价", "sale_date": "日期", "channel": "分销公司"}),
])
def test_header_synonyms_suggest_a_mapping_and_look_past_look_alike_columns(headers, expected):
    assert suggest_mapping(headers)[0] == expected


def test_a_mapping_is_remembered_as_json_and_refuses_what_it_cannot_read():
    mapping = ColumnMapping({"phone": "手机号", "price": "总价"}, price_unit="wan", direct_channels=("老带新",))

    assert ColumnMapping.from_dict(json.loads(json.dumps(mapping.as_dict()))) == mapping
    with pytest.raises(MappingInvalid) as refused:
        ColumnMapping({"unit": "房号", "colour": "颜色", "price": "房号"}, price_unit="美元")
    assert set(refused.value.problems) == {"phone", "colour", "columns", "price_unit"}


def test_without_a_unit_in_the_header_sample_prices_below_ten_thousand_suggest_wan():
    content = csv_bytes(["姓名,电话,总价", "张三,13812345678,356.8", "李四,13987654321,412"])

    assert sniff(content).suggested_price_unit == "wan"
    assert sniff(csv_bytes(["姓名,电话,总价", "张三,13812345678,3568000"])).suggested_price_unit == "yuan"


def test_a_file_whose_header_names_no_phone_gives_no_ready_mapping():
    preview = sniff(csv_bytes(["a,b,c", "1,2,3"]))

    assert preview.header_line == 1 and preview.missing == ("phone",) and preview.suggested is None


# --- nothing unexpected escapes ---------------------------------------------------------------------

any_cell = st.one_of(st.text(max_size=30), st.text(alphabet="0123456789０１２３４５６７８９+-*＊/、,;\n.eE万元¥年月日", max_size=30),
                     st.none(), st.integers(min_value=-10**20, max_value=10**20), st.floats(), st.booleans(),
                     st.dates(), st.datetimes())


@given(any_cell)
def test_any_cell_either_reads_or_says_why(value):
    for read in (parse_phone_cell, read_date, read_price_cents, lambda cell: read_price_cents(cell, "wan")):
        try:
            read(value)
        except CellError as refused:
            assert refused.reason
    assert read_channel(value)[0] in ("direct", "agency")


@given(st.one_of(st.binary(max_size=300),
                 st.lists(st.lists(st.text(alphabet="张三138*5,\"\n\r;\t合计万.-0", max_size=12), max_size=8),
                          max_size=8).map(lambda rows: "\r\n".join(",".join(cells) for cells in
                                                                    [HEADER, *rows]).encode("gb18030"))))
def test_any_upload_is_read_row_by_row_or_refused_as_a_whole_with_a_reason(content):
    try:
        sniff(content)
        items = list(read_rows(content, "台账", MAPPING))
    except SalesListUnreadable as refused:
        assert refused.message
    else:
        assert all(isinstance(item, (ReadRow, RowError)) for item in items)
        assert [item.line for item in items] == sorted({item.line for item in items})
