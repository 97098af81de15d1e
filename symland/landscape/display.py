"""Tables of results for a terminal, a notebook (HTML) and a paper (LaTeX), from one list of rows.

Every result type renders through :func:`html_table` and :func:`latex_table`; cells are strings
already carrying only their correct digits (the caller formats them), escaped here.
"""

from __future__ import annotations

import html

__all__ = ["html_table", "latex_table", "latex_escape"]

_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def latex_escape(text) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def html_table(headers, rows, caption: str = "") -> str:
    """An HTML ``<table>`` (notebooks' ``_repr_html_``): a caption, a header row, one row per entry."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def latex_table(headers, rows, caption: str = "") -> str:
    """A LaTeX ``tabular`` (``_repr_latex_`` and exports): left-aligned columns, one row per entry."""
    cols = "l" * len(headers)
    lines = [r"\begin{tabular}{" + cols + "}", r"\hline",
             " & ".join(latex_escape(h) for h in headers) + r" \\", r"\hline"]
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in rows]
    lines.append(r"\hline")
    lines.append(r"\end{tabular}")
    if caption:
        lines.insert(0, f"% {caption}")
    return "\n".join(lines)
