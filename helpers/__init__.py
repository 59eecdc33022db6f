"""The learner's toolkit for Deep Learning on 12 GB.

Import the modules you need by name (``from helpers import gpu, vram``). Each module imports
its heavy libraries (transformers, diffusers, matplotlib, ...) inside the functions that use
them, so ``import helpers`` costs about as much as ``import torch``.

Each module's docstring ends with the notebook(s) that teach it, so you can go from code to lesson.
"""

import logging


class _DropKernelHubHint(logging.Filter):
    """Drop bitsandbytes' CPU hint to install ``kernels`` (a Hub download the course never needs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "kernels-community" not in record.getMessage()


# On AVX512-BF16 CPUs, importing bitsandbytes logs a red "Failed to load CPU gemm_4bit_forward from
# kernels-community" block: it falls back to its own kernel, and the learner can do nothing about it.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_DropKernelHubHint())

__all__ = ["gpu", "vram", "profile"]
