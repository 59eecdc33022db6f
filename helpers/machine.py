"""What this machine is: the one record of facts that the GPU report, the notebooks and the doctor read.

``gather()`` asks the machine once (NVML through ``nvidia-ml-py`` before PyTorch touches the GPU, so free
VRAM excludes this process; then PyTorch, bitsandbytes, the CPU and the OS) and returns :class:`Facts`.
``show(facts)`` prints them for a learner with a plain verdict; ``helpers.diagnose`` turns the same facts
into problems and fixes, and ``python -m course doctor`` prints both. Everything works, and says
something useful, on a machine without a GPU.

Taught in week 0 (00a-check-your-gpu); ``python -m course doctor`` reads the same record.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import asdict, dataclass, field

from helpers.gpu_specs import Peak, peak_tflops
from helpers.presets import GIB


@dataclass
class Process:
    """A process holding GPU memory, as NVML reports it (``gib`` is None where the OS hides it)."""

    pid: int
    name: str
    gib: float | None = None


@dataclass
class Facts:
    """Everything known about this machine, gathered once by :func:`gather` (or written by hand in a test)."""

    system: str = ""  # platform.system(): "Linux", "Windows", "Darwin"
    kernel: str = ""  # platform.release() (WSL2's says "microsoft")
    hostname: str = ""
    device: str = "cpu"  # what the course computes on: "cuda", "mps" or "cpu"
    torch_version: str = ""
    torchvision_version: str | None = None
    torch_cuda: str | None = None  # torch.version.cuda: None for a CPU-only build
    cuda_available: bool = False
    cuda_error: str | None = None  # what torch.cuda.init() said when CUDA is not available
    nvidia: bool = False  # an NVIDIA GPU and driver are present (NVML answered, or the driver is loaded)
    driver_version: str | None = None
    driver_cuda: str | None = None  # the newest CUDA the driver supports (nvmlSystemGetCudaDriverVersion)
    gpu_name: str | None = None
    capability: tuple[int, int] | None = None
    multiprocessors: int | None = None
    gpu_count: int = 0
    vram_total_gib: float | None = None
    vram_free_gib: float | None = None
    vram_reserved_gib: float = 0.0  # what the driver itself keeps (NVML's v2 memory info), not other programs
    processes: list[Process] | None = None  # other processes on the GPU; None: NVML cannot list them
    bnb_version: str | None = None
    bnb_error: str | None = None  # None: the 4-bit test passed, or was not run (bnb_tested says which)
    bnb_tested: bool = False
    cpu: str = ""
    cpu_threads: int = 1
    cpu_features: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def bf16(self) -> bool:
        """Native bf16 (compute capability 8.0+; Apple GPUs too), not PyTorch's emulation on older cards."""
        return self.device == "mps" or (self.capability is not None and tuple(self.capability) >= (8, 0))

    @property
    def tf32(self) -> bool:
        """TF32 tensor cores (Ampere and newer)."""
        return self.capability is not None and self.capability[0] >= 8

    @property
    def peaks(self) -> Peak | None:
        """Published dense peaks of this GPU (``helpers.gpu_specs``), or None."""
        return peak_tflops(self.gpu_name, self.vram_total_gib) if self.gpu_name else None

    def notes(self) -> list[str]:
        """Plain notes on what this machine means for the course."""
        notes = []
        if self.device == "cuda":
            if not self.bf16:
                notes.append(f"compute capability {'.'.join(map(str, self.capability or ()))}: no native bf16 "
                             "(PyTorch would emulate it, slowly); the course uses fp16 with a GradScaler on this GPU.")
            if self.gpu_count > 1:
                notes.append(f"{self.gpu_count} GPUs visible; the course uses the first.")
        elif self.device == "mps":
            notes.append("Apple GPUs share memory with the CPU; bitsandbytes 4-bit and CUDA-only tools won't run.")
        elif self.torch_cuda is None:
            notes.append("This PyTorch build has no CUDA support; install a CUDA build to use an NVIDIA GPU.")
        else:
            notes.append(f"PyTorch (built for CUDA {self.torch_cuda}) sees no NVIDIA GPU.")
        if self.env.get("CUDA_VISIBLE_DEVICES") == "":
            notes.append("CUDA_VISIBLE_DEVICES is empty, which hides every GPU from PyTorch.")
        return notes

    def to_dict(self) -> dict:
        """The facts as a plain dict (for JSON), with the derived bf16, TF32, peaks and notes."""
        out = asdict(self)
        peaks = self.peaks
        out.update(bf16=self.bf16, tf32=self.tf32, notes=self.notes(),
                   peak_tflops=peaks._asdict() if peaks else None)
        return out


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


def _nvml_facts(facts: Facts) -> None:
    """Fill the NVML part: driver, its CUDA level, VRAM and the processes on the first GPU."""
    try:
        import pynvml  # the nvidia-ml-py package

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no NVIDIA driver (or NVML missing): a CPU machine
        import shutil

        facts.nvidia = os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None
        return
    try:
        facts.nvidia = pynvml.nvmlDeviceGetCount() > 0
        facts.driver_version = str(pynvml.nvmlSystemGetDriverVersion())
        level = pynvml.nvmlSystemGetCudaDriverVersion()  # e.g. 12040 for CUDA 12.4
        facts.driver_cuda = f"{level // 1000}.{level % 1000 // 10}"
        if not facts.nvidia:
            return
        handle = pynvml.nvmlDeviceGetHandleByIndex(_nvml_index(pynvml))
        facts.gpu_name = str(pynvml.nvmlDeviceGetName(handle))
        facts.capability = tuple(pynvml.nvmlDeviceGetCudaComputeCapability(handle))
        try:  # v2 splits out what the driver reserves for itself
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
        except Exception:  # noqa: BLE001 - an older driver or nvidia-ml-py: v1 counts it as used
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
        facts.vram_total_gib, facts.vram_free_gib = round(mem.total / GIB, 2), round(mem.free / GIB, 2)
        facts.vram_reserved_gib = round(getattr(mem, "reserved", 0) / GIB, 2)
        facts.processes = _nvml_processes(pynvml, handle)
    except Exception:  # noqa: BLE001,S110 - partial facts are still useful
        pass
    finally:
        pynvml.nvmlShutdown()


def _nvml_index(pynvml: object) -> int:
    """NVML's index of the GPU PyTorch calls cuda:0 (they differ when CUDA_VISIBLE_DEVICES reorders)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if visible.isdigit():
        return int(visible)
    if visible.startswith("GPU-"):
        return int(pynvml.nvmlDeviceGetIndex(pynvml.nvmlDeviceGetHandleByUUID(visible)))
    return 0


def _nvml_processes(pynvml: object, handle: object) -> list[Process] | None:
    """Other processes using the GPU (compute and graphics), or None where the OS does not say."""
    try:
        found = list(pynvml.nvmlDeviceGetComputeRunningProcesses(handle))
        found += list(pynvml.nvmlDeviceGetGraphicsRunningProcesses(handle))
    except Exception:  # noqa: BLE001 - WSL2 and some Windows setups cannot list them
        return None
    out: dict[int, Process] = {}
    for proc in found:
        if proc.pid == os.getpid():
            continue
        used = getattr(proc, "usedGpuMemory", None)
        gib = round(used / GIB, 2) if isinstance(used, int) and used < 2**60 else None
        try:
            import psutil

            name = psutil.Process(proc.pid).name()
        except Exception:  # noqa: BLE001 - another user's process, or already gone
            name = f"pid {proc.pid}"
        previous = out.get(proc.pid)
        if previous is None or (gib or 0) > (previous.gib or 0):
            out[proc.pid] = Process(proc.pid, name, gib)
    return sorted(out.values(), key=lambda p: -(p.gib or 0))


def bnb_4bit_test() -> str | None:
    """Run a tiny 4-bit (NF4) matmul with bitsandbytes on the GPU: None if it works, else the error."""
    import torch

    try:
        import bitsandbytes as bnb

        layer = bnb.nn.Linear4bit(64, 64, bias=False, compute_dtype=torch.float16, quant_type="nf4").to("cuda")
        out = layer(torch.randn(4, 64, device="cuda", dtype=torch.float16))
        torch.cuda.synchronize()
        if not bool(torch.isfinite(out).all()):
            return "the 4-bit matmul returned inf/nan"
    except Exception as err:  # noqa: BLE001 - any failure here is the finding
        lines = [line for line in str(err).strip().splitlines() if line.strip()]
        return f"{type(err).__name__}: {lines[-1] if lines else ''}"[:300]
    return None


def gather(test_bnb: bool = True) -> Facts:
    """Ask this machine once (NVML before PyTorch touches the GPU, so free VRAM excludes this process)."""
    import importlib.metadata as md

    import torch

    from helpers.gpu import device

    facts = Facts(system=platform.system(), kernel=platform.release(), hostname=socket.gethostname(),
                  torch_version=torch.__version__, torch_cuda=torch.version.cuda, cpu=_cpu_name(),
                  cpu_threads=torch.get_num_threads(), cpu_features=cpu_features(),
                  env={k: os.environ[k] for k in ("CUDA_VISIBLE_DEVICES", "BNB_CUDA_VERSION") if k in os.environ})
    _nvml_facts(facts)
    for name in ("torchvision", "bitsandbytes"):
        try:
            version = md.version(name)
        except md.PackageNotFoundError:
            version = None
        setattr(facts, "torchvision_version" if name == "torchvision" else "bnb_version", version)
    facts.cuda_available = torch.cuda.is_available()
    if not facts.cuda_available and facts.torch_cuda and facts.nvidia:
        try:
            torch.cuda.init()
        except Exception as err:  # noqa: BLE001 - CUDA's own reason is the useful part
            facts.cuda_error = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
    if facts.cuda_available and facts.vram_total_gib is None:  # no NVML: ask PyTorch (its context counts as used)
        free, total = torch.cuda.mem_get_info(0)
        facts.vram_total_gib, facts.vram_free_gib = round(total / GIB, 2), round(free / GIB, 2)
        facts.gpu_name, facts.capability = torch.cuda.get_device_name(0), tuple(torch.cuda.get_device_capability(0))
    facts.device = device().type
    if facts.cuda_available:
        try:
            props = torch.cuda.get_device_properties(0)
            facts.multiprocessors, facts.gpu_count = props.multi_processor_count, torch.cuda.device_count()
            facts.gpu_name = facts.gpu_name or props.name
            facts.capability = facts.capability or (props.major, props.minor)
        except Exception:  # noqa: BLE001 - a GPU that PyTorch lists but cannot open: the findings say why
            pass
    if test_bnb and facts.cuda_available and facts.bnb_version:
        facts.bnb_error, facts.bnb_tested = bnb_4bit_test(), True
    return facts


def verdict(facts: Facts) -> str:
    """One plain sentence on what this machine can do in the course."""
    if facts.device == "cuda":
        total, name = facts.vram_total_gib or 0, facts.gpu_name
        if total < 7.5:
            return (f"{name} has {total:.1f} GiB: weeks 1-5 run in full; the LLM and diffusion weeks "
                    "need 4-bit models and small batches, or Colab.")
        if total < 11:
            return (f"{name} has {total:.1f} GiB, below the course's 12 GB reference: most notebooks run, "
                    "check `python -m course doctor` for the ones that need more.")
        return f"{name} with {total:.1f} GiB meets the course's 12 GB reference: every full profile should run."
    if facts.device == "mps":
        return "Apple GPU: the PyTorch weeks run; 4-bit (bitsandbytes) notebooks need an NVIDIA GPU or Colab."
    return ("No GPU: weeks 1-2 run in full, everything runs in the smoke profile "
            "(COURSE_PROFILE=smoke); use Colab or a CUDA machine for the full GPU weeks.")


def show(facts: Facts | None = None) -> Facts:
    """Print the facts a learner needs as aligned lines and a verdict; return them."""
    facts = facts or gather(test_bnb=False)
    peaks = facts.peaks
    rows = [
        ("device", facts.device),
        ("name", facts.gpu_name or ("Apple GPU (MPS)" if facts.device == "mps" else "CPU only")),
        ("VRAM total / free", f"{facts.vram_total_gib} / {facts.vram_free_gib} GiB" if facts.vram_total_gib else "-"),
        ("compute capability", ".".join(map(str, facts.capability)) if facts.capability else "-"),
        ("bf16 / TF32 (native)", f"{'yes' if facts.bf16 else 'no'} / {'yes' if facts.tf32 else 'no'}"),
        ("published peak", (f"{peaks.fp32} TFLOP/s fp32, {peaks.tf32 or '-'} TF32, "
                            f"{peaks.f16} 16-bit tensor (dense)" if peaks else "-")),
        ("torch / CUDA / driver", f"{facts.torch_version} / {facts.torch_cuda or '-'} / {facts.driver_version or '-'}"),
        ("CPU", f"{facts.cpu} ({facts.cpu_threads} threads for torch; "
                f"{', '.join(facts.cpu_features) or 'no AVX2'}: {cpu_paths_note(facts.cpu_features)})"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for note in facts.notes():
        print(f"note: {note}")
    print(verdict(facts))
    return facts
