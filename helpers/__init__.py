"""The learner's toolkit for Deep Learning on 12 GB: one module a concern, each readable in one sitting.

Import the modules you need by name (``from helpers import gpu, vram``). Each module imports its heavy
libraries (transformers, diffusers, matplotlib, ...) inside the functions that use them, so ``import helpers``
costs about as much as ``import torch``. Each module's docstring ends with the notebook(s) that teach it.

Every notebook
    profiles      smoke or full, and the one opening call: ``P, DEV = profiles.start(PROFILE, ...)``
    ready         can this machine run the full profile? (called by the opening call)
    download_files what each download is made of: the files its notebook loads (``course fetch`` gets them)
    metrics       what a notebook measured, shown and saved for the course runner
    cache         where downloads and stand-ins live; files written atomically

The machine
    gpu           the device, and the one rule for the 16-bit type: ``gpu.precision(device)``
    machine       the one record of this machine's facts (GPU, driver, VRAM, CPU), and its report
    diagnose      what keeps the GPU from working, and the command that fixes it
    cuda_builds   which PyTorch CUDA build fits a driver and a GPU
    gpu_specs     published peak TFLOP/s and memory bandwidth of NVIDIA cards
    speed         measured matmul TFLOP/s

Memory
    vram          live measurement: peak tracker, sampling monitor, gauge, OOM-safe batch finder
    planner       the planner: estimated weights, KV cache, activations, gradients, optimizer state
    planner_check the planner's estimates measured on any device (parameters, KV cache, saved activations)
    ladders       each heavy notebook's settings, largest first: the rung that fits the VRAM free now

Training and data
    data          datasets with their real loaders, smoke stand-ins, a tensor-resident loader
    images        Oxford-IIIT Pets (or its stand-in) and a narrow ResNet-18 pre-trained offline, for transfer learning
    train         one readable training loop: mixed precision, history, atomic checkpoints, resume
    plots         curves, image grids, confusion matrices, memory timelines
    models        tiny random models built offline for the smoke profile
    detection     object detection: Penn-Fudan and its smoke stand-in, a tiny Faster R-CNN, boxes drawn

Language models, diffusion and the extras
    gpt           the public-domain fables that week 5's hand-written GPT learns from offline
    seq2seq       encoder-decoder models: the course's translation and summary pairs, a tiny T5
    llm           load, chat with, time and size a causal language model
    finetune      LoRA / QLoRA instruction fine-tuning
    diffusion     Stable Diffusion pipelines and memory techniques
    sd_lora       LoRA training for Stable Diffusion (a style)
    multimodal    vision-language models (LLaVA-style)
    rl            reinforcement learning with stable-baselines3
    gnn           graph neural networks with PyTorch Geometric
    generative    the networks and sampler of a DCGAN and a DDPM (their training loops are e4's cells)
    dataframes    pandas and RAPIDS cuDF (one query timed fairly on each), scikit-learn and cuML
    serve         a minimal OpenAI-compatible chat server
    distributed   data-parallel training with DDP (torchrun) and accelerate
"""

import logging


class _DropKernelHubHint(logging.Filter):
    """Drop bitsandbytes' CPU hint to install ``kernels`` (a Hub download the course never needs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "kernels-community" not in record.getMessage()


# On AVX512-BF16 CPUs, importing bitsandbytes logs a red "Failed to load CPU gemm_4bit_forward from
# kernels-community" block: it falls back to its own kernel, and the learner can do nothing about it.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_DropKernelHubHint())

__all__ = ["cache", "cuda_builds", "data", "dataframes", "detection", "diagnose", "diffusion", "distributed", "download_files", "finetune",
           "generative", "gnn", "gpt", "gpu", "gpu_specs", "images", "ladders", "llm", "machine", "metrics", "models", "multimodal", "planner", "planner_check",
           "plots", "profiles", "ready", "rl", "sd_lora", "seq2seq", "serve", "speed", "train", "vram"]
