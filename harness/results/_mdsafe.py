"""Text that came from outside the harness (scenario names, details, reasons), made inert in
Markdown: it can neither end the code span or table cell it sits in nor become HTML, a link or a
fold's end (``</details>``) in any viewer that renders the report."""

from __future__ import annotations

import re


def md_text(text: object) -> str:
    """Prose: one line (newlines and the Unicode line separators fold to spaces), the characters
    that would start a code span, emphasis, a table cell or a link escaped, HTML's as entities."""
    s = " ".join(str(text).split()).replace("\\", "\\\\")
    for ch in "`*|":
        s = s.replace(ch, "\\" + ch)
    s = s.replace("](", "\\](")  # no inline link; brackets alone stay readable (pins[0].python)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_code(text: object, *, in_table: bool = False) -> str:
    """A code span that holds ``text`` whatever backticks it has (a fence longer than any run in
    it); inside a table, ``|`` is escaped as GitHub's tables ask."""
    s = " ".join(str(text).split())
    if in_table:
        s = s.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"
