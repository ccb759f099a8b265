"""The report for readers: one static HTML page, ``results/report/index.html``.

Every figure with its caption directly under it and every table inline, grouped in
sections (each simulation scenario, each real dataset, the ablations, cost,
significance, reproduction, the paper check), with a table of contents. The page needs no
JavaScript and reads offline: images are referenced relative to the page (the figures
beside it under ``results/report/``) and the style sheet is inline.

The captions are the workflow's ``workflow/report/*.rst`` files, the ones Snakemake's own
report shows behind an icon: Jinja templates of reStructuredText paragraphs. They are
rendered here with the same ``snakemake`` names (``wildcards``, ``params``, ``config``)
and written as plain paragraphs (inline literals, bold and italics kept), so each caption
has one source.

A figure is shown at its size in inches (96 CSS px per inch, the PNG's own dpi read from
the file): a 12 pt panel title is 16 px on screen, whatever the PNG's resolution.

The workflow's rule ``report_index`` hands the page its entries (a list of mappings):

    {"section": "Simulation: RNA + protein", "subsection": "noise sd 0.5",
     "kind": "figure" | "table", "path": "datasets/<id>/domain_maps.png" (relative to the
     report directory), "caption": "domain_maps" (an .rst stem, or ""), "title": "Domain
     maps", "context": {"wildcards": {...}, "params": {...}}}
"""

from __future__ import annotations

import html
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastspami._utils.atomic import atomic_path
from fastspami.errors import InputDataError

CSS_PX_PER_INCH = 96
STYLE = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;font-size:15px;
line-height:1.5;color:#1a1a1a;margin:0 auto;padding:0 24px 48px;max-width:1400px}
h1{font-size:28px;margin:28px 0 8px}
h2{font-size:23px;margin:40px 0 8px;padding-top:8px;border-top:2px solid #d0d0d0}
h3{font-size:19px;margin:28px 0 6px}
h4{font-size:16px;margin:18px 0 6px}
h5{font-size:15px;margin:14px 0 4px}
nav ul{margin:4px 0;padding-left:22px}
figure{margin:18px 0 28px}
figure img{max-width:100%;height:auto;display:block}
figcaption,.caption{max-width:1100px;color:#333;font-size:14px}
figcaption p,.caption p{margin:6px 0}
.table{margin:12px 0 28px;overflow-x:auto}
table{border-collapse:collapse;margin:6px 0;font-size:14px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}
ol.notes{margin:2px 0 10px;font-size:14px;color:#333}
p.notes-title{margin:8px 0 0;font-size:14px;color:#333}
code{font-size:13px;background:#f4f4f4;padding:0 3px}
.missing{color:#a00}
"""


@dataclass
class Entry:
    """One figure or table of the page."""

    kind: str  # "figure" or "table"
    path: str  # relative to the report directory
    title: str = ""
    caption: str = ""  # stem of a caption .rst, or ""
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Section:
    """A section of the page: entries of its own, then subsections in order."""

    title: str
    entries: list[Entry] = field(default_factory=list)
    subsections: dict[str, list[Entry]] = field(default_factory=dict)


# ---------------------------------------------------------------- captions


class _Names(dict):
    """A mapping whose keys are also attributes, as Snakemake's wildcards and params are."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def render_template(text: str, context: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """A caption template rendered as Snakemake's report renders it: ``snakemake.wildcards``,
    ``snakemake.params`` and ``snakemake.config``. An undefined name fails, naming it."""
    import jinja2

    snakemake = _Names(
        wildcards=_Names(context.get("wildcards") or {}),
        params=_Names(context.get("params") or {}),
        config=config,
    )
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        return environment.from_string(text).render(snakemake=snakemake)
    except jinja2.UndefinedError as err:
        raise InputDataError(
            f"A caption names something its entry does not give: {err}. Give it in the "
            "entry's context (wildcards, params) or remove it from the caption."
        ) from None


_INLINE = (
    (re.compile(r"``(.+?)``"), r"<code>\1</code>"),
    (re.compile(r"\*\*(.+?)\*\*"), r"<b>\1</b>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<i>\1</i>"),
    (re.compile(r"`([^`<]+?)\s*&lt;(https?://[^`]+?)&gt;`_"), r"<a href='\2'>\1</a>"),
)
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}$")


def rst_paragraphs(text: str) -> list[tuple[str, str]]:
    """reStructuredText as [(kind, html)]: ('title', ...) for an underlined title, else
    ('p', ...) per paragraph (lines joined; inline literals, bold, italics and links kept)."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if len(lines) >= 2 and _UNDERLINE.match(lines[1]):
            out.append(("title", html.escape(lines[0])))
            lines = lines[2:]
            if not lines:
                continue
        paragraph = html.escape(" ".join(lines), quote=False)
        for pattern, replacement in _INLINE:
            paragraph = pattern.sub(replacement, paragraph)
        out.append(("p", paragraph))
    return out


def caption_html(
    name: str, captions: Mapping[str, str | Path], context: Mapping, config: Mapping
) -> str:
    """The caption ``name`` (an .rst stem of ``captions``: stem -> path) as paragraphs."""
    if not name:
        return ""
    if name not in captions:
        raise InputDataError(f"No caption file {name}.rst among {sorted(captions)}.")
    text = render_template(Path(captions[name]).read_text(), context, config)
    return "".join(f"<p>{body}</p>" for _, body in rst_paragraphs(text))


# ---------------------------------------------------------------- figures and tables


def png_size(path: str | Path) -> tuple[int, int, float | None]:
    """(width px, height px, dpi or None) of a PNG, from its header and pHYs chunk."""
    with open(path, "rb") as handle:
        data = handle.read(1 << 16)
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise InputDataError(f"{path} is not a PNG file.")
    width, height = struct.unpack(">II", data[16:24])
    dpi = None
    at = data.find(b"pHYs")
    if at >= 0:
        x_per_m, _, unit = struct.unpack(">IIB", data[at + 4 : at + 13])
        if unit == 1 and x_per_m:
            dpi = x_per_m * 0.0254
    return width, height, dpi


def screen_width(path: str | Path) -> int:
    """CSS px at which a PNG shows its size in inches (its pixel width without a dpi)."""
    width, _, dpi = png_size(path)
    return round(width * CSS_PX_PER_INCH / dpi) if dpi else width


_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)


def table_fragment(path: str | Path, level: int = 4) -> str:
    """The body of a table's HTML file (``fastspami.benchmark.report.to_html``), its
    headings moved down to start at <h{level}>."""
    text = Path(path).read_text()
    found = _BODY.search(text)
    body = found.group(1) if found else text

    def demote(match: re.Match) -> str:
        return f"<{match.group(1)}h{min(6, int(match.group(2)) + level - 1)}"

    return re.sub(r"<(/?)h([1-6])", demote, body).strip()


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _entry_html(
    entry: Entry, root: Path, captions: Mapping[str, str | Path], config: Mapping
) -> str:
    caption = caption_html(entry.caption, captions, entry.context, config)
    file = root / entry.path
    if not file.is_file():
        return f"<p class='missing'>Missing: {html.escape(entry.path)}</p>"
    if entry.kind == "figure":
        alt = html.escape(entry.title or Path(entry.path).stem.replace("_", " "))
        width = screen_width(file)
        src = html.escape(Path(entry.path).as_posix())
        return (
            f"<figure><img src='{src}' width='{width}' alt='{alt}'>"
            f"<figcaption>{caption}</figcaption></figure>"
        )
    if entry.kind == "table":
        return (
            f"<div class='table'>{table_fragment(file)}<div class='caption'>{caption}</div></div>"
        )
    raise InputDataError(f"Entry {entry.path}: kind {entry.kind!r} is neither figure nor table.")


# ---------------------------------------------------------------- the page


def sections_of(entries: Sequence[Mapping[str, Any]]) -> list[Section]:
    """Entries (mappings as the workflow gives them) grouped into sections, in order."""
    sections: dict[str, Section] = {}
    for item in entries:
        entry = Entry(
            kind=str(item["kind"]),
            path=str(item["path"]),
            title=str(item.get("title", "")),
            caption=str(item.get("caption", "")),
            context=item.get("context") or {},
        )
        section = sections.setdefault(item["section"], Section(item["section"]))
        if item.get("subsection"):
            section.subsections.setdefault(item["subsection"], []).append(entry)
        else:
            section.entries.append(entry)
    return list(sections.values())


def index_html(
    entries: Sequence[Mapping[str, Any]],
    root: str | Path,
    captions: Mapping[str, str | Path],
    config: Mapping[str, Any],
    intro: str = "",
    title: str = "SpaMI benchmark",
) -> str:
    """The page: title, introduction (the caption stem ``intro``: its title heads the page),
    contents, then each section with its figures (caption under each) and tables.

    root: the report directory (entries' paths are relative to it); captions: .rst stem ->
    path; config: the workflow's config (for the captions' templates).
    """
    root = Path(root)
    head = f"<h1>{html.escape(title)}</h1>"
    if intro:
        parts = rst_paragraphs(render_template(Path(captions[intro]).read_text(), {}, config))
        if parts and parts[0][0] == "title":
            head = f"<h1>{parts[0][1]}</h1>"
        head += "".join(f"<p>{body}</p>" for kind, body in parts if kind == "p")
    sections = sections_of(entries)
    contents = []
    body = []
    for section in sections:
        anchor = _anchor(section.title)
        subs = "".join(
            f"<li><a href='#{anchor}--{_anchor(s)}'>{html.escape(s)}</a></li>"
            for s in section.subsections
        )
        contents.append(
            f"<li><a href='#{anchor}'>{html.escape(section.title)}</a>"
            + (f"<ul>{subs}</ul>" if subs else "")
            + "</li>"
        )
        body.append(f"<h2 id='{anchor}'>{html.escape(section.title)}</h2>")
        body += [_entry_html(e, root, captions, config) for e in section.entries]
        for sub, items in section.subsections.items():
            body.append(f"<h3 id='{anchor}--{_anchor(sub)}'>{html.escape(sub)}</h3>")
            body += [_entry_html(e, root, captions, config) for e in items]
    nav = f"<nav><h2>Contents</h2><ul>{''.join(contents)}</ul></nav>" if contents else ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
        f"{head}\n{nav}\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_index(
    path: str | Path,
    entries: Sequence[Mapping[str, Any]],
    captions: Sequence[str | Path],
    config: Mapping[str, Any],
    intro: str = "workflow",
) -> None:
    """Write the page to ``path`` (in the report directory: entries' paths are relative
    to its folder), atomically. captions: the caption .rst files (stem = name)."""
    by_stem = {Path(p).stem: Path(p) for p in captions}
    page = index_html(
        entries, Path(path).parent, by_stem, config, intro=intro if intro in by_stem else ""
    )
    with atomic_path(path) as tmp:
        tmp.write_text(page)
