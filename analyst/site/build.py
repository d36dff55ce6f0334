"""Builds the static site from the monitor's run documents: a front page, a page per indicator with
its chart, tables, trend, accounting and downloads, and a page explaining the noise. Every asset is a
file beside the pages, so the site works opened from disk with no network."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from analyst.monitor_history import peildatum_of
from analyst.site import charts, downloads, dutch
from analyst.site.model import IndicatorView, indicator_views, labels_of
from regiozicht.errors import ConfigError

PARTS = ("index.html", "uitleg.html", "indicatoren", "downloads", "static")  # what a build replaces in out_dir


@dataclass(frozen=True)
class SiteInfo:
    title: str
    peildatum: str
    notice: str | None
    built: str  # date of this build, in words

    @property
    def date(self) -> str:
        return dutch.date(self.peildatum)


def page_count(documents: list[dict[str, Any]]) -> int:
    """How many steps `build_site` reports: one per indicator, then the front page and the explanation."""
    return len(documents[-1]["indicators"]) + 2 if documents else 0


def build_site(documents: list[dict[str, Any]], out_dir: Path, *, notice: str | None = None,
               progress: Callable[[str], None] | None = None) -> Path:
    """Writes the site for `documents` (one run per period, oldest first) into `out_dir`; returns its
    front page. Only the site's own files there are replaced (a history folder beside them stays)."""
    if not documents:
        raise ConfigError("There are no monitor runs to build a site from; run `regiozicht monitor build` first.")
    report = progress or (lambda _: None)
    current = documents[-1]
    site = SiteInfo(current["title"], peildatum_of(current), notice, dutch.date(dt.date.today().isoformat()))
    views = indicator_views(documents)
    labels = labels_of(documents)
    env = _environment()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".site-", dir=out_dir) as scratch:
        staging = Path(scratch)
        for folder in ("indicatoren", "downloads", "static"):
            (staging / folder).mkdir()
        _copy_static(staging / "static")
        for view in views:
            report(f"indicator {view.id}")
            _indicator_page(env, staging, site, view, labels)
        report("voorpagina")
        _write(staging / "index.html", env.get_template("index.html").render(
            site=site, root="", views=views, slug=slug, dutch=dutch))
        report("uitleg")
        _write(staging / "uitleg.html", env.get_template("uitleg.html").render(site=site, root="", dutch=dutch))
        _swap_in(staging, out_dir)
    return out_dir / "index.html"


def slug(identifier: str) -> str:
    """A file name for an indicator id."""
    return re.sub(r"[^a-z0-9_-]+", "-", identifier.lower()).strip("-") or "indicator"


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("analyst.site", "templates"), autoescape=select_autoescape(),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


def _indicator_page(env: Environment, staging: Path, site: SiteInfo, view: IndicatorView,
                    labels: dict[str, dict[str, str]]) -> None:
    name = slug(view.id)
    columns, rows = downloads.records(view, labels)
    downloads.write_csv(staging / "downloads" / f"{name}.csv", columns, rows)
    downloads.write_xlsx(staging / "downloads" / f"{name}.xlsx", view, columns, rows)
    html = env.get_template("indicator.html").render(
        site=site, root="../", view=view, name=name, dutch=dutch,
        chart=charts.bars(view, view.main, f"grafiek-{name}") if view.main.rows else None,
        trend_chart=charts.trend(view, f"trend-{name}"))
    _write(staging / "indicatoren" / f"{name}.html", html)


def _copy_static(target: Path) -> None:
    for entry in resources.files("analyst.site").joinpath("static").iterdir():
        if entry.is_file():
            (target / entry.name).write_bytes(entry.read_bytes())


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Replaces the site's parts in out_dir by the freshly built ones, one rename each."""
    for part in PARTS:
        target = out_dir / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        (staging / part).rename(target)
