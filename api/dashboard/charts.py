"""Charts drawn on the server as SVG (pygal), inlined in the page: no script, nothing
fetched from another site (pygal's tooltips script is left out)."""

from __future__ import annotations

import re
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#9aa5b1",
    colors=("#1d4e89", "#e07a1f", "#2a9d8f", "#8e5572", "#6c757d", "#b5838d", "#588157"),
    font_family="system-ui, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
    title_font_size=14,
)


# Pygal writes its configuration into the SVG as a script (for its tooltips), whatever
# `js` says; the pages run no script, so it goes. Its output is XML, where a script's text
# has every `<` escaped: the first `</script>` is the element's own end.
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>|<script\b[^>]*/>", re.S)


def _svg(chart: Any) -> Markup:
    # Pygal's own output, with every value escaped by it; kept as markup to inline.
    return Markup(SCRIPT.sub("", chart.render(is_unicode=True)))  # noqa: S704


def _base(kind: Any, title: str, *, height: int = 360, **options: Any) -> Any:
    return kind(
        title=title,
        style=STYLE,
        js=[],  # no script from another site (pygal's default fetches its tooltips)
        disable_xml_declaration=True,
        width=900,
        height=height,
        explicit_size=False,
        legend_at_bottom=True,
        truncate_legend=40,
        **options,
    )


def flows_over_time(flows: dict[str, Any], title: str) -> Markup | None:
    """Cumulative dollars disbursed and expended, month by month, a line per grantee
    and measure; None when there is nothing to draw."""
    months: list[str] = flows["months"]
    if not months:
        return None
    chart = _base(
        pygal.Line,
        title,
        x_label_rotation=30,
        show_dots=len(months) < 40,
        # About eight month labels however long the program: the rest only ticked.
        show_minor_x_labels=False,
        x_labels_major_every=max(1, len(months) // 8),
    )
    chart.x_labels = months
    chart.value_formatter = lambda v: f"${v:,.0f}"
    for grantee, per_month in sorted(flows["grantees"].items()):
        for measure in ("disbursed", "expended"):
            total, series = 0, []
            for month in months:
                total += per_month.get(month, {}).get(measure, 0)
                series.append(total / 100)
            chart.add(f"{grantee} {measure}", series)
    return _svg(chart)


def bars(title: str, values: dict[str, int], *, money: bool = False) -> Markup | None:
    """One bar per label; None when there is nothing to draw."""
    if not any(values.values()):
        return None
    chart = _base(pygal.HorizontalBar, title, show_legend=False, height=100 + 36 * len(values))
    chart.value_formatter = (lambda v: f"${v:,.2f}") if money else (lambda v: f"{v:,.0f}")
    chart.x_labels = list(values)
    if not money:  # counts: whole-number ticks only
        top = max(values.values())
        step = max(1, -(-top // 8))
        chart.y_labels = list(range(0, top + step, step))
    chart.add(title, [v / 100 if money else v for v in values.values()])
    return _svg(chart)
