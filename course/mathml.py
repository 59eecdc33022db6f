"""Formulas in Markdown as MathML, so handouts show them rendered with no script and no network.

``$...$`` and ``$$...$$`` (Jupyter's math delimiters) become ``<math>`` elements at build time;
Chromium renders MathML natively, in pages opened from disk and in the PDFs it prints. A dollar
sign that is not math (a price, a shell variable) is left alone: as in pandoc, an opening ``$``
must be followed by a non-space and a closing one preceded by a non-space and not followed by a digit.
"""

from __future__ import annotations

import re

DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
INLINE = re.compile(r"(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?![\d$])")
CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


def _convert(latex: str, display: str) -> str:
    from latex2mathml.converter import convert

    try:
        return convert(latex.strip(), display=display)
    except Exception:  # noqa: BLE001 - a formula the converter cannot read stays as its source
        return f"${latex}$" if display == "inline" else f"$${latex}$$"


def markdown_math_to_mathml(markdown: str) -> str:
    """Replace the LaTeX formulas of a Markdown text with MathML (code spans and blocks untouched)."""
    parts = CODE.split(markdown)
    for i in range(0, len(parts), 2):  # even indexes are outside code
        text = DISPLAY.sub(lambda m: "\n" + _convert(m.group(1), "block") + "\n", parts[i])
        parts[i] = INLINE.sub(lambda m: _convert(m.group(1), "inline"), text)
    return "".join(parts)
