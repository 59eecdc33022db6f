"""`course doctor` names what keeps a learner's GPU from working, and the one command that fixes it.

Every diagnosis runs here, on a CPU machine, with the device queries mocked: a fake NVML module, or
made-up ``Facts``. Each must give the right finding with the right fix, and the doctor exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from types import SimpleNamespace

import pytest

from course import syllabus as syl
from course.commands import doctor
from course.commands.doctor import DiskPlace
from helpers import cuda_builds, diagnose, machine, ready
from helpers.machine import Facts, Process

GIB = 2**30


def _desktop(**changes) -> Facts:
    """A Linux desktop with an RTX 4070 Ti, a 580 driver and the pinned CUDA 13.0 PyTorch: all well."""
    facts = Facts(system="Linux", kernel="6.8.0-49-generic", device="cuda", torch_version="2.14.1+cu130",
                  torchvision_version="0.29.1", torch_cuda="13.0", cuda_available=True, nvidia=True,
                  driver_version="580.95.05", driver_cuda="13.0", gpu_name="NVIDIA GeForce RTX 4070 Ti",
                  capability=(8, 9), vram_total_gib=11.99, vram_free_gib=11.6, processes=[],
                  bnb_version="0.50.2", bnb_tested=True)
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def _ids(facts: Facts) -> list[str]:
    return [f.id for f in diagnose.findings(facts)]


def _one(facts: Facts, finding_id: str) -> diagnose.Finding:
    found = [f for f in diagnose.findings(facts) if f.id == finding_id]
    assert found, f"expected a {finding_id!r} finding, got {_ids(facts)}"
    return found[0]


class FakeNVML(SimpleNamespace):
    """Just enough of pynvml: one GPU, a driver at CUDA 12.4, 1.5 GiB held by two programs."""

    def __init__(self, cuda_level=12040, driver="550.120", total=12 * GIB, free=10.5 * GIB, procs=None):
        procs = procs if procs is not None else [SimpleNamespace(pid=4242, usedGpuMemory=int(1.0 * GIB)),
                                                 SimpleNamespace(pid=4343, usedGpuMemory=int(0.5 * GIB))]
        super().__init__(
            nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 1,
            nvmlSystemGetDriverVersion=lambda: driver, nvmlSystemGetCudaDriverVersion=lambda: cuda_level,
            nvmlDeviceGetHandleByIndex=lambda i: "h0", nvmlDeviceGetName=lambda h: "NVIDIA GeForce RTX 4070 Ti",
            nvmlDeviceGetCudaComputeCapability=lambda h: (8, 9),
            nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(total=total, free=free, used=total - free),
            nvmlDeviceGetComputeRunningProcesses=lambda h: procs[:1],
            nvmlDeviceGetGraphicsRunningProcesses=lambda h: procs[1:])


@pytest.fixture
def fake_nvml(monkeypatch):
    """Install a fake NVML and process names; return a function that sets its driver level."""
    import psutil

    names = {4242: "firefox", 4343: "Xorg"}
    monkeypatch.setattr(psutil, "Process", lambda pid: SimpleNamespace(name=lambda: names[pid]))

    def install(**kwargs):
        monkeypatch.setitem(sys.modules, "pynvml", FakeNVML(**kwargs))

    return install


def test_nvml_with_an_old_driver_is_diagnosed_with_both_ways_out(fake_nvml):
    fake_nvml(cuda_level=12040)
    facts = machine.gather(test_bnb=False)  # the real gathering, NVML mocked; torch is this machine's
    assert facts.nvidia and facts.driver_cuda == "12.4" and facts.gpu_name.endswith("4070 Ti")
    finding = _one(facts, "driver-too-old")
    assert finding.severity == "error" and "CUDA up to 12.4" in finding.message
    assert f"built for CUDA {facts.torch_cuda}" in finding.message
    assert "580 series" in finding.fix and "sudo apt install nvidia-driver-580" in finding.fix, \
        "way out 1: the driver series this PyTorch needs"
    assert ("torch==2.14.1+cu126 torchvision==0.29.1+cu126 --index-url https://download.pytorch.org/whl/cu126"
            in finding.fix), "way out 2: the pinned PyTorch built for the driver's CUDA"


@pytest.mark.parametrize("driver_cuda, build", [("12.2", "12.6"), ("12.4", "12.6"), ("12.8", "12.6"),
                                                ("13.0", "13.0"), ("13.1", "13.0"), ("13.2", "13.2"),
                                                ("14.0", "13.2"), ("11.8", None)])
def test_the_build_named_is_the_newest_one_the_driver_runs(driver_cuda, build):
    assert cuda_builds.build_for_driver(driver_cuda) == build


def test_a_driver_too_old_for_any_build_gets_only_the_driver_update():
    finding = _one(_desktop(driver_cuda="11.8", driver_version="520.61", cuda_available=False), "driver-too-old")
    assert "580 series" in finding.fix and "no PyTorch 2.14.1 build runs" in finding.fix
    assert "pip install" not in finding.fix


def test_a_same_major_older_driver_that_works_is_not_reported():
    assert "driver-too-old" not in _ids(_desktop(driver_cuda="12.8", torch_cuda="12.9", cuda_available=True))


def test_cpu_only_torch_on_a_machine_with_an_nvidia_gpu_gets_the_cuda_install_line():
    finding = _one(_desktop(torch_cuda=None, torch_version="2.14.1+cpu", cuda_available=False,
                            system="Windows"), "torch-cpu-only")
    assert "CPU-only build (pip's default on Windows)" in finding.message
    assert "torch==2.14.1+cu130 torchvision==0.29.1+cu130 --index-url https://download.pytorch.org/whl/cu130" \
        in finding.fix


def test_a_gpu_the_build_has_no_kernels_for_gets_the_build_that_has():
    finding = _one(_desktop(gpu_name="NVIDIA GeForce GTX 1080", capability=(6, 1)), "gpu-not-in-build")
    assert "compute capability 6.1" in finding.message and "whl/cu126" in finding.fix
    blackwell = _one(_desktop(gpu_name="NVIDIA GeForce RTX 5070", capability=(12, 0), torch_cuda="12.6",
                              torch_version="2.14.1+cu126", driver_cuda="12.8"), "gpu-not-in-build")
    assert "whl/cu130" in blackwell.fix
    assert "gpu-not-in-build" not in _ids(_desktop(capability=(7, 5)))


def test_a_blackwell_card_on_a_12_8_driver_must_update_the_driver():
    finding = _one(_desktop(gpu_name="NVIDIA GeForce RTX 5070", capability=(12, 0), driver_cuda="12.8",
                            cuda_available=False), "driver-too-old")
    assert "nvidia-driver-580" in finding.fix and "pip install" not in finding.fix, \
        "the 12.6 build has no Blackwell kernels, so only a newer driver helps"


def test_other_programs_holding_vram_are_listed_and_told_to_close(fake_nvml):
    fake_nvml(cuda_level=13000, driver="580.95.05")
    facts = machine.gather(test_bnb=False)
    assert facts.vram_total_gib == 12.0 and facts.vram_free_gib == 10.5
    finding = _one(facts, "vram-in-use")
    assert finding.severity == "warning"
    assert "1.5 of 12.0 GiB" in finding.message and "firefox 1.0 GiB, Xorg 0.5 GiB" in finding.message
    assert "Close the browser tabs, the game or the other notebooks" in finding.fix


def test_the_full_profile_verdict_uses_free_vram_minus_a_margin(monkeypatch):
    facts = _desktop(vram_free_gib=10.5, processes=[Process(4242, "firefox", 1.0), Process(4343, "Xorg", 0.5)])
    assert diagnose.vram_problem(8, facts) is None
    too_busy = diagnose.vram_problem(10.2, facts, "QLoRA fine-tuning")
    assert "only 10.5 GiB free now (held by firefox 1.0 GiB" in too_busy and "Close the browser tabs" in too_busy
    too_small = diagnose.vram_problem(16, facts)
    assert "this GPU has 12.0 GiB" in too_small and "Close" not in too_small
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(machine, "gather", lambda test_bnb=True: facts)
    with pytest.raises(ready.CannotRunFull, match="Close the browser tabs"):
        ready.require_full("full", needs=["gpu", "cuda-only"], vram_gb=10.2, what="QLoRA fine-tuning")
    nb = syl.load().by_id("04c-transfer-learning")  # no ladder: the syllabus figure against what is free now
    verdict = doctor.judge(nb, _desktop(device="cuda", vram_total_gib=11.99, vram_free_gib=2.0))
    assert not verdict.full_ok and "only 2.0 free now" in verdict.reason and "close the browser" in verdict.advice
    laddered = syl.load().by_id("08b-teach-it-a-style")  # a ladder without a CPU rung: the rung, or no rung
    verdict = doctor.judge(laddered, _desktop(device="cuda", vram_total_gib=11.99, vram_free_gib=3.0))
    assert not verdict.full_ok and "no rung fits" in verdict.reason and "close the programs" in verdict.advice


def test_wsl2_is_recognised_from_its_kernel_string():
    finding = _one(_desktop(kernel="5.15.167.4-microsoft-standard-WSL2", processes=None), "wsl2")
    assert finding.severity == "info" and "not available inside WSL" in finding.why
    assert "Windows NVIDIA driver" in finding.fix
    assert "wsl2" not in _ids(_desktop())


def test_native_windows_gets_its_notes():
    finding = _one(_desktop(system="Windows", kernel="10"), "windows")
    assert "cuDF" in finding.why and "triton-windows" in finding.why and "0.43" in finding.why
    assert "download.pytorch.org/whl/cu130" in finding.fix


def test_bitsandbytes_failing_to_load_gets_the_reinstall_line():
    error = "RuntimeError: CUDA Setup failed despite GPU being available"
    finding = _one(_desktop(bnb_error=error), "bitsandbytes")
    assert finding.severity == "error" and error in finding.message
    assert "pip install --force-reinstall --no-deps bitsandbytes==0.50.2" in finding.fix
    assert "python -m bitsandbytes" in finding.fix
    on_wsl = _one(_desktop(bnb_error=error, kernel="5.15.167.4-microsoft-standard-WSL2"), "bitsandbytes")
    assert "LD_LIBRARY_PATH=/usr/lib/wsl/lib" in on_wsl.fix
    assert "bitsandbytes" not in _ids(_desktop())


def test_a_bitsandbytes_library_that_fails_on_the_gpu_is_caught_by_the_4bit_test(fake_nvml, monkeypatch):
    import torch

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA Setup failed despite GPU being available.\nlibbitsandbytes_cuda130.so: not found")

    fake_nvml(cuda_level=13000, driver="580.95.05")
    monkeypatch.setitem(sys.modules, "bitsandbytes", SimpleNamespace(nn=SimpleNamespace(Linear4bit=broken)))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    facts = machine.gather()  # runs the 4-bit test, which fails on its first line
    assert facts.bnb_tested and "libbitsandbytes_cuda130.so: not found" in facts.bnb_error
    assert "--force-reinstall --no-deps bitsandbytes==" in _one(facts, "bitsandbytes").fix


def test_a_nearly_full_disk_is_measured_against_the_downloads_still_to_come():
    places = [DiskPlace("Hugging Face cache", "/home/u/.cache/huggingface/hub", 3.0, 9.9, disk=1),
              DiskPlace("course data", "/home/u/.cache/dl12gb", 3.0, 0.4, disk=1)]
    finding = doctor.check_disk(places, doctor.DISK_VARS)
    assert finding.id == "disk-low" and "3.0 GB free" in finding.message and "about 10.3 GB" in finding.message
    assert "Free 9.3 GB" in finding.fix and "export HF_HOME=" in finding.fix
    assert doctor.check_disk([DiskPlace("course data", "/d", 50.0, 0.4, disk=2)]) is None


def test_download_sizes_come_from_the_downloads_table_and_unknown_ones_get_a_cautious_guess():
    from course import downloads as table

    course = syl.load()
    downloads = {d for nb in course.notebooks for d in nb.downloads}
    assert downloads <= set(table.DOWNLOADS), "every download of the syllabus has a size in course/downloads.py"
    assert doctor.download_gb("hf-model:unsloth/mistral-7b-v0.3") == pytest.approx(14.5, abs=0.2)
    assert doctor.download_gb("hf-model:someone/unknown") == 0.5


def test_a_cpu_machine_without_nvidia_hardware_has_nothing_to_fix():
    calm = Facts(system="Linux", kernel="6.8.0", torch_version="2.14.1+cu130", torch_cuda="13.0")
    assert diagnose.findings(calm) == []
    here = machine.gather()  # this machine, unmocked
    if not here.nvidia and here.system == "Linux" and not diagnose.is_wsl(here.kernel):
        assert diagnose.findings(here) == []


SCENARIOS = {
    "driver-too-old": (_desktop(driver_cuda="12.4", driver_version="550.120", cuda_available=False), "580 series"),
    "torch-cpu-only": (_desktop(torch_cuda=None, cuda_available=False), "whl/cu130"),
    "vram-in-use": (_desktop(vram_free_gib=10.49, processes=[Process(1, "game.exe", 1.5)]), "Close the browser"),
    "wsl2": (_desktop(kernel="5.15.167.4-microsoft-standard-WSL2"), "Windows NVIDIA driver"),
    "bitsandbytes": (_desktop(bnb_error="OSError: libbitsandbytes_cuda130.so not found"), "--force-reinstall"),
}


@pytest.mark.parametrize("finding_id", sorted(SCENARIOS))
def test_the_doctor_reports_each_finding_and_exits_0(finding_id, monkeypatch, capsys):
    facts, fix_words = SCENARIOS[finding_id]
    monkeypatch.setattr(machine, "gather", lambda test_bnb=True: facts)
    assert doctor.main(argparse.Namespace(syllabus=None, json=False)) == 0
    out = capsys.readouterr().out
    assert "== What to fix ==" in out and f"[{finding_id}]" in out and fix_words in out
    assert doctor.main(argparse.Namespace(syllabus=None, json=True)) == 0
    data = json.loads(capsys.readouterr().out)
    finding = next(f for f in data["findings"] if f["id"] == finding_id)
    assert {"id", "severity", "message", "fix"} <= set(finding) and fix_words in finding["fix"]


def test_a_nearly_full_disk_reaches_the_doctors_report(monkeypatch, capsys):
    import shutil

    monkeypatch.setattr(machine, "gather", lambda test_bnb=True: Facts(system="Linux", torch_version="2.14.1"))
    monkeypatch.setattr(doctor, "download_gb", lambda d: 5.0)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=int(1.5e9)))
    assert doctor.main(argparse.Namespace(syllabus=None, json=False)) == 0
    out = capsys.readouterr().out
    assert "[disk-low] 1.5 GB free" in out and "export " in out


def test_the_doctor_and_the_notebooks_agree_on_downloads_being_off_and_on_the_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("COURSE_OFFLINE", "1")  # the course's own switch counts for both
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    nb = syl.load().by_id("08a-text-to-image")
    card = _desktop(vram_total_gib=11.99)
    assert ready.offline() and ready.hub_problem(nb.downloads[0])
    verdict = doctor.judge(nb, card)
    assert not verdict.full_ok and nb.downloads[0] in verdict.reason and "COURSE_OFFLINE" in verdict.advice
    repo = nb.downloads[0].split(":", 1)[1].replace("/", "--")
    (tmp_path / f"models--{repo}" / "snapshots").mkdir(parents=True)  # what an interrupted download leaves
    assert not ready.is_cached(nb.downloads[0]) and ready.hub_problem(nb.downloads[0])
    assert not doctor.judge(nb, card).full_ok, "an empty snapshot folder is not a cached model"
    from test_fetch import fake_snapshot

    fake_snapshot(tmp_path, nb.downloads[0])  # every file SD 1.5's notebooks load, whole
    assert ready.is_cached(nb.downloads[0]) and ready.hub_problem(nb.downloads[0]) is None
    assert doctor.judge(nb, card).full_ok
    verdict = doctor.judge(syl.load().by_id("01a-the-ml-workflow"), card)
    assert verdict.full_ok and "FALLBACK" in verdict.reason, "a fallback runs offline, and the doctor says so"
