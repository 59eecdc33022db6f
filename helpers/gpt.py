"""The text week 5's hand-written GPT learns from offline: a public-domain book of fables shipped with the course.

``fables()`` returns the first 41 of Aesop's fables in George Fyler Townsend's translation (Project
Gutenberg eBook #21, public domain; ``helpers/coursedata/README.md`` says how the file was made), about
23,000 characters: enough for the smoke profile's character-level GPT to learn which letters and words
follow which in a few dozen steps, with no download. The full profile downloads TinyStories instead,
with the real ``hf_hub_download`` call in the notebook's own cell.

Taught in week 5 (05b-build-a-gpt).
"""

from __future__ import annotations

from importlib.resources import files


def fables() -> str:
    """Aesop's fables (Townsend's translation, the first 41 of Project Gutenberg eBook #21) as one string."""
    return (files("helpers") / "coursedata" / "aesop.txt").read_text(encoding="utf-8")
