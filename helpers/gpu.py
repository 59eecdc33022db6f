"""Pick the device and describe it: what this machine's GPU is and what it can do.

``device()`` chooses cuda > mps > cpu. ``report()`` gathers the facts a learner needs (name,
VRAM total and free, compute capability, bf16/TF32 support, torch/CUDA/driver versions) and
``show()`` prints them with a plain verdict. Everything works, and says something useful, on a
machine without a GPU.

Taught in week 0 (00a-check-your-gpu); used again in 03a, 04a, 04b, 06a, 06b, 07a, 08a, 08b, e1, e2, e4.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch

from helpers.presets import GIB


class Peak(NamedTuple):
    """Published dense peak throughput in TFLOP/s (no sparsity); None where the card has no such unit."""

    fp32: float  # fp32 on the CUDA cores
    tf32: float | None  # TF32 on the tensor cores (Ampere and newer)
    f16: float  # fp16/bf16 on the tensor cores with fp32 accumulation (what PyTorch's 16-bit matmul uses)


# Published dense peaks (sparsity-free), keyed by the normalised name (see ``normalise_name``).
# Sources, by family:
# - GeForce Ampere: NVIDIA Ampere GA102 whitepaper, appendix table (RTX 3090 35.6 fp32 / 35.6 TF32 /
#   71 fp16-with-fp32-accumulate; RTX 3080 29.8 / 29.8 / 59.5; RTX 3070 20.3 / 20.3 / 40.6). The 3060,
#   3060 Ti and 3080 12GB follow the same per-SM rates (fp32 = 2 x CUDA cores x boost clock, TF32 = fp32,
#   16-bit = 2 x fp32) with the cores and boost clocks on NVIDIA's RTX 30 series spec pages.
# - GeForce Ada: NVIDIA Ada Lovelace architecture whitepaper v2.1, appendix (RTX 4090 82.6 / 82.6 / 165.2;
#   RTX 4080 48.7 / 48.7 / 97.5; RTX 4070 Ti, announced there as "RTX 4080 12GB", 40.1 / 40.1 / 80.2).
#   Other cards: NVIDIA's RTX 40 series spec pages (CUDA cores, boost clock; their "AI TOPS" are FP8
#   sparse = 8 x the dense 16-bit figure, which checks every row: 4070 466, 4070 SUPER 568, 4060 Ti 353).
# - GeForce Blackwell: NVIDIA's RTX 50 series spec pages (cores, boost clock; "AI TOPS" are FP4 sparse =
#   16 x the dense 16-bit figure: 5070 988, 5070 Ti 1406, 5060 Ti 759) and the RTX Blackwell whitepaper.
# - Data centre: NVIDIA datasheets (T4: 8.1 fp32, 65 mixed-precision fp16, no TF32; A100 40/80 GB SXM
#   and PCIe: 19.5 / 156 / 312; L4: 30.3 / 60 / 121, halving the datasheet's sparse 120 / 242; A10:
#   31.2 / 62.5 / 125; H100 SXM and H200: 66.9 / 494.7 / 989.4 and H100 PCIe 51.2 / 378 / 756, from the
#   Hopper whitepaper; H100 NVL 60 / 417.5 / 835.5). The AWS A10G has no NVIDIA datasheet: left out
#   rather than guessed. Laptop GPUs share desktop names with "Laptop GPU" added and run far lower
#   clocks: they are not in the table.
# GeForce cards run 16-bit tensor math with fp32 accumulation at half their fp16-accumulate rate; data
# centre cards do not halve it.
PEAK_TFLOPS: dict[str, Peak] = {
    "RTX 3060": Peak(12.7, 12.7, 25.5),
    "RTX 3060 TI": Peak(16.2, 16.2, 32.4),
    "RTX 3070": Peak(20.3, 20.3, 40.6),
    "RTX 3080": Peak(29.8, 29.8, 59.5),  # the 10 GB card
    "RTX 3080 12GB": Peak(30.6, 30.6, 61.3),  # same name, 8960 cores: told apart by its memory
    "RTX 3090": Peak(35.6, 35.6, 71.0),
    "RTX 4060": Peak(15.1, 15.1, 30.2),
    "RTX 4060 TI": Peak(22.1, 22.1, 44.1),  # 8 GB and 16 GB: the same chip and clocks
    "RTX 4070": Peak(29.1, 29.1, 58.3),
    "RTX 4070 SUPER": Peak(35.5, 35.5, 71.0),
    "RTX 4070 TI": Peak(40.1, 40.1, 80.2),
    "RTX 4070 TI SUPER": Peak(44.1, 44.1, 88.2),
    "RTX 4080": Peak(48.7, 48.7, 97.5),
    "RTX 4080 SUPER": Peak(52.2, 52.2, 104.5),
    "RTX 4090": Peak(82.6, 82.6, 165.2),
    "RTX 5060 TI": Peak(23.7, 23.7, 47.4),
    "RTX 5070": Peak(30.8, 30.8, 61.7),
    "RTX 5070 TI": Peak(43.9, 43.9, 87.9),
    "RTX 5080": Peak(56.3, 56.3, 112.6),
    "RTX 5090": Peak(104.8, 104.8, 209.5),
    "T4": Peak(8.1, None, 65.0),
    "A10": Peak(31.2, 62.5, 125.0),
    "L4": Peak(30.3, 60.0, 121.0),
    "A100": Peak(19.5, 156.0, 312.0),
    "H100 SXM": Peak(66.9, 494.7, 989.4),
    "H100 PCIE": Peak(51.2, 378.0, 756.0),
    "H100 NVL": Peak(60.0, 417.5, 835.5),
    "H200": Peak(66.9, 494.7, 989.4),
}

# Names the driver reports that differ from the table's key (after normalising).
NAME_ALIASES = {
    "H100": "H100 SXM",  # what an H100 SXM5 calls itself: "NVIDIA H100 80GB HBM3"
    "H200 NVL": None,  # a different (lower-power) card: no entry rather than the SXM figures
}


def normalise_name(name: str) -> str:
    """A GPU name as the table keys it: upper case, no vendor words, memory and form factor kept."""
    text = name.upper().replace("-", " ").replace("_", " ")
    words = [w for w in text.split() if w not in ("NVIDIA", "GEFORCE", "TESLA")]
    words = [w for w in words if not re.fullmatch(r"\d+GB|HBM\d?E?", w)]  # memory size and type
    text = re.sub(r"\bSXM\d?\b", "SXM", " ".join(words))
    if text.startswith("A100 "):  # A100 SXM4 40GB, A100 PCIE 40GB, A100 80GB PCIE: all the same peaks
        text = "A100"
    return text


def _card_key(name: str, vram_gib: float | None) -> str:
    """The key of a GPU name in the tables below: normalised, aliased, the 12 GB RTX 3080 told apart."""
    key = normalise_name(name)
    key = NAME_ALIASES.get(key, key)
    return "RTX 3080 12GB" if key == "RTX 3080" and vram_gib is not None and vram_gib > 11 else key


def peak_tflops(name: str, vram_gib: float | None = None) -> Peak | None:
    """Published dense peaks for a GPU name, matched exactly after normalising (None if unknown)."""
    key = _card_key(name, vram_gib)
    return PEAK_TFLOPS.get(key) if key else None


@dataclass
class GPUReport:
    """What this machine offers for deep learning (see :func:`report`)."""

    device: str
    name: str
    torch_version: str
    cuda_available: bool
    cuda_version: str | None = None
    driver_version: str | None = None
    vram_total_gb: float | None = None
    vram_free_gb: float | None = None
    compute_capability: str | None = None
    bf16: bool = False
    tf32: bool = False
    multiprocessors: int | None = None
    peak_tflops_fp32: float | None = None
    peak_tflops_tf32: float | None = None
    peak_tflops_16bit: float | None = None
    cpu: str = ""
    cpu_threads: int = 1
    cpu_features: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The report as a plain dict (for JSON)."""
        return asdict(self)


def device(prefer: str | None = None) -> torch.device:
    """Return the best available device: cuda, then Apple's mps, then cpu (or ``prefer``)."""
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def native_bf16(capability: tuple[int, int] | None = None) -> bool:
    """True if the GPU computes in bf16 natively (compute capability 8.0 or newer: Ampere, Ada, Hopper, ...).

    Not ``torch.cuda.is_bf16_supported()``: by default it also counts emulation, so a T4 (7.5) says yes
    and then runs bf16 slowly. With no argument, asks about CUDA device 0 (False without CUDA).
    """
    if capability is None:
        if not torch.cuda.is_available():
            return False
        capability = torch.cuda.get_device_capability(0)
    return tuple(capability) >= (8, 0)


def half_dtype(dev: torch.device | str | None = None) -> torch.dtype:
    """The 16-bit dtype to compute in on this device: bf16 where native, else fp16 (needs a GradScaler)."""
    kind = torch.device(dev).type if dev is not None else device().type
    if kind == "cuda":
        return torch.bfloat16 if native_bf16() else torch.float16
    return torch.float16 if kind == "mps" else torch.bfloat16


def _driver_version() -> str | None:
    try:
        import pynvml  # provided by the nvidia-ml-py package

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:  # no NVIDIA driver, or NVML missing: not an error on a CPU machine
        return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# CPU features that change which kernels PyTorch and bitsandbytes run (/proc/cpuinfo flag -> name).
CPU_FEATURES = {"avx2": "AVX2", "avx512f": "AVX512", "avx512_bf16": "AVX512-BF16", "amx_tile": "AMX"}


def cpu_features(flags: str | None = None) -> list[str]:
    """The code-path-changing CPU features this processor has (AVX2, AVX512, AVX512-BF16, AMX)."""
    if flags is None:
        flags = ""
        try:
            with open("/proc/cpuinfo") as fh:
                flags = next((line.split(":", 1)[1] for line in fh if line.startswith("flags")), "")
        except OSError:
            return []
    present = set(flags.split())
    return [name for flag, name in CPU_FEATURES.items() if flag in present]


def cpu_paths_note(features: list[str]) -> str:
    """What the CPU features mean for the course: which bitsandbytes 4-bit path this CPU takes."""
    if "AVX512-BF16" in features:
        return "bitsandbytes repacks 4-bit weights for its AVX512-BF16 kernel here"
    return "bitsandbytes uses its plain 4-bit CPU path here"


def report() -> GPUReport:
    """Collect the facts about this machine's accelerator (safe on CPU-only machines)."""
    dev = device()
    rep = GPUReport(
        device=dev.type,
        name="CPU only",
        torch_version=torch.__version__,
        cuda_available=torch.cuda.is_available(),
        cuda_version=torch.version.cuda,
        cpu=_cpu_name(),
        cpu_threads=torch.get_num_threads(),
        cpu_features=cpu_features(),
    )
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info(0)
        rep.name = props.name
        rep.vram_total_gb = round(total / GIB, 2)
        rep.vram_free_gb = round(free / GIB, 2)
        rep.compute_capability = f"{props.major}.{props.minor}"
        rep.multiprocessors = props.multi_processor_count
        rep.bf16 = native_bf16((props.major, props.minor))
        rep.tf32 = props.major >= 8
        rep.driver_version = _driver_version()
        peaks = peak_tflops(props.name, rep.vram_total_gb)
        if peaks:
            rep.peak_tflops_fp32, rep.peak_tflops_tf32, rep.peak_tflops_16bit = peaks
        if not rep.bf16:
            rep.notes.append(f"compute capability {rep.compute_capability}: no native bf16 (PyTorch would emulate "
                             "it, slowly); the course uses fp16 with a GradScaler on this GPU.")
        if torch.cuda.device_count() > 1:
            rep.notes.append(f"{torch.cuda.device_count()} GPUs visible; the course uses the first.")
    elif dev.type == "mps":
        rep.name = "Apple GPU (MPS)"
        rep.bf16 = True
        rep.notes.append("Apple GPUs share memory with the CPU; bitsandbytes 4-bit and CUDA-only tools won't run.")
    else:
        if rep.cuda_version is None:
            rep.notes.append("This PyTorch build has no CUDA support; install a CUDA build to use an NVIDIA GPU.")
        else:
            rep.notes.append(f"PyTorch (built for CUDA {rep.cuda_version}) sees no NVIDIA GPU.")
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        rep.notes.append("CUDA_VISIBLE_DEVICES is empty, which hides every GPU from PyTorch.")
    return rep


def verdict(rep: GPUReport | None = None) -> str:
    """One plain sentence on what this machine can do in the course."""
    rep = rep or report()
    if rep.device == "cuda":
        total = rep.vram_total_gb or 0
        if total < 7.5:
            return (f"{rep.name} has {total:.1f} GiB: weeks 1-5 run in full; the LLM and diffusion weeks "
                    "need 4-bit models and small batches, or Colab.")
        if total < 11:
            return (f"{rep.name} has {total:.1f} GiB, below the course's 12 GB reference: most notebooks run, "
                    "check `python -m course doctor` for the ones that need more.")
        return f"{rep.name} with {total:.1f} GiB meets the course's 12 GB reference: every full profile should run."
    if rep.device == "mps":
        return "Apple GPU: the PyTorch weeks run; 4-bit (bitsandbytes) notebooks need an NVIDIA GPU or Colab."
    return ("No GPU: weeks 1-2 run in full, everything runs in the smoke profile "
            "(COURSE_PROFILE=smoke); use Colab or a CUDA machine for the full GPU weeks.")


def show(rep: GPUReport | None = None) -> GPUReport:
    """Print the report as aligned lines and a verdict; return it."""
    rep = rep or report()
    rows = [
        ("device", rep.device),
        ("name", rep.name),
        ("VRAM total / free", f"{rep.vram_total_gb} / {rep.vram_free_gb} GiB" if rep.vram_total_gb else "-"),
        ("compute capability", rep.compute_capability or "-"),
        ("bf16 / TF32 (native)", f"{'yes' if rep.bf16 else 'no'} / {'yes' if rep.tf32 else 'no'}"),
        ("published peak", (f"{rep.peak_tflops_fp32} TFLOP/s fp32, {rep.peak_tflops_tf32 or '-'} TF32, "
                            f"{rep.peak_tflops_16bit} 16-bit tensor (dense)" if rep.peak_tflops_fp32 else "-")),
        ("torch / CUDA / driver", f"{rep.torch_version} / {rep.cuda_version or '-'} / {rep.driver_version or '-'}"),
        ("CPU", f"{rep.cpu} ({rep.cpu_threads} threads for torch; "
                f"{', '.join(rep.cpu_features) or 'no AVX2'}: {cpu_paths_note(rep.cpu_features)})"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for note in rep.notes:
        print(f"note: {note}")
    print(verdict(rep))
    return rep


def sync(dev: torch.device | str) -> None:
    """Wait for queued GPU work, so a timer measures the work and not just its launch."""
    kind = torch.device(dev).type
    if kind == "cuda":
        torch.cuda.synchronize()
    elif kind == "mps":
        torch.mps.synchronize()


def matmul_tflops(n: int, dtype: torch.dtype = torch.float32, dev: torch.device | str = "cpu",
                  min_seconds: float = 0.2, max_repeats: int = 1000) -> dict:
    """Measure achieved TFLOP/s of an n x n matrix multiply (2 n^3 FLOPs) on a device."""
    import time

    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    torch.mm(a, b)  # warm-up: kernel selection, caches
    sync(dev)
    repeats, start = 0, time.perf_counter()
    while True:
        torch.mm(a, b)
        repeats += 1
        if repeats % 4 == 0 or repeats >= max_repeats:
            sync(dev)
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds or repeats >= max_repeats:
                break
    seconds = elapsed / repeats
    del a, b
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "device": torch.device(dev).type,
            "seconds": seconds, "tflops": 2 * n**3 / seconds / 1e12}


# Published memory bandwidth in GB/s (10^9 bytes per second), keyed like PEAK_TFLOPS. Sources: NVIDIA's
# GeForce RTX 30 / 40 / 50 series spec pages ("Memory Bandwidth", or memory speed x bus width / 8:
# RTX 4070 Ti 21 Gbps x 192 bit = 504) and the data-centre datasheets (T4 320, A10 600, L4 300,
# A100 40GB 1555, A100 80GB 1935 PCIe / 2039 SXM, H100 SXM 3350, H100 PCIe 2000, H100 NVL 3900, H200 4800).
BANDWIDTH_GBS: dict[str, float] = {
    "RTX 3060": 360.0, "RTX 3060 TI": 448.0, "RTX 3070": 448.0, "RTX 3080": 760.0, "RTX 3080 12GB": 912.0,
    "RTX 3090": 936.0, "RTX 4060": 272.0, "RTX 4060 TI": 288.0, "RTX 4070": 504.0, "RTX 4070 SUPER": 504.0,
    "RTX 4070 TI": 504.0, "RTX 4070 TI SUPER": 672.0, "RTX 4080": 716.8, "RTX 4080 SUPER": 736.0,
    "RTX 4090": 1008.0, "RTX 5060 TI": 448.0, "RTX 5070": 672.0, "RTX 5070 TI": 896.0, "RTX 5080": 960.0,
    "RTX 5090": 1792.0, "T4": 320.0, "A10": 600.0, "L4": 300.0, "A100": 1555.0, "H100 SXM": 3350.0,
    "H100 PCIE": 2000.0, "H100 NVL": 3900.0, "H200": 4800.0,
}


def memory_bandwidth_gbs(name: str, vram_gib: float | None = None) -> float | None:
    """Published memory bandwidth of a GPU in GB/s (None if unknown); generating a token reads every weight once."""
    key = _card_key(name, vram_gib)
    if key == "RTX 3060" and vram_gib is not None and vram_gib < 10:
        return 240.0  # the 8 GB RTX 3060 has a 128-bit bus
    if key == "A100" and vram_gib is not None and vram_gib > 50:
        return 2039.0 if "SXM" in name.upper() else 1935.0
    return BANDWIDTH_GBS.get(key) if key else None
