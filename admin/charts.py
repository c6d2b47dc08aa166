"""Server-rendered SVG charts (图表) for the admin dashboards (issue 13 §2, DESIGN §5a).

No JavaScript and no CDN: the admin must work on an intranet. Each chart is one inline
``<svg>`` that scales with its container (``viewBox``, no fixed width), carries an
accessible ``<title>``/``<desc>`` (``role="img"``) and a ``<title>`` on every bar or
point (the browser's tooltip: category, series, value). Every page shows the chart's
numbers again in a table beneath it; the chart is never the only place a number is.

API (everything returns ``markupsafe.Markup``, safe to print in a template)::

    from admin.charts import Series, bar_chart, line_chart

    bar_chart(["一月", "二月"], [Series("成交", [3, 5])], title="每月成交")
    bar_chart(cats, [Series("已付", paid), Series("待付", due)], stacked=True,
              value_format="cents", title="每月打款")          # stacked bars
    line_chart(cats, [Series("GMV", gmv_cents)], value_format="cents", title="GMV 走势")

- ``categories``: the x-axis labels (Chinese is fine; long ones are shortened on the
  axis and kept whole in the tooltip).
- ``series``: ``Series(name, values, color=None)``, one value per category, integers
  >= 0: counts, or money in **cents** with ``value_format="cents"`` (the axis and the
  tooltips then show 元: ``¥1,234.56`` in tooltips, ``1.2万``-style round ticks on the axis).
- ``title`` (required) and ``desc`` (optional) become the SVG's accessible name and description.
- No categories or no series → the same frame with the text "暂无数据" (``empty_text``).
- Axis ticks are round numbers (1, 2, 5 × 10ⁿ steps, integral for counts, whole 元 for money).

In templates, the same functions are Jinja globals (``register_jinja(app)``, done in
``admin.init_app``): ``{{ bar_chart(categories, [Series('报备', counts)], title='报备') }}``,
and ``admin/dashboards/_chart.html`` has ``figure(svg, caption)`` to wrap one with its caption.
Geometry uses floats (pixels); values and their labels stay integers.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal, Sequence

from markupsafe import Markup, escape

from estate_platform.money import yuan

ValueFormat = Literal["count", "cents"]
PALETTE = ("#2a6df4", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9", "#64748b", "#ec4899")
WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 36, 56
LABEL_CHARS = 8
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    """One named row of values, one per category (counts or cents, integers >= 0)."""
    name: str
    values: Sequence[int]
    color: str | None = field(default=None)


def nice_step(span: int, *, minimum: int = 1, ticks: int = 5) -> int:
    """The smallest 1/2/5 × 10ⁿ step (at least ``minimum``) giving at most ``ticks`` intervals."""
    step = minimum
    while True:
        for factor in (1, 2, 5):
            candidate = step * factor
            if candidate * ticks >= span:
                return candidate
        step *= 10


def axis_ticks(max_value: int, value_format: ValueFormat = "count", ticks: int = 5) -> list[int]:
    """Round tick values from 0 to the first tick at or above ``max_value`` (0..1 for all zeros)."""
    minimum = 100 if value_format == "cents" else 1
    span = max(max_value, minimum)
    step = nice_step(span, minimum=minimum, ticks=ticks)
    top = -(-span // step) * step
    return list(range(0, top + 1, step))


def format_value(value: int, value_format: ValueFormat = "count") -> str:
    """Full value for tooltips and tables: 1,234 or ¥1,234.56."""
    return yuan(value) if value_format == "cents" else f"{value:,}"


def format_tick(value: int, value_format: ValueFormat = "count") -> str:
    """Short axis label: counts as 1,200 or 1.2万; cents as whole 元 (¥300, ¥1.5万, ¥2亿)."""
    units = value // 100 if value_format == "cents" else value
    prefix = "¥" if value_format == "cents" else ""
    for size, suffix in ((100_000_000, "亿"), (10_000, "万")):
        if units >= size:
            whole, rest = divmod(units, size)
            tenths = rest * 10 // size
            return f"{prefix}{whole}.{tenths}{suffix}" if tenths else f"{prefix}{whole}{suffix}"
    return f"{prefix}{units:,}"


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


def _px(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _check(categories: Sequence[str], series: Sequence[Series]) -> None:
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(categories)} categories")
        if any((not isinstance(v, int)) or v < 0 for v in s.values):
            raise ValueError(f"series {s.name!r}: values must be integers >= 0")


def _open(title: str, desc: str | None) -> tuple[list[str], str]:
    uid = f"chart{next(_ids)}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'preserveAspectRatio="xMidYMid meet" role="img" aria-labelledby="{uid}-t {uid}-d">',
             f'<title id="{uid}-t">{escape(title)}</title>',
             f'<desc id="{uid}-d">{escape(desc or title)}</desc>']
    return parts, uid


def _empty(title: str, desc: str | None, empty_text: str) -> Markup:
    parts, _ = _open(title, desc)
    parts.append(f'<rect x="0.5" y="0.5" width="{WIDTH - 1}" height="{HEIGHT - 1}" fill="#fafbfc" '
                 f'stroke="#eef0f3"/>')
    parts.append(f'<text class="chart-empty" x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle" '
                 f'fill="#98a2b3" font-size="14">{escape(empty_text)}</text></svg>')
    return Markup("".join(parts))


def _frame(parts: list[str], top: int, ticks: list[int], value_format: ValueFormat,
           series: Sequence[Series]) -> None:
    """Grid lines with tick labels, the x axis, and a legend when there is more than one series."""
    plot_h = HEIGHT - TOP - BOTTOM
    for tick in ticks:
        y = TOP + plot_h - plot_h * tick / top
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_px(y)}" y2="{_px(y)}" stroke="#eef0f3"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{_px(y + 4)}" text-anchor="end" font-size="11" fill="#667085">'
                     f'{escape(format_tick(tick, value_format))}</text>')
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
                 f'stroke="#98a2b3"/>')
    if len(series) > 1:
        x = LEFT
        for index, s in enumerate(series):
            parts.append(f'<rect x="{x}" y="10" width="10" height="10" fill="{_color(s, index)}"/>')
            parts.append(f'<text x="{x + 14}" y="19" font-size="11" fill="#344054">{escape(s.name)}</text>')
            x += 24 + 12 * len(s.name)


def _color(s: Series, index: int) -> str:
    return escape(s.color or PALETTE[index % len(PALETTE)])


def _x_labels(parts: list[str], categories: Sequence[str], slot: float) -> None:
    rotate = len(categories) > 8
    for index, label in enumerate(categories):
        x = LEFT + slot * index + slot / 2
        y = HEIGHT - BOTTOM + 16
        transform = f' transform="rotate(-35 {_px(x)} {y})"' if rotate else ""
        anchor = "end" if rotate else "middle"
        parts.append(f'<text x="{_px(x)}" y="{y}" text-anchor="{anchor}" font-size="11" fill="#475467"'
                     f'{transform}>{escape(_short(label))}<title>{escape(label)}</title></text>')


def bar_chart(categories: Sequence[str], series: Sequence[Series], *, title: str, desc: str | None = None,
              value_format: ValueFormat = "count", stacked: bool = False,
              empty_text: str = "暂无数据") -> Markup:
    """Grouped bars (one per series inside each category) or, with ``stacked=True``, stacked bars."""
    if not categories or not series:
        return _empty(title, desc, empty_text)
    _check(categories, series)
    if stacked:
        max_value = max(sum(s.values[i] for s in series) for i in range(len(categories)))
    else:
        max_value = max(max(s.values) for s in series)
    ticks = axis_ticks(max_value, value_format)
    top = ticks[-1]
    parts, _ = _open(title, desc)
    _frame(parts, top, ticks, value_format, series)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(categories)
    group = slot * 0.7
    bar_w = group if stacked else group / len(series)
    for ci, category in enumerate(categories):
        base = TOP + plot_h
        for si, s in enumerate(series):
            value = s.values[ci]
            h = plot_h * value / top
            x = LEFT + slot * ci + (slot - group) / 2 + (0 if stacked else bar_w * si)
            y = base - h
            tip = f"{category} · {s.name}：{format_value(value, value_format)}"
            parts.append(f'<rect class="bar" x="{_px(x)}" y="{_px(y)}" width="{_px(bar_w)}" height="{_px(h)}" '
                         f'fill="{_color(s, si)}" data-value="{value}"><title>{escape(tip)}</title></rect>')
            if stacked:
                base = y
    _x_labels(parts, categories, slot)
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_bar_chart(categories: Sequence[str], series: Sequence[Series], **kwargs) -> Markup:
    """``bar_chart(..., stacked=True)``."""
    return bar_chart(categories, series, stacked=True, **kwargs)


def line_chart(categories: Sequence[str], series: Sequence[Series], *, title: str, desc: str | None = None,
               value_format: ValueFormat = "count", empty_text: str = "暂无数据") -> Markup:
    """One polyline per series, a dot with a tooltip on each point."""
    if not categories or not series:
        return _empty(title, desc, empty_text)
    _check(categories, series)
    ticks = axis_ticks(max(max(s.values) for s in series), value_format)
    top = ticks[-1]
    parts, _ = _open(title, desc)
    _frame(parts, top, ticks, value_format, series)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(categories)
    for si, s in enumerate(series):
        color = _color(s, si)
        points = [(LEFT + slot * ci + slot / 2, TOP + plot_h - plot_h * v / top) for ci, v in enumerate(s.values)]
        parts.append(f'<polyline class="line" fill="none" stroke="{color}" stroke-width="2" points="'
                     + " ".join(f"{_px(x)},{_px(y)}" for x, y in points) + '"/>')
        for (x, y), category, value in zip(points, categories, s.values):
            tip = f"{category} · {s.name}：{format_value(value, value_format)}"
            parts.append(f'<circle class="point" cx="{_px(x)}" cy="{_px(y)}" r="3.5" fill="{color}" '
                         f'data-value="{value}"><title>{escape(tip)}</title></circle>')
    _x_labels(parts, categories, slot)
    parts.append("</svg>")
    return Markup("".join(parts))


def register_jinja(app) -> None:
    """Make the chart functions (and ``Series``, ``format_value``) callable from every admin template."""
    app.jinja_env.globals.update(bar_chart=bar_chart, stacked_bar_chart=stacked_bar_chart, line_chart=line_chart,
                                 Series=Series, format_value=format_value)
