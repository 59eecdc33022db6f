"""Pick the device and describe it: what this machine's GPU is and what it can do.

``device()`` chooses cuda > mps > cpu. ``report()`` gathers the facts a learner needs (name,
VRAM total and free, compute capability, bf16/TF32 support, torch/CUDA/driver versions) and
``show()`` prints them with a plain verdict. Everything works, and says something useful, on a
machine without a GPU.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field

import torch

GIB = 2**30

# Published peak throughput, dense (no sparsity), in TFLOP/s: (fp32 on CUDA cores, 16-bit on
# tensor cores with fp32 accumulation, which is what PyTorch's fp16/bf16 matmul uses).
# Sources: NVIDIA Ada Lovelace architecture whitepaper v2.1, appendix tables (the RTX 4070 Ti
# is the AD104 card announced there as "RTX 4080 12GB"; NVIDIA lists it at 641 AI TOPS =
# FP8 sparse, i.e. 80.2 dense FP16 with FP32 accumulate); NVIDIA T4, A100 and H100/H200
# datasheets. GeForce cards run fp16-with-fp32-accumulate at half their fp16-accumulate rate.
PEAK_TFLOPS: dict[str, tuple[float, float]] = {
    "RTX 4060": (15.1, 30.2),
    "RTX 4070 Ti SUPER": (44.1, 88.2),
    "RTX 4070 Ti": (40.1, 80.2),
    "RTX 4070": (29.1, 58.3),
    "RTX 4080": (48.7, 97.5),
    "RTX 4090": (82.6, 165.2),
    "RTX 3090": (35.6, 71.0),
    "T4": (8.1, 65.0),
    "A100": (19.5, 312.0),
    "H100": (66.9, 989.4),
    "H200": (66.9, 989.4),
}


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


def peak_tflops(name: str) -> tuple[float, float] | None:
    """Published dense peak (fp32, 16-bit tensor with fp32 accumulate) for a GPU name, if known."""
    upper = name.upper()
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):  # longest first: "4070 Ti SUPER" before "4070 Ti"
        if key.upper() in upper:
            return PEAK_TFLOPS[key]
    return None


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
        rep.bf16 = bool(torch.cuda.is_bf16_supported())
        rep.tf32 = props.major >= 8
        rep.driver_version = _driver_version()
        peaks = peak_tflops(props.name)
        if peaks:
            rep.peak_tflops_fp32, rep.peak_tflops_16bit = peaks
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
            rep.notes.append(
                f"PyTorch is built with CUDA {rep.cuda_version}, but no NVIDIA GPU or driver is visible."
            )
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
        ("bf16 / TF32", f"{'yes' if rep.bf16 else 'no'} / {'yes' if rep.tf32 else 'no'}"),
        ("published peak", (f"{rep.peak_tflops_fp32} TFLOP/s fp32, {rep.peak_tflops_16bit} TFLOP/s 16-bit tensor"
                            if rep.peak_tflops_fp32 else "-")),
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
