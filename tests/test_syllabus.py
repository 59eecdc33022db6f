"""The syllabus: it loads, it matches the files on disk, and its errors name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from course import syllabus as syl
from course.errors import CourseError

ROOT = Path(__file__).resolve().parents[1]


def test_every_syllabus_entry_exists_on_disk():
    course = syl.load()
    for nb in course.notebooks:
        assert nb.path.is_file(), f"{nb.file} is in the syllabus but not on disk"


def test_every_notebook_on_disk_is_in_the_syllabus():
    listed = {nb.file for nb in syl.load().notebooks}
    on_disk = {str(p.relative_to(ROOT)) for p in ROOT.glob("notebooks/**/*.ipynb")
               if ".ipynb_checkpoints" not in p.parts}
    assert on_disk - listed == set(), "notebooks missing from course/syllabus.toml"


def test_notebook_files_follow_the_naming_convention():
    for nb in syl.load().notebooks:
        parts = Path(nb.file).parts
        assert parts[0] == "notebooks" and len(parts) == 3, nb.file
        if nb.is_extra:
            assert parts[1] == "extras", nb.file
        else:
            assert parts[1].startswith(f"{nb.week:02d}-") and nb.id.startswith(f"{nb.week:02d}"), nb.file


def test_prerequisites_come_earlier_in_the_course():
    course = syl.load()
    order = [nb.id for nb in course.notebooks]
    for nb in course.notebooks:
        for pre in nb.prerequisites:
            assert order.index(pre) < order.index(nb.id), f"{nb.id} needs {pre}, which comes later"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syllabus.toml"
    path.write_text(text)
    return path


GOOD = '''
[course]
title = "T"
reference_gpu = "G"
reference_vram_gb = 12
[[notebooks]]
id = "00a-x"
week = 0
title = "X"
file = "notebooks/00-x/00a-x.ipynb"
objectives = ["learn"]
[notebooks.smoke]
minutes = 1
vram_gb = 0
metrics = { acc = { min = 0.9 } }
[notebooks.full]
minutes = 2
vram_gb = 3
'''


def test_a_minimal_syllabus_loads(tmp_path):
    course = syl.load(_write(tmp_path, GOOD))
    nb = course.notebooks[0]
    assert nb.smoke.metrics["acc"].check(0.95) and not nb.smoke.metrics["acc"].check(0.5)


@pytest.mark.parametrize("old, new, expected", [
    ("minutes = 1", 'minutes = "one"', "field 'minutes' must be a number"),
    ('title = "X"\n', "", "missing field 'title'"),
    ("week = 0", 'week = "zero"', "field 'week' must be a week number"),
    ("{ min = 0.9 }", "0.9", "must be a table like"),
    ('id = "00a-x"', 'id = "00b-y"', "must equal the file's stem"),
    ("vram_gb = 0", "vram_gb = 0\nvram = 1", "unknown field 'vram'"),
    ('objectives = ["learn"]', "objectives = []", "at least one objective"),
    ('objectives = ["learn"]', 'objectives = ["learn"]\ndownloads = ["model:org/name"]', "field 'downloads' has 'model:org/name'"),
    ('objectives = ["learn"]', 'objectives = ["learn"]\ndownloads = ["url:a table"]', "a 'url:' download needs a 'fallback'"),
    ('objectives = ["learn"]', 'objectives = ["learn"]\ndownloads = ["pyg:Cora"]', "\"network\" exactly when"),
    ('objectives = ["learn"]', 'objectives = ["learn"]\nneeds = ["network"]', "\"network\" exactly when"),
    ('objectives = ["learn"]', 'objectives = ["learn"]\nneeds = ["gpu-only"]', "field 'needs' has 'gpu-only'"),
])
def test_syllabus_errors_name_the_file_and_the_field(tmp_path, old, new, expected):
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(CourseError) as err:
        syl.load(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_invalid_toml_is_reported_with_the_file(tmp_path):
    path = _write(tmp_path, "[course\n")
    with pytest.raises(CourseError, match="not valid TOML"):
        syl.load(path)


@pytest.mark.parametrize("selector", ["0", "00", "00a-check-your-gpu", "00a", "all"])
def test_selectors_pick_week_zero(selector):
    picked = syl.select(syl.load(), [selector])
    assert "00a-check-your-gpu" in [nb.id for nb in picked]


def test_an_unknown_selector_lists_the_valid_ones():
    with pytest.raises(CourseError) as err:
        syl.select(syl.load(), ["99"])
    assert "use a week" in str(err.value) and "00a-check-your-gpu" in str(err.value)
