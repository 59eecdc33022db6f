"""Formulas in Markdown as MathML, so handouts show them rendered with no script and no network.

``$...$`` and ``$$...$$`` (Jupyter's math delimiters) become ``<math>`` elements at build time;
Chromium renders MathML natively, in pages opened from disk and in the PDFs it prints. A dollar
sign that is not math (a price, a shell variable) is left alone: as in pandoc, an opening ``$``
must be followed by a non-space and a closing one preceded by a non-space and not followed by a digit.

nbconvert's Markdown renderer breaks MathML written into the Markdown (it closes each tag at once), so
:func:`protect` swaps each formula for a plain token before rendering and :func:`restore` puts the
MathML in the rendered HTML.
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


TOKEN = "dlmathtoken{}x"


def protect(markdown: str, store: dict[str, str]) -> str:
    """Replace each formula with a token that Markdown leaves alone; ``store`` maps tokens to MathML."""
    def keep(mathml: str) -> str:
        token = TOKEN.format(len(store))
        store[token] = mathml
        return token

    parts = CODE.split(markdown)
    for i in range(0, len(parts), 2):
        text = DISPLAY.sub(lambda m: "\n\n" + keep(_convert(m.group(1), "block")) + "\n\n", parts[i])
        parts[i] = INLINE.sub(lambda m: keep(_convert(m.group(1), "inline")), text)
    return "".join(parts)


def restore(html_text: str, store: dict[str, str]) -> str:
    """Put the MathML of :func:`protect`'s tokens into rendered HTML."""
    for token, mathml in store.items():
        html_text = html_text.replace(token, mathml)
    return html_text
