"""The learner's toolkit for Deep Learning on 12 GB.

Import the modules you need by name (``from helpers import gpu, vram``). Each module imports
its heavy libraries (transformers, diffusers, matplotlib, ...) inside the functions that use
them, so ``import helpers`` costs about as much as ``import torch``.
"""

__all__ = ["gpu", "vram", "profile"]
