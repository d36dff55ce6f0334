"""A small document model and its two renderings: Markdown and one offline HTML page.

The privacy documents are built as a list of blocks (headings, paragraphs,
lists, tables); each block renders to Markdown for the privacy officer's
word processor and to HTML for a browser. The HTML page stands alone: inline
CSS, no script, no font or image from elsewhere, `lang="nl"`, one `h1` and
headings in order, and colours whose contrast passes WCAG 2.1 AA.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from node.covenant_view import OPEN, OPEN_PARTNER

LEGAL = "[juridische toets nodig]"


@dataclass(frozen=True)
class Heading:
    level: int  # 1 once, at the top; then 2 and 3
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Heading | Para | Bullets | Table

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;font-size:1.0625rem;line-height:1.55;
color:#1b1b1b;background:#fff;margin:0}
main{max-width:46rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.75rem;line-height:1.25;color:#0b3d62}h2{font-size:1.35rem;margin-top:2rem;color:#0b3d62}
h3{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%;margin:1rem 0}caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid #6b6b6b;padding:.4rem .5rem;text-align:left;vertical-align:top}th{background:#e8eef3}
.open{background:#fff3bf;border:1px solid #7a5c00;padding:0 .2rem;font-weight:600}
.legal{background:#eef0ff;border:1px solid #3b3f8f;padding:0 .2rem;font-weight:600}
@media print{main{max-width:none}}
"""


def markdown(blocks: list[Block]) -> str:
    """The blocks as Markdown (GitHub tables)."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Para):
            out.append(block.text)
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {item}" for item in block.items))
        else:
            lines = [f"**{block.caption}**", "", "| " + " | ".join(block.headers) + " |",
                     "|" + "---|" * len(block.headers)]
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def page(blocks: list[Block], title: str) -> str:
    """The blocks as one standalone HTML page in Dutch."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block.items) + "</ul>")
        else:
            head = "".join(f'<th scope="col">{_inline(h)}</th>' for h in block.headers)
            rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table><caption>{_inline(block.caption)}</caption><thead><tr>{head}</tr></thead>"
                        f"<tbody>{rows}</tbody></table>")
    return ("<!DOCTYPE html>\n<html lang=\"nl\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _inline(text: str) -> str:
    """Escaped text with the open-field and legal-check markers made visible (not by colour alone)."""
    escaped = html.escape(text)
    for marker, css in ((OPEN, "open"), (OPEN_PARTNER, "open"), (LEGAL, "legal")):
        escaped = escaped.replace(html.escape(marker), f'<strong class="{css}">{html.escape(marker)}</strong>')
    return escaped
