"""Exercises for week 0, "Set up and check your GPU"."""

from __future__ import annotations

from course.exercises import Case, Exercise, choice, near, same_as
from course.syllabus import objective
from helpers.presets import GIB

NOTEBOOK = "00a-check-your-gpu"

REPORT = objective(NOTEBOOK, "Read your GPU's")
FITS = objective(NOTEBOOK, "Work out what")
MATMUL = objective(NOTEBOOK, "Measure CPU vs")


def _q1_solve() -> float:
    params = 8.03e9  # Llama-3-8B
    return params * 2 / GIB  # bf16: 2 bytes per parameter


_q1_check = near(_q1_solve(), rel=0.03, unit="GiB", mistakes={
    8.03e9 * 4 / GIB: "That is fp32 (4 bytes per parameter); bf16 uses 2.",
    8.03e9 * 2 / 1e9: "That is in GB (10^9 bytes); divide bytes by 2**30 for GiB, as nvidia-smi does.",
    8.03e9 * 16 / GIB: "That counts bits, not bytes: bf16 is 16 bits = 2 bytes.",
    8.03e9 * 2 / 2**20: "That is in MiB (2**20 bytes): divide the bytes by 2**30 for GiB.",
    8.03e9 * 2: "That is the number of bytes: divide it by 2**30 to get GiB.",
    8.03e9 * 1 / GIB: "That is 1 byte per parameter (int8); bf16 takes 2.",
})


q1 = Exercise(
    "q1",
    "Llama-3-8B has 8.03 billion parameters (the table above left it out on purpose). "
    "How many GiB do its weights take in bf16?",
    _q1_check,
    "bf16 stores each parameter in 2 bytes; 1 GiB = 2**30 bytes.",
    _q1_solve,
    objective=FITS,
)


def _q2_solve() -> float:
    n, seconds = 4096, 0.010
    return 2 * n**3 / seconds / 1e12  # a matmul of two n x n matrices costs 2 n^3 floating-point operations


_q2_check = near(_q2_solve(), rel=0.02, unit="TFLOP/s", mistakes={
    _q2_solve() / 2: "Each multiply-add counts as two operations: 2 * n**3.",
    _q2_solve() * 1e12: "That is in FLOP/s: divide by 10**12 for TFLOP/s.",
    _q2_solve() / 1000: "10 ms is 0.010 s, not 10 s: divide the FLOPs by 0.010.",
    2 * 4096**3 / 0.010 / 2**40: "A TFLOP is 10**12 operations, not 2**40: divide by 1e12.",
    2 * 4096**2 / 0.010 / 1e12: "A matmul of two n x n matrices costs 2 * n**3 operations (n**2 outputs, n multiply-adds "
                                "each), not 2 * n**2.",
})


q2 = Exercise(
    "q2",
    "Multiplying two 4096 x 4096 matrices took 10 ms. What throughput is that, in TFLOP/s?",
    _q2_check,
    "A matrix multiply of two n x n matrices does n**3 multiply-adds, i.e. 2 * n**3 FLOPs.",
    _q2_solve,
    objective=MATMUL,
    wrong=((13.0, "too low"), ("13.7", "expected a number")),
)


def _q3_solve() -> str:
    return "small"


q3 = Exercise(
    "q3",
    "On an RTX 4070 Ti, how much faster is a large bf16 matmul on the tensor cores than the same matmul in "
    "fp32 (no TF32)? Answer 'small' (about 2x) or 'large' (10x or more), from the published dense peaks.",
    choice("small", {
        "large": ("10x or more is the data-centre picture (an A100: 312 TFLOP/s 16-bit vs 19.5 fp32). GeForce "
                  "cards run 16-bit with fp32 accumulation at half rate: the Ada whitepaper gives the 4070 Ti "
                  "80.2 vs 40.1 TFLOP/s. Compare the 16-bit and fp32 columns of your own sweep."),
    }),
    "Look up 'RTX 4070 TI' in helpers.gpu_specs.PEAK_TFLOPS (fp32 and f16 fields) and divide.",
    _q3_solve,
    objective=REPORT,
    wrong=(("large", "data-centre"), ("2", "not one of the options"), ("medium", "not one of the options")),
    right=("Small", " small "),
)


def weights_gib(n_params: float, dtype) -> float:
    """GiB that ``n_params`` weights take when stored in ``dtype`` (a torch dtype)."""
    return n_params * dtype.itemsize / 2**30


def _q4_cases() -> list[Case]:
    import torch

    return [Case("Llama-3.2-1B (1.24e9 parameters) in fp32", (1.24e9, torch.float32)),
            Case("Mistral-7B (7.25e9) in bf16", (7.25e9, torch.bfloat16)),
            Case("Llama-2-13B (13.0e9) in int8", (13.0e9, torch.int8)),
            Case("SmolLM2-135M (1.35e8) in fp16", (1.35e8, torch.float16)),
            Case("no parameters", (0, torch.float64))]


def _always_4_bytes(n_params: float, dtype) -> float:
    return n_params * 4 / 2**30


def _in_gb(n_params: float, dtype) -> float:
    return n_params * dtype.itemsize / 1e9


def _in_bits(n_params: float, dtype) -> float:
    return n_params * dtype.itemsize * 8 / 2**30


def _always_2_bytes(n_params: float, dtype) -> float:
    return n_params * 2 / 2**30


def _in_mib(n_params: float, dtype) -> float:
    return n_params * dtype.itemsize / 2**20


def _in_bytes(n_params: float, dtype) -> float:
    return n_params * dtype.itemsize


def _rounded(n_params: float, dtype) -> float:
    return round(n_params * dtype.itemsize / 2**30)


def _from_element_size(n_params: float, dtype) -> float:  # another correct style: ask an empty tensor
    import torch

    return n_params * torch.empty((), dtype=dtype).element_size() / 1024**3


def _as_numpy_float32(n_params: float, dtype) -> float:  # another correct style: a NumPy number
    import numpy as np

    return np.float32(n_params * dtype.itemsize / 1024**3)


q4 = Exercise(
    "q4",
    "Write weights_gib(n_params, dtype): the GiB that n_params weights take in a torch dtype "
    "(torch.float32, torch.bfloat16, torch.int8, ...).",
    same_as(weights_gib, _q4_cases, mistakes=[
        (_always_4_bytes, "you used 4 bytes for every dtype: a dtype knows its own size (dtype.itemsize)."),
        (_in_gb, "that is GB (10^9 bytes); GiB divides by 2**30, as nvidia-smi and PyTorch do."),
        (_in_bits, "that counts bits: itemsize is already in bytes (bf16 = 2), so do not multiply by 8."),
        (_always_2_bytes, "you used 2 bytes (bf16's size) for every dtype: a dtype knows its own size (dtype.itemsize)."),
        (_in_mib, "that is MiB (2**20 bytes): divide the bytes by 2**30 for GiB."),
        (_in_bytes, "that is the number of bytes: divide it by 2**30 for GiB."),
        (_rounded, "you rounded to whole GiB: return the exact value (4.62 GiB is not 5); round only when you print."),
    ], alternatives=[_from_element_size, _as_numpy_float32]),
    "Every torch dtype has .itemsize, its bytes per element (torch.bfloat16.itemsize == 2); 1 GiB = 2**30 bytes.",
    lambda: weights_gib,
    objective=FITS,
)
