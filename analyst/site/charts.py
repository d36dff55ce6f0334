"""Charts rendered on the server with matplotlib to inline SVG: no script, no request, and a text
alternative (<title> and <desc>) naming every value and its 95% interval."""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib
from markupsafe import Markup, escape
from matplotlib.figure import Figure as Canvas

from analyst.site import dutch
from analyst.site.model import Figure, IndicatorView, Table

matplotlib.use("svg")  # no display, no GUI toolkit

# dark enough for 3:1 against white (WCAG 1.4.11), told apart by marker too
COLOURS = ("#1d4f91", "#b2400f", "#1b7a4a", "#7a3b8f", "#6b5800", "#3d3d3d", "#005f73", "#9b2226")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_RC: dict[str, Any] = {"svg.fonttype": "none", "font.family": "sans-serif", "font.size": 10, "axes.edgecolor": "#3d3d3d",
       "axes.labelcolor": "#1a1a1a", "xtick.color": "#1a1a1a", "ytick.color": "#1a1a1a",
       "axes.spines.top": False, "axes.spines.right": False}


def bars(view: IndicatorView, table: Table, chart_id: str) -> Markup:
    """Horizontal bars of a table's figures with their 95% intervals as error bars."""
    rows = list(reversed(table.rows))  # first row on top
    with matplotlib.rc_context(_style(chart_id)):
        canvas = Canvas(figsize=(7.5, 0.42 * len(rows) + 1.1))
        axes = canvas.add_subplot()
        top = max([r.figure.high or r.figure.value or 0 for r in rows] + [1e-9])
        for y, row in enumerate(rows):
            fig = row.figure
            if fig.value is None:
                axes.text(0, y, " " + view.text(fig), va="center", fontsize=9, color="#1a1a1a")
                continue
            axes.barh(y, fig.value, color=COLOURS[0], height=0.6)
            if fig.low is not None and fig.high is not None:
                axes.errorbar(fig.value, y, xerr=[[fig.value - fig.low], [fig.high - fig.value]], fmt="none",
                              ecolor="#1a1a1a", capsize=4, linewidth=1.2)
            axes.text(max(fig.high or 0, fig.value) + top * 0.02, y, view.unit.short(fig.value), va="center",
                      fontsize=9, color="#1a1a1a")
        axes.set_yticks(range(len(rows)), [r.label for r in rows])
        axes.set_xlim(0, top * 1.18)
        axes.set_xlabel(f"{view.unit.reads} (lijn: 95%-interval)")
        canvas.tight_layout()
        title = f"{view.title}, {table.caption.lower()}, peildatum {dutch.date(view.peildatum)}"
        desc = "; ".join(f"{r.label}: {_said(view, r.figure)}" for r in table.rows)
        return _svg(canvas, chart_id, title, desc)


def trend(view: IndicatorView, chart_id: str) -> Markup | None:
    """The region's figure (or each gemeente's) over the last periods, with 95% intervals."""
    series = [s for s in view.trend if s.label == "Hele regio"] or view.trend
    if not view.periods or not series:
        return None
    with matplotlib.rc_context(_style(chart_id)):
        canvas = Canvas(figsize=(7.5, 3.4))
        axes = canvas.add_subplot()
        spread = 0.08 if len(series) > 1 else 0.0
        for k, line in enumerate(series):
            shift = (k - (len(series) - 1) / 2) * spread
            points = [(i + shift, f) for i, f in enumerate(line.figures) if f is not None and f.value is not None]
            if not points:
                continue
            xs, values = [p[0] for p in points], [p[1].value or 0.0 for p in points]
            below = [v - (f.low if f.low is not None else v) for v, (_, f) in zip(values, points)]
            above = [(f.high if f.high is not None else v) - v for v, (_, f) in zip(values, points)]
            axes.errorbar(xs, values, yerr=[below, above], color=COLOURS[k % len(COLOURS)],
                          marker=MARKERS[k % len(MARKERS)], capsize=3, linewidth=1.5, label=line.label)
        axes.set_xticks(range(len(view.periods)), [dutch.short_date(p) for p in view.periods])
        axes.set_xlim(-0.5, len(view.periods) - 0.5)
        axes.set_ylim(bottom=0)
        axes.set_ylabel(view.unit.reads)
        if len(series) > 1:
            axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9)
        canvas.tight_layout()
        title = f"{view.title}: ontwikkeling over de laatste {len(view.periods)} peildata"
        desc = " ".join(f"{line.label}: " + "; ".join(f"{dutch.date(p)} {_said(view, f)}"
                                                      for p, f in zip(view.periods, line.figures)) + "."
                        for line in series)
        return _svg(canvas, chart_id, title, desc)


def _style(chart_id: str) -> Any:
    """The house style, with ids in the SVG salted by the chart's id (two charts on a page never share one)."""
    return {**_RC, "svg.hashsalt": chart_id}


def _said(view: IndicatorView, figure: Figure | None) -> str:
    if figure is None:
        return "geen cijfer"
    interval = view.interval(figure)
    return view.text(figure) + (f" (95%-interval {interval})" if interval and figure.value is not None else "")


_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)


def _svg(canvas: Canvas, chart_id: str, title: str, desc: str) -> Markup:
    buffer = io.StringIO()
    canvas.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = _METADATA.sub("", _PROLOGUE.sub("", buffer.getvalue(), count=1), count=1)
    opening = text.index(">") + 1
    head = text[:opening].replace("<svg ", f'<svg role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
                                          f'class="chart" ', 1)
    return Markup(head + f'<title id="{chart_id}-t">{escape(title)}</title>'
                         f'<desc id="{chart_id}-d">{escape(desc)}</desc>' + text[opening:])
