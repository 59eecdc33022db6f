"""Load and validate ``course/syllabus.toml``, the single source of truth for the course.

Each ``[[notebooks]]`` entry names one notebook: its week, file, objectives, prerequisites,
time and peak memory for each profile, what the full profile downloads and needs (spelled as the
notebook's ``ready.require_full`` call spells them: a test checks they agree), what it uses offline
instead (``fallback``), the planner arguments of its heaviest step (``plan``), the estimated minutes to teach it
in a room (``teach_minutes``, optional: ``course.guide`` estimates it when absent), and the thresholds its
recorded metrics must meet. Errors name the file and the field.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from course.errors import CourseError, read_text
from helpers.ready import DOWNLOAD_KINDS, NEEDS

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SYLLABUS_PATH = PACKAGE_DIR / "syllabus.toml"


@dataclass(frozen=True)
class Threshold:
    """Bounds a recorded metric must meet: ``min <= value <= max`` (either may be absent)."""

    min: float | None = None
    max: float | None = None

    def check(self, value: Any) -> bool:
        """True if the value is a number within the bounds."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return isinstance(value, bool) and value and self.min is None and self.max is None
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def __str__(self) -> str:
        if self.min is not None and self.max is not None:
            return f"{self.min} to {self.max}"
        if self.min is not None:
            return f">= {self.min}"
        if self.max is not None:
            return f"<= {self.max}"
        return "recorded"


@dataclass(frozen=True)
class ProfileSpec:
    """Expected cost of one profile, and the metric thresholds checked for it."""

    minutes: float
    vram_gb: float
    vram_source: str = ""
    metrics: dict[str, Threshold] = field(default_factory=dict)


@dataclass(frozen=True)
class Notebook:
    """One notebook of the course, as the syllabus describes it."""

    id: str
    week: int | str
    title: str
    file: str
    objectives: tuple[str, ...]
    prerequisites: tuple[str, ...]
    downloads: tuple[str, ...]
    needs: tuple[str, ...]
    smoke: ProfileSpec
    full: ProfileSpec
    fallback: str = ""  # what the full profile uses when its downloads cannot be had ("": it stops)
    plan: dict[str, Any] | None = None  # planner.estimate() arguments of the full profile's heaviest step
    teach_minutes: float | None = None  # estimated minutes to teach it in a room (None: course.guide's rule computes it)
    stretch: bool = False  # an optional stretch beyond the week's core: nothing later builds on it
    windows: str = "native"  # "native" (runs on native Windows), or "wsl2: why" (use WSL2 there)

    @property
    def path(self) -> Path:
        """Absolute path of the notebook file."""
        return REPO_ROOT / self.file

    @property
    def is_extra(self) -> bool:
        """True for notebooks under extras/."""
        return self.week == "extras"

    @property
    def week_label(self) -> str:
        """"Week 3" or "Extra"."""
        return "Extra" if self.is_extra else f"Week {self.week}"

    def profile(self, name: str) -> ProfileSpec:
        """The spec of the named profile."""
        return self.smoke if name == "smoke" else self.full


@dataclass(frozen=True)
class Syllabus:
    """The whole course: its title, reference card and notebooks in order."""

    title: str
    reference_gpu: str
    reference_vram_gb: float
    notebooks: tuple[Notebook, ...]
    repository: str = ""
    branch: str = "main"
    source: Path = SYLLABUS_PATH

    def colab_url(self, nb: Notebook) -> str:
        """The "Open in Colab" address of a notebook."""
        return f"https://colab.research.google.com/github/{self.repository}/blob/{self.branch}/{nb.file}"

    def by_id(self, nb_id: str) -> Notebook:
        """The notebook with this id (file stem)."""
        for nb in self.notebooks:
            if nb.id == nb_id:
                return nb
        raise CourseError(f"No notebook {nb_id!r} in {self.source}.")

    def weeks(self) -> list[int | str]:
        """Week numbers in order, then "extras" if there are any."""
        seen: list[int | str] = []
        for nb in self.notebooks:
            if nb.week not in seen:
                seen.append(nb.week)
        return sorted((w for w in seen if w != "extras"), key=int) + (["extras"] if "extras" in seen else [])


class _Reader:
    """Field access that turns every problem into a CourseError naming file and field."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> CourseError:
        return CourseError(f"{self.source}: {where}: {message}")

    def get(self, table: dict, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
        if key not in table:
            if default is ...:
                raise self.fail(where, f"missing field '{key}'")
            return default
        value = table[key]
        if kind is float:
            kind = (int, float)
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(where, f"field '{key}' must be {_kind_name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise self.fail(where, f"field '{key}' must be {_kind_name(kind)}, got {value!r}")
        return value

    def strings(self, table: dict, key: str, where: str) -> tuple[str, ...]:
        items = self.get(table, key, list, where, default=[])
        if not all(isinstance(s, str) and s for s in items):
            raise self.fail(where, f"field '{key}' must be a list of non-empty strings")
        return tuple(items)

    def profile(self, table: dict, name: str, where: str) -> ProfileSpec:
        spec = self.get(table, name, dict, where)
        where = f"{where}.{name}"
        known = {"minutes", "vram_gb", "vram_source", "metrics"}
        for key in spec:
            if key not in known:
                raise self.fail(where, f"unknown field '{key}' (expected one of {', '.join(sorted(known))})")
        minutes = self.get(spec, "minutes", float, where)
        vram = self.get(spec, "vram_gb", float, where)
        if minutes <= 0 or vram < 0:
            raise self.fail(where, "'minutes' must be > 0 and 'vram_gb' >= 0")
        metrics = {}
        for metric, bounds in self.get(spec, "metrics", dict, where, default={}).items():
            mwhere = f"{where}.metrics.{metric}"
            if not isinstance(bounds, dict) or set(bounds) - {"min", "max"}:
                raise self.fail(mwhere, "must be a table like { min = 0.9 } or { max = 2.0 }")
            metrics[metric] = Threshold(min=self.get(bounds, "min", float, mwhere, default=None),
                                        max=self.get(bounds, "max", float, mwhere, default=None))
        return ProfileSpec(minutes=float(minutes), vram_gb=float(vram),
                           vram_source=self.get(spec, "vram_source", str, where, default=""), metrics=metrics)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def load(path: Path | str | None = None) -> Syllabus:
    """Read and validate the syllabus; raise CourseError naming the file and field on any problem."""
    source = Path(path) if path is not None else SYLLABUS_PATH
    text = read_text(source, "syllabus")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CourseError(f"{source}: not valid TOML: {err}") from None
    r = _Reader(source)
    course = r.get(data, "course", dict, "top level")
    title = r.get(course, "title", str, "[course]")
    reference_gpu = r.get(course, "reference_gpu", str, "[course]")
    reference_vram = float(r.get(course, "reference_vram_gb", float, "[course]"))
    raw = r.get(data, "notebooks", list, "top level")
    notebooks: list[Notebook] = []
    ids: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"notebooks[{i}]"
        if not isinstance(entry, dict):
            raise r.fail(where, "each notebook must be a table")
        nb_id = r.get(entry, "id", str, where)
        where = f"notebooks[{i}] ({nb_id})"
        week = r.get(entry, "week", (int, str), where)
        if isinstance(week, str) and week != "extras":
            raise r.fail(where, f"field 'week' must be a week number or \"extras\", got {week!r}")
        file = r.get(entry, "file", str, where)
        if Path(file).stem != nb_id:
            raise r.fail(where, f"field 'id' must equal the file's stem ({Path(file).stem!r})")
        if nb_id in ids:
            raise r.fail(where, f"duplicate id {nb_id!r}")
        ids.add(nb_id)
        needs = r.strings(entry, "needs", where)
        for need in needs:
            if need not in NEEDS:
                raise r.fail(where, f"field 'needs' has {need!r}; use {', '.join(NEEDS)}")
        downloads = r.strings(entry, "downloads", where)
        for d in downloads:
            if d.partition(":")[0] not in DOWNLOAD_KINDS or not d.partition(":")[2]:
                raise r.fail(where, f"field 'downloads' has {d!r}; write {', '.join(k + ':...' for k in DOWNLOAD_KINDS)}")
        fallback = r.get(entry, "fallback", str, where, default="")
        if any(d.startswith("url:") for d in downloads) and not fallback:
            raise r.fail(where, "a 'url:' download needs a 'fallback' (require_full cannot check it)")
        if ("network" in needs) != bool(downloads and not fallback):
            raise r.fail(where, "field 'needs' has \"network\" exactly when it downloads without a 'fallback'")
        plan = r.get(entry, "plan", dict, where, default=None)
        teach = r.get(entry, "teach_minutes", float, where, default=None)
        if teach is not None and teach <= 0:
            raise r.fail(where, "field 'teach_minutes' must be > 0 (estimated minutes of teaching in a room)")
        stretch = r.get(entry, "stretch", bool, where, default=False)
        windows = r.get(entry, "windows", str, where, default="native")
        if windows != "native" and not (windows.startswith("wsl2: ") and len(windows) > 8):
            raise r.fail(where, "field 'windows' must be \"native\" or \"wsl2: <why it needs WSL2>\"")
        objectives = r.strings(entry, "objectives", where)
        if not objectives:
            raise r.fail(where, "field 'objectives' must list at least one objective")
        notebooks.append(Notebook(
            id=nb_id, week=week, title=r.get(entry, "title", str, where), file=file, objectives=objectives,
            prerequisites=r.strings(entry, "prerequisites", where), downloads=downloads,
            needs=needs, smoke=r.profile(entry, "smoke", where), full=r.profile(entry, "full", where),
            fallback=fallback, plan=plan, teach_minutes=None if teach is None else float(teach),
            stretch=stretch, windows=windows,
        ))
    for nb in notebooks:
        for pre in nb.prerequisites:
            if pre not in ids:
                raise r.fail(f"notebook {nb.id}", f"prerequisite {pre!r} is not a notebook id")
    return Syllabus(
        title=title, reference_gpu=reference_gpu, reference_vram_gb=reference_vram,
        repository=r.get(course, "repository", str, "[course]", default=""),
        branch=r.get(course, "branch", str, "[course]", default="main"),
        notebooks=tuple(notebooks), source=source,
    )


def select(syllabus: Syllabus, selectors: list[str] | tuple[str, ...]) -> list[Notebook]:
    """Notebooks matching selectors: a week number ("3", "03"), a file stem, its prefix ("04a"), "extras", "all"."""
    if not selectors:
        selectors = ["all"]
    chosen: list[Notebook] = []
    for sel in selectors:
        s = sel.strip().lower()
        if s == "all":
            matches = list(syllabus.notebooks)
        elif s == "extras":
            matches = [nb for nb in syllabus.notebooks if nb.is_extra]
        elif s.isdigit():
            matches = [nb for nb in syllabus.notebooks if not nb.is_extra and nb.week == int(s)]
        else:
            matches = [nb for nb in syllabus.notebooks if nb.id == s or nb.id.split("-", 1)[0] == s]
        if not matches:
            weeks = ", ".join(str(w) for w in syllabus.weeks() if w != "extras")
            ids = ", ".join(nb.id for nb in syllabus.notebooks)
            raise CourseError(f"Unknown notebook or week {sel!r}: use a week ({weeks}), 'extras', 'all', "
                              f"or a notebook id ({ids}).")
        chosen.extend(nb for nb in matches if nb not in chosen)
    order = {nb.id: i for i, nb in enumerate(syllabus.notebooks)}
    return sorted(chosen, key=lambda nb: order[nb.id])


@functools.lru_cache(maxsize=1)
def _default() -> Syllabus:
    return load()


def objective(notebook_id: str, starts_with: str) -> str:
    """The objective of a notebook that starts with ``starts_with``, as the syllabus words it (one source)."""
    found = [o for o in _default().by_id(notebook_id).objectives if o.startswith(starts_with)]
    if len(found) != 1:
        raise CourseError(f"{notebook_id}: {len(found)} objectives start with {starts_with!r} in {SYLLABUS_PATH}.")
    return found[0]
