"""Where the Chromium that prints the handouts' PDFs is, and the printing itself (the browser tests use it too)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]


def chromium_path() -> str | None:
    """The Chromium that prints PDFs: $COURSE_CHROMIUM, /usr/bin/chromium or chromium on PATH; else None."""
    for candidate in (os.environ.get("COURSE_CHROMIUM"), CHROMIUM, shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def print_pdfs(out: Path, pages: dict[str, Path], chromium: str) -> dict[str, str]:
    """Print each page to ``out/KEY.pdf`` with headless Chromium, with an outline (bookmarks) made from its headings
    and tagged for screen readers; returns {key: pdf file name}."""
    from playwright.sync_api import sync_playwright

    done = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            for key, source in pages.items():
                page.goto(source.resolve().as_uri(), wait_until="load")
                page.pdf(path=str(out / f"{key}.pdf"), format="A4", print_background=True, outline=True, tagged=True,
                         margin={"top": "12mm", "bottom": "14mm", "left": "10mm", "right": "10mm"},
                         display_header_footer=True, header_template="<span></span>",
                         footer_template='<div style="font-size:8px;width:100%;text-align:center">'
                                         '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')
                done[key] = f"{key}.pdf"
        finally:
            browser.close()
    return done
