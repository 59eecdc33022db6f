"""The exercise catalogue as a whole: every exercise practises a syllabus objective, every notebook has
its code exercises, and no two notebooks ask the same question."""

from __future__ import annotations

import difflib
import itertools

import pytest

from course import syllabus as syl
from course.commands import exercises as catalogue

COURSE = syl.load()
ENTRIES = catalogue.catalogue(COURSE)


def _code_exercises_required(nb: syl.Notebook) -> int:
    """Issue 16's floor: one code exercise in weeks 1-2 and each extra, two in weeks 3-8."""
    if nb.is_extra or nb.week in (1, 2):
        return 1
    return 2 if isinstance(nb.week, int) and 3 <= nb.week <= 8 else 0


def test_every_exercise_module_names_a_notebook_of_the_syllabus_and_every_notebook_has_exercises():
    with_exercises = {e.notebook for e in ENTRIES}
    assert with_exercises == {nb.id for nb in COURSE.notebooks}


@pytest.mark.parametrize("nb", COURSE.notebooks, ids=[nb.id for nb in COURSE.notebooks])
def test_each_notebook_has_its_code_exercises(nb):
    code = [e.id for e in ENTRIES if e.notebook == nb.id and e.kind == "code"]
    assert len(code) >= _code_exercises_required(nb), f"{nb.id}: code exercises {code}"


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"{e.notebook}.{e.id}" for e in ENTRIES])
def test_every_exercise_practises_one_of_its_notebooks_objectives(entry):
    objectives = COURSE.by_id(entry.notebook).objectives
    assert entry.objective in objectives, (
        f"{entry.module}.{entry.id}: objective={entry.objective!r} is not one of {entry.notebook}'s objectives")


def test_no_two_notebooks_ask_the_same_question():
    def words(text: str) -> list[str]:
        return text.lower().split()

    similar = []
    for a, b in itertools.combinations(ENTRIES, 2):
        if a.notebook == b.notebook:
            continue
        ratio = difflib.SequenceMatcher(None, words(a.question), words(b.question)).ratio()
        if ratio > 0.75:
            similar.append(f"{a.notebook} {a.id} ~ {b.notebook} {b.id} ({ratio:.2f})")
    assert not similar, similar
