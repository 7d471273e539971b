"""Assembly of one self-contained HTML page: inline CSS, no scripts, figures as relative PNG links.

Every piece of text that reaches the page goes through ``html.escape``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.sub { color: #666; margin-top: 0; } p.note { color: #8a6d3b; background: #fcf8e3; padding: 0.4em 0.8em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; white-space: nowrap; }
th { background: #f4f4f4; } tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.chosen td { background: #e8f1fb; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
.up { color: #2ca02c; } .down { color: #d62728; }
"""


@dataclass
class Table:
    """Column headers and rows of cell text; ``numeric`` columns are right-aligned,
    ``highlight`` rows are shaded, and ``classes`` maps (row, column) to a CSS class."""

    headers: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)
    highlight: set[int] = field(default_factory=set)
    classes: dict[tuple[int, int], str] = field(default_factory=dict)


@dataclass
class Section:
    """One heading with its paragraphs, notes (shown as warnings), a table and figures.

    ``figures`` holds (file name relative to the page, caption) pairs."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    table: Table | None = None
    figures: list[tuple[str, str]] = field(default_factory=list)


def render_page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole page as a string."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="sub">{e(subtitle)}</p>',
    ]
    for section in sections:
        parts.append(_section(section))
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_page(path: Path, title: str, subtitle: str, sections: list[Section]) -> Path:
    """Write the page atomically (temp file then rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_page(title, subtitle, sections), encoding="utf-8")
    tmp.replace(path)
    return path


def figure_files(sections: list[Section]) -> list[str]:
    """Every figure file the sections reference, in page order."""
    return [name for s in sections for name, _ in s.figures]


def _section(section: Section) -> str:
    e = html.escape
    out = [f"<section>\n<h2>{e(section.title)}</h2>"]
    out += [f"<p>{e(text)}</p>" for text in section.paragraphs]
    out += [f'<p class="note">{e(text)}</p>' for text in section.notes]
    if section.table is not None:
        out.append(_table(section.table))
    for name, caption in section.figures:
        src = e(quote(name), quote=True)
        out.append(
            f'<figure><img src="{src}" alt="{e(caption, quote=True)}" loading="lazy">'
            f"<figcaption>{e(caption)}</figcaption></figure>"
        )
    out.append("</section>")
    return "\n".join(out)


def _table(table: Table) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in table.headers)
    body = []
    for i, row in enumerate(table.rows):
        cells = []
        for j, cell in enumerate(row):
            cls = " ".join(c for c in ("num" if j in table.numeric else "", table.classes.get((i, j), "")) if c)
            attr = f' class="{e(cls, quote=True)}"' if cls else ""
            cells.append(f"<td{attr}>{e(str(cell))}</td>")
        row_attr = ' class="chosen"' if i in table.highlight else ""
        body.append(f"<tr{row_attr}>{''.join(cells)}</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"
