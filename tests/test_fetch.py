"""`course fetch`, `--verify`, the doctor and the notebooks' opening call agree on what "cached" means: complete.

Every cache here is built by hand, offline, in the Hugging Face layout (``refs/main``, ``snapshots/<commit>/`` with
links into ``blobs/<sha256>``): an empty snapshot (what an interrupted download leaves), one with a weights file cut
short, one missing a shard its index names, one whose bytes changed, and whole ones. Nothing touches a hub.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pytest

from course import downloads as table
from course import syllabus as syl
from course.commands import doctor, fetch
from helpers import ready
from helpers.machine import Facts

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GPT2 = "hf-model:openai-community/gpt2"
SD = "hf-model:stable-diffusion-v1-5/stable-diffusion-v1-5"


def safetensors_bytes(n: int = 16) -> bytes:
    """A whole safetensors file with one float32 tensor of ``n`` values."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    return len(header).to_bytes(8, "little") + header + bytes(4 * n)


def _content(name: str) -> bytes:
    if name.endswith(".safetensors"):
        return safetensors_bytes()
    if name.endswith(".parquet"):
        return b"PAR1" + bytes(16) + b"PAR1"
    return b"{}" if name.endswith(".json") else b"token 1\n"


def required_names(spec: str) -> list[str]:
    """A concrete file for every entry ready.FILES requires ("a|b": a; a glob: a name it matches)."""
    names = []
    for entry in ready.FILES[spec].required:
        first = entry.split("|")[0]
        names.append(first.replace("*en-fr*", "en-fr/train-00000-of-00001").replace("*", "data/train-00000-of-00001"))
    return names


def fake_snapshot(cache: Path, spec: str, files: dict[str, bytes] | None = None, prepared: Path | None = None) -> Path:
    """A hub cache entry for ``spec`` under ``cache`` (HF_HUB_CACHE), whole unless ``files`` says otherwise."""
    kind, _, repo_id = spec.partition(":")
    root = cache / f"{kind.removeprefix('hf-')}s--{repo_id.replace('/', '--')}"
    snapshot = root / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    (root / "blobs").mkdir(exist_ok=True)
    for name, data in (files if files is not None else {n: _content(n) for n in required_names(spec)}).items():
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).unlink(missing_ok=True)
        (snapshot / name).symlink_to(blob)
    if prepared is not None and ready.FILES[spec].prepared:  # the copy `datasets` loads offline
        owner, _, name = repo_id.partition("/")
        info = prepared / f"{owner}___{name}" / "default" / "0.0.0" / "abc"
        info.mkdir(parents=True)
        (info / "dataset_info.json").write_text("{}")
    return snapshot


@pytest.fixture
def caches(tmp_path, monkeypatch) -> dict[str, Path]:
    """Empty caches for this test, downloads off: HF_HUB_CACHE, HF_DATASETS_CACHE, COURSE_DATA_DIR."""
    paths = {"hub": tmp_path / "hub", "datasets": tmp_path / "datasets", "data": tmp_path / "data"}
    for path in paths.values():
        path.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(paths["hub"]))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(paths["datasets"]))
    monkeypatch.setenv("COURSE_DATA_DIR", str(paths["data"]))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return paths


def _env(caches: dict[str, Path]) -> dict[str, str]:
    return {"HF_HUB_CACHE": str(caches["hub"]), "HF_DATASETS_CACHE": str(caches["datasets"]),
            "COURSE_DATA_DIR": str(caches["data"]), "HF_HUB_OFFLINE": "1"}


def _opening_call_says(spec: str) -> str:
    """What a notebook's opening call (profiles.start -> ready.require_full) says offline about this download."""
    with pytest.raises(ready.CannotRunFull) as err:
        ready.require_full("full", downloads=[spec])
    return str(err.value)


def _doctor_row(spec: str) -> dict:
    return next(r for r in doctor.download_rows(syl.load(), {spec: ready.check(spec)}) if r["download"] == spec)


def test_an_empty_snapshot_is_incomplete_for_the_check_the_doctor_and_the_opening_call(caches, cli):
    root = fake_snapshot(caches["hub"], GPT2, files={}).parents[1]
    found = ready.check(GPT2)
    assert not found.complete and "snapshot folder is empty" in found.problems[0]
    assert not ready.is_cached(GPT2)
    assert _doctor_row(GPT2)["complete"] is False
    assert "gpt2" in _opening_call_says(GPT2) and "fetch" in _opening_call_says(GPT2)
    res = cli("fetch", GPT2, "--verify", env=_env(caches), timeout=120)
    assert res.returncode == 1 and "incomplete" in res.stdout, res.stdout + res.stderr
    (root / "refs" / "main").unlink()  # interrupted before the first file: no ref either
    assert "no snapshot for its main branch" in ready.check(GPT2).problems[0]


def test_a_weights_file_cut_short_is_incomplete_everywhere(caches, cli):
    files = {n: _content(n) for n in required_names(GPT2)}
    files["model.safetensors"] = safetensors_bytes(1000)[:2000]  # 4 KB of tensor data, cut at 2 KB
    fake_snapshot(caches["hub"], GPT2, files)
    found = ready.check(GPT2)
    assert found.present and not found.complete
    assert any("model.safetensors is cut short" in p for p in found.problems), found.problems
    assert _doctor_row(GPT2)["complete"] is False and _doctor_row(GPT2)["cached"] is True
    said = _opening_call_says(GPT2)
    assert "in the cache but incomplete" in said and "cut short" in said
    res = cli("fetch", GPT2, "--verify", "--json", env=_env(caches), timeout=120)
    item = json.loads(res.stdout)["downloads"][0]
    assert res.returncode == 1 and not item["complete"] and item["present"]


def test_a_whole_snapshot_is_complete_and_its_bytes_verify(caches, cli):
    fake_snapshot(caches["hub"], GPT2)
    assert ready.is_cached(GPT2) and ready.hub_problem(GPT2) is None
    ready.require_full("full", downloads=[GPT2])  # the notebook goes on
    res = cli("fetch", GPT2, "--verify", env=_env(caches), timeout=120)
    assert res.returncode == 0 and "every download is complete" in res.stdout, res.stdout + res.stderr


def test_verify_reads_every_byte_where_the_quick_check_reads_only_sizes(caches):
    snapshot = fake_snapshot(caches["hub"], GPT2)
    blob = (snapshot / "model.safetensors").resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # same size, one byte changed: a bad copy
    blob.write_bytes(bytes(data))
    found = ready.check(GPT2)
    assert found.complete, "sizes and headers are right"
    problems = fetch.deep_problems(GPT2, found, online=False)
    assert problems and "SHA-256" in problems[0]


def test_a_shard_named_by_the_index_must_be_there(caches):
    spec = "hf-model:unsloth/mistral-7b-v0.3"
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    files = {"config.json": b"{}", "tokenizer_config.json": b"{}", "tokenizer.model": b"x",
             "model.safetensors.index.json": json.dumps(index).encode(),
             "model-00001-of-00002.safetensors": safetensors_bytes()}
    fake_snapshot(caches["hub"], spec, files)
    found = ready.check(spec)
    assert not found.complete and found.problems == ["model-00002-of-00002.safetensors is missing"]


def test_the_hubs_cached_listing_names_files_that_never_arrived(caches):
    """snapshot_download caches the Hub's file listing: every file matching the notebook's patterns must be here."""
    snapshot = fake_snapshot(caches["hub"], GPT2)
    listing = {n: {"size": (snapshot / n).stat().st_size, "blob_id": "0" * 40} for n in required_names(GPT2)}
    listing["vocab.json"] = {"size": 1042301, "blob_id": "1" * 40}  # a file the notebook loads, not downloaded
    listing["pytorch_model.bin"] = {"size": 548105171, "blob_id": "2" * 40}  # not loaded: never required
    trees = snapshot.parents[1] / "trees"
    trees.mkdir()
    (trees / f"{COMMIT}.json").write_text(json.dumps({"format_version": 1, "files": listing}))
    if ready.hub_listing(GPT2) is None:
        pytest.skip("this huggingface_hub does not read a cached listing")
    assert ready.check(GPT2).problems == ["vocab.json is missing"]


def test_a_hub_dataset_needs_the_copy_datasets_prepared_to_load_offline(caches):
    spec = "hf-dataset:stanfordnlp/sst2"
    fake_snapshot(caches["hub"], spec)
    assert not ready.is_cached(spec) and "prepared" in ready.check(spec).problems[0]
    fake_snapshot(caches["hub"], spec, prepared=caches["datasets"])
    assert ready.is_cached(spec)


def test_local_data_sets_are_checked_file_by_file(caches):
    raw = caches["data"] / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    sizes = {"train-images-idx3-ubyte": 47040016, "train-labels-idx1-ubyte": 60008,
             "t10k-images-idx3-ubyte": 7840016, "t10k-labels-idx1-ubyte": 10008}
    for name, size in sizes.items():
        with open(raw / name, "wb") as fh:
            fh.truncate(size)
    assert ready.is_cached("torchvision:MNIST")
    with open(raw / "train-images-idx3-ubyte", "wb") as fh:
        fh.truncate(1_000_000)  # a copy cut short
    assert ready.check("torchvision:MNIST").problems == [
        "MNIST/raw/train-images-idx3-ubyte is cut short: 1.0 MB of 47.0 MB"]
    cifar = caches["data"] / "torchvision" / "cifar-10-batches-py"
    cifar.mkdir()
    (cifar / "batches.meta").write_bytes(bytes(200))
    assert "cifar-10-batches-py/data_batch_1 is missing" in ready.check("torchvision:CIFAR10").problems


def test_week_7_dry_run_lists_every_file_with_sizes_and_a_total(caches, cli_here):
    res = cli_here("fetch", "7", "--dry-run", "--json", "--vram", "12")  # the reference card's rung: Mistral 7B
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    week7 = {d for nb in syl.load().notebooks if nb.week == 7 for d in nb.downloads}
    assert {d["download"] for d in plan["downloads"]} == week7 and plan["rungs"] == {"07a-lora-and-qlora": "mistral-7b-4x1024"}
    for item in plan["downloads"]:
        assert item["files"] and all(f["bytes"] > 0 for f in item["files"]), item
        assert item["bytes"] == sum(f["bytes"] for f in item["files"]) and item["sizes_from"] == "recorded"
    assert plan["total_bytes"] == sum(d["bytes"] for d in plan["downloads"]) > 10e9
    assert any("model-00001-of-00003.safetensors" == f["file"] for d in plan["downloads"] for f in d["files"])
    text = cli_here("fetch", "7", "--dry-run", "--vram", "12").stdout
    assert "14.5 GB" in text and "still to download" in text and "Rungs for 12.0 GiB of VRAM free: 07a" in text


def test_a_laptop_fetches_its_cpu_rungs_small_models_and_nothing_for_gpu_only_notebooks(caches, cli_here):
    plan = json.loads(cli_here("fetch", "6", "7", "8", "--dry-run", "--json", "--vram", "0").stdout)
    got = {d["download"] for d in plan["downloads"]}
    assert {"hf-model:HuggingFaceTB/SmolLM2-360M-Instruct", "hf-model:HuggingFaceTB/SmolLM2-135M",
            "hf-model:stabilityai/sd-turbo", "hf-dataset:yahma/alpaca-cleaned"} == got, got
    assert plan["rungs"]["07a-lora-and-qlora"] == "cpu-smollm2-135m" and plan["rungs"]["08b-teach-it-a-style"] is None
    assert set(plan["left_out"]) == {"06b-where-the-memory-goes", "08b-teach-it-a-style"}  # they need a GPU
    assert plan["total_bytes"] < 5e9


def test_all_rungs_fetch_every_model_a_ladder_may_load_for_a_room(caches, cli_here):
    plan = json.loads(cli_here("fetch", "07a", "--dry-run", "--json", "--all-rungs").stdout)
    assert [d["download"] for d in plan["downloads"]] == [
        "hf-model:unsloth/mistral-7b-v0.3", "hf-dataset:yahma/alpaca-cleaned", "hf-model:HuggingFaceTB/SmolLM2-1.7B",
        "hf-model:HuggingFaceTB/SmolLM2-135M"]
    assert all(d["known"] for d in plan["downloads"]) and plan["rungs"] == {} and plan["left_out"] == []
    assert cli_here("fetch", "07a", "--dry-run", "--vram", "-1").returncode == 2


def test_offline_a_cpu_machine_with_the_cpu_rungs_model_cached_opens_06a_and_the_doctor_agrees(caches):
    from course import notebook_code
    from helpers import ladders

    nb = syl.load().by_id("06a-running-an-llm-on-12gb")
    small = "hf-model:HuggingFaceTB/SmolLM2-360M-Instruct"
    with pytest.raises(ready.CannotRunFull, match="rung cpu-smollm2-360m: model HuggingFaceTB/SmolLM2-360M-Instruct"):
        notebook_code.opening(nb.path, 1, PROFILE="full")  # names the model its rung loads, not the 8B one
    fake_snapshot(caches["hub"], small)
    namespace = notebook_code.opening(nb.path, 1, PROFILE="full")
    assert namespace["RUNG"].name == "cpu-smollm2-360m" and ladders.free_vram_gib() is None
    cpu = Facts(system="Linux", device="cpu")
    verdict = doctor.judge(nb, cpu)
    assert verdict.full_ok and verdict.rung == "cpu-smollm2-360m", verdict
    assert doctor.loads_here(syl.load(), cpu)[nb.id] == [small]


def test_an_unknown_download_gets_one_line_saying_where_to_add_it_not_a_crash(caches, tmp_path, cli):
    text = (syl.SYLLABUS_PATH.read_text(encoding="utf-8")
            .replace('downloads = ["torchvision:CIFAR10"]', 'downloads = ["torchvision:CIFAR10", "hf-model:someone/new"]', 1))
    course = tmp_path / "syllabus.toml"
    course.write_text(text, encoding="utf-8")
    res = cli("--syllabus", str(course), "fetch", "04a", "--dry-run", "--vram", "12", env=_env(caches), timeout=120)
    assert res.returncode == 0, res.stderr
    assert "hf-model:someone/new: no file list known: add it to FILES in helpers/ready.py and DOWNLOADS in " \
           "course/downloads.py" in res.stdout


def test_the_tables_know_every_download_of_the_syllabus_and_of_every_rung():
    course = syl.load()
    from helpers import ladders

    for spec in {d for nb in course.notebooks for d in ladders.downloads_for(nb.id, nb.downloads, None, True)}:
        assert table.known(spec), table.missing_line(spec)
        assert table.DOWNLOADS[spec].usb in table.USB and table.DOWNLOADS[spec].licence


def test_hub_patterns_take_safetensors_only_and_sd_in_its_fp16_variant():
    for spec, files in ready.FILES.items():
        if spec.startswith("hf-model:"):
            assert not any(p.endswith((".bin", ".pth", ".ckpt", ".h5", ".msgpack")) or p.startswith("original")
                           for p in files.patterns), spec
    sd = ready.FILES[SD].patterns
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in sd
    assert not any("safety_checker" in p or p == "unet/diffusion_pytorch_model.safetensors" for p in sd)


def test_fetching_offline_is_refused_in_one_line_with_exit_2(caches, cli):
    res = cli("fetch", "7", env=_env(caches), timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "downloads are off" in res.stderr
    assert "--dry-run and --verify work offline" in res.stderr


def test_fetching_needs_downloads_on(caches):
    args = argparse.Namespace(syllabus=None, selectors=["7"], dry_run=False, verify=False, json=False)
    from course.errors import CourseError

    with pytest.raises(CourseError, match="downloads are off"):
        fetch.main(args)


def test_fetch_downloads_what_is_missing_and_checks_it_again(caches, monkeypatch, capsys):
    """The fetching itself, with the Hub replaced by a function that writes the snapshot (no network here)."""
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(fetch, "planned_files", lambda spec, online: ([{"file": "model.safetensors", "bytes": 100}],
                                                                       "recorded"))
    fetched = []
    monkeypatch.setattr(fetch, "fetch_one", lambda spec: fetched.append(spec) or fake_snapshot(caches["hub"], spec))
    args = argparse.Namespace(syllabus=None, selectors=[GPT2], dry_run=False, verify=False, json=False)
    assert fetch.main(args) == 0
    out = capsys.readouterr().out
    assert fetched == [GPT2] and f"{GPT2}: complete" in out and "1 of 1 downloads complete" in out
    assert fetch.main(args) == 0 and fetched == [GPT2], "a complete download is not fetched again"
