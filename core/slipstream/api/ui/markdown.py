"""A small, safe Markdown subset for ``doc_md``: every character of the source is
HTML-escaped first, so a DAG's docs can never inject markup or script.

Supported: ``#`` headings, paragraphs, ``-``/``*`` lists, fenced code blocks,
```code```, ``**bold**``, ``*italic*`` and ``[links](https://...)`` (http, https,
mailto and relative targets only).
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_INLINE_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_SCHEME = re.compile(r"^\s*([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_SAFE_SCHEMES = ("http", "https", "mailto")


def _inline(text: str) -> str:
    """Inline markup of one escaped line (code spans are kept as they are)."""
    pieces = _INLINE_CODE.split(text)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            out.append(f"<code>{piece}</code>")
            continue
        piece = _BOLD.sub(r"<strong>\1</strong>", piece)
        piece = _ITALIC.sub(r"<em>\1</em>", piece)

        def link(match: re.Match[str]) -> str:
            label, target = match.group(1), match.group(2)
            scheme = _SCHEME.match(target)
            if scheme and scheme.group(1).lower() not in _SAFE_SCHEMES:
                return match.group(0)
            return f'<a href="{target}" rel="noopener noreferrer">{label}</a>'

        out.append(_LINK.sub(link, piece))
    return "".join(out)


def render_markdown(source: str | None) -> Markup:
    if not source:
        return Markup("")
    html: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    code: list[str] | None = None

    def flush() -> None:
        if paragraph:
            html.append("<p>" + " ".join(_inline(p) for p in paragraph) + "</p>")
            paragraph.clear()
        if items:
            html.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for raw in str(escape(source)).splitlines():
        stripped = raw.strip()
        if code is not None:
            if stripped.startswith("```"):
                html.append("<pre><code>" + "\n".join(code) + "</code></pre>")
                code = None
            else:
                code.append(raw)
            continue
        if stripped.startswith("```"):
            flush()
            code = []
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if heading:
            flush()
            level = len(heading.group(1))
            html.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif re.match(r"^[-*]\s+", stripped):
            if paragraph:
                flush()
            items.append(re.sub(r"^[-*]\s+", "", stripped))
        elif not stripped:
            flush()
        else:
            if items:
                flush()
            paragraph.append(stripped)
    if code is not None:
        html.append("<pre><code>" + "\n".join(code) + "</code></pre>")
    flush()
    return Markup("\n".join(html))
