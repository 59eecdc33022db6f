"""Published peak throughput and memory bandwidth of NVIDIA GPUs: the numbers a roofline needs.

``peak_tflops(name)`` and ``memory_bandwidth_gbs(name)`` look a card up by the name the driver reports
(normalised: vendor words and memory size dropped). Every figure cites its source in the comments.

Taught in week 0 (00a-check-your-gpu); used again in 06a (tokens per second from bandwidth) and by
``helpers.machine``'s report.
"""

from __future__ import annotations

import re
from typing import NamedTuple


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
