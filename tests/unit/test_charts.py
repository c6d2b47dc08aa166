"""Server-rendered SVG charts (admin/charts.py): valid XML, proportional bars, round ticks, escaping."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from admin.charts import (HEIGHT, Series, axis_ticks, bar_chart, format_tick, format_value, line_chart,
                          stacked_bar_chart)

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(markup) -> ET.Element:
    return ET.fromstring(str(markup))


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "bar"]


def test_bar_chart_is_valid_svg_with_accessible_title_and_desc_and_a_viewbox():
    root = parse(bar_chart(["一月", "二月"], [Series("成交", [3, 5])], title="每月成交", desc="按签约日"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 640 320" and root.get("width") is None
    assert root.get("role") == "img"
    assert root.find("svg:title", NS).text == "每月成交"
    assert root.find("svg:desc", NS).text == "按签约日"
    title_id, desc_id = root.get("aria-labelledby").split()
    assert root.find("svg:title", NS).get("id") == title_id and root.find("svg:desc", NS).get("id") == desc_id


def test_bar_heights_are_proportional_to_values():
    root = parse(bar_chart(["甲", "乙", "丙"], [Series("报备", [10, 20, 40])], title="报备"))
    heights = [float(b.get("height")) for b in bars(root)]
    assert heights[1] == pytest.approx(2 * heights[0], rel=1e-3)
    assert heights[2] == pytest.approx(4 * heights[0], rel=1e-3)
    assert [int(b.get("data-value")) for b in bars(root)] == [10, 20, 40]


def test_each_bar_has_a_tooltip_with_category_series_and_value_in_yuan():
    root = parse(bar_chart(["上海"], [Series("GMV", [123456])], value_format="cents", title="GMV"))
    (bar,) = bars(root)
    assert bar.find("svg:title", NS).text == "上海 · GMV：¥1,234.56"


def test_stacked_bars_sit_on_each_other_and_the_axis_covers_their_sum():
    root = parse(stacked_bar_chart(["一月"], [Series("已付", [30]), Series("待付", [70])], title="打款"))
    paid, due = bars(root)
    assert float(paid.get("y")) == pytest.approx(float(due.get("y")) + float(due.get("height")), abs=0.02)
    assert float(paid.get("x")) == float(due.get("x"))
    tick_labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "100" in tick_labels  # the axis reaches the stack's total


def test_grouped_bars_get_a_legend_and_distinct_colors():
    root = parse(bar_chart(["甲"], [Series("报备", [1]), Series("到访", [1])], title="对比"))
    a, b = bars(root)
    assert a.get("fill") != b.get("fill") and a.get("x") != b.get("x")
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "报备" in texts and "到访" in texts


@pytest.mark.parametrize("categories, series", [([], [Series("报备", [])]), (["甲"], [])])
def test_empty_data_renders_an_empty_state_text(categories, series):
    for chart in (bar_chart, line_chart):
        root = parse(chart(categories, series, title="空"))
        assert [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")] == ["暂无数据"]
        assert not bars(root)


def test_labels_titles_and_series_names_are_escaped():
    evil = '<script>alert("x")</script>&'
    markup = str(bar_chart([evil], [Series(evil, [1]), Series("b", [2])], title=evil, desc=evil))
    assert "<script>" not in markup
    root = parse(markup)  # still well-formed XML
    assert root.find("svg:title", NS).text == evil


def test_line_chart_points_follow_values():
    root = parse(line_chart(["一月", "二月", "三月"], [Series("GMV", [0, 50, 100])], title="走势"))
    points = [c for c in root.iter("{http://www.w3.org/2000/svg}circle")]
    ys = [float(p.get("cy")) for p in points]
    assert ys[0] > ys[1] > ys[2]
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.02)
    assert root.find("svg:polyline", NS) is not None


def test_mismatched_or_negative_values_are_refused():
    with pytest.raises(ValueError):
        bar_chart(["甲", "乙"], [Series("x", [1])], title="t")
    with pytest.raises(ValueError):
        bar_chart(["甲"], [Series("x", [-1])], title="t")


def test_ticks_are_round_numbers():
    assert axis_ticks(0) == [0, 1]
    assert axis_ticks(7) == [0, 2, 4, 6, 8]
    assert axis_ticks(95) == [0, 20, 40, 60, 80, 100]
    assert axis_ticks(1234) == [0, 500, 1000, 1500]
    assert axis_ticks(1, "cents") == [0, 100]  # at least one 元 per step
    assert axis_ticks(345_678_900_00, "cents")[1] == 100_000_000_00  # ¥3.46亿 → steps of ¥1亿


@given(st.integers(min_value=0, max_value=10**13), st.sampled_from(["count", "cents"]))
def test_ticks_cover_the_maximum_in_at_most_six_round_steps(max_value, fmt):
    ticks = axis_ticks(max_value, fmt)
    step = ticks[1] - ticks[0]
    assert ticks[0] == 0 and ticks[-1] >= max_value and len(ticks) <= 6
    assert all(b - a == step for a, b in zip(ticks, ticks[1:]))
    digits = str(step).rstrip("0")
    assert digits in ("1", "2", "5")
    if fmt == "cents":
        assert step % 100 == 0


def test_tick_and_value_labels_in_chinese_units():
    assert format_tick(1200) == "1,200"
    assert format_tick(15000) == "1.5万"
    assert format_tick(30000_00, "cents") == "¥3万"
    assert format_tick(2_0000_0000_00, "cents") == "¥2亿"
    assert format_value(1234567, "cents") == "¥12,345.67"
    assert format_value(1234567) == "1,234,567"


def test_bars_stay_inside_the_viewbox():
    root = parse(bar_chart([f"类别{i}" for i in range(30)], [Series("a", list(range(30)))], title="多"))
    for bar in bars(root):
        assert 0 <= float(bar.get("y")) and float(bar.get("y")) + float(bar.get("height")) <= HEIGHT
