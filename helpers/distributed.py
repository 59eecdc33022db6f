"""One training script, several processes: data-parallel training with DDP (torchrun) and accelerate.

The worker functions live here, not in a notebook: a launcher's fresh processes must import them.

- :func:`prepare_data` saves the dataset once as tensors, so every rank loads the same file.
- :func:`train` is the training script: under ``torchrun`` it joins the process group and wraps the model in
  ``DistributedDataParallel``; alone it trains the same way in one process.
- :func:`train_accelerate` is the same loop written for Hugging Face accelerate.
- ``python -m helpers.distributed --data FILE --out DIR`` runs :func:`train`, which is what
  :func:`launch_torchrun` starts: ``torchrun --standalone --nproc-per-node N -m helpers.distributed ...``.

Each rank writes its final weights and a small JSON report to ``out``; :func:`compare_ranks`
checks that every rank ended with identical weights, the promise DDP makes. To compare DDP with one
process like for like, ``TrainConfig.device`` puts the baseline on the ranks' kind of device,
``tf32=False`` (the default) keeps GPU arithmetic exact fp32 like the CPU's, and ``snapshots`` keeps
the weights after early steps, before rounding differences have grown (:func:`load_snapshots`).
On native Windows (:func:`windows_note`) torchrun needs ``USE_LIBUV=0`` (:func:`launch_env`) and
accelerate's notebook launcher, which forks, cannot run: WSL2 runs everything as on Linux.
Taught in extra e7 (e7-beyond-one-gpu).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.cache import atomic_write, write_json_atomic
from helpers.vram import peak_memory


@dataclass
class TrainConfig:
    """What the training script needs: the data file, where to write, and the hyperparameters."""

    data: str
    out: str
    steps: int = 40
    global_batch: int = 64  # split evenly across the ranks
    lr: float = 0.1
    seed: int = 0
    threads: int | None = None  # CPU threads per rank (None: the cores split evenly between the ranks)
    device: str = "auto"  # "auto": one GPU per rank when there are enough GPUs, else the CPU; or "cpu", "cuda"
    tf32: bool = False  # TF32 convolutions and matmuls on Ampere+ GPUs (off: exact fp32, comparable with the CPU)
    snapshots: tuple[int, ...] = ()  # steps after which to keep a copy of the weights (see load_snapshots)


def prepare_data(name: str, root: str | Path) -> Path:
    """Save a dataset as one tensor file (images N x 1 x H x W in [0, 1], labels) and return its path.

    ``digits`` is scikit-learn's 8x8 handwritten digits (1,797 images, ships with the library);
    ``mnist`` is the real 28x28 MNIST training set (60,000 images, from :func:`helpers.data.mnist`,
    downloaded once; offline and not cached, it raises ``CannotRunFull`` with what to do).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}-tensors.pt"
    if path.exists():
        return path
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
        y = torch.tensor(bunch.target, dtype=torch.long)
    elif name == "mnist":
        from helpers.data import as_tensors, mnist

        images, y = as_tensors(mnist("full", train=True))
        x = images.float() / 255.0
    else:
        raise ValueError(f"Unknown dataset {name!r}: use 'digits' or 'mnist'.")
    return atomic_write(path, lambda fh: torch.save({"x": x, "y": y}, fh), binary=True)


def load_data(path: str | Path) -> torch.utils.data.TensorDataset:
    """Load the tensor file written by :func:`prepare_data`."""
    blob = torch.load(path, weights_only=True)
    return torch.utils.data.TensorDataset(blob["x"], blob["y"])


def make_model(classes: int = 10) -> nn.Module:
    """A small CNN for 1-channel digit images of any size (no BatchNorm, no dropout: see the notebook)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        nn.Linear(32 * 16, 64), nn.ReLU(),
        nn.Linear(64, classes),
    )


def _world() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from the variables torchrun and accelerate set; (0, 0, 1) alone."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
            int(os.environ.get("WORLD_SIZE", 1)))


def _device_and_backend(local_rank: int, world: int, want: str = "auto") -> tuple[torch.device, str]:
    """One GPU per rank on NCCL when there are enough GPUs (or ``want="cuda"``), else the CPU on gloo."""
    if want not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device={want!r}: use 'auto', 'cpu' or 'cuda'.")
    enough = torch.cuda.is_available() and torch.cuda.device_count() >= world
    if want == "cuda" and not enough:
        raise RuntimeError(f"device='cuda' needs one GPU per rank: {world} ranks, "
                           f"{torch.cuda.device_count()} GPU(s). Use device='auto' or 'cpu'.")
    if want != "cpu" and enough:
        return torch.device("cuda", local_rank), "nccl"
    return torch.device("cpu"), "gloo"


@contextmanager
def fp32_mode(tf32: bool) -> Iterator[None]:
    """TF32 on or off for convolutions (cuDNN, on by default) and matmuls (off by default), then restored.

    TF32 keeps 10 mantissa bits instead of fp32's 23: faster on Ampere and later GPUs, but results
    differ from fp32 (and from a CPU) at about the third decimal, so exact comparisons need it off.
    """
    matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=tf32):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul


def _share_cpu(device: torch.device, world: int, threads: int | None) -> int:
    """CPU ranks split the cores between them instead of each grabbing all of them; returns the old count."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // world))
    return before


def _save_report(out: Path, rank: int, model: nn.Module, report: dict[str, Any], prefix: str) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_write(out / f"{prefix}rank{rank}.pt", lambda fh: torch.save(state, fh), binary=True)
    write_json_atomic(out / f"{prefix}rank{rank}.json", report)


def train(cfg: TrainConfig) -> dict[str, Any]:
    """The training script: DDP across the ranks torchrun started, or one plain process without it."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.data import DataLoader, DistributedSampler

    rank, local_rank, world = _world()
    if cfg.global_batch % world:
        raise ValueError(f"global_batch={cfg.global_batch} must divide evenly by the {world} ranks.")
    device, backend = _device_and_backend(local_rank, world, cfg.device)
    distributed = world > 1
    threads_before = _share_cpu(device, world, cfg.threads)
    if distributed:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    torch.manual_seed(cfg.seed)
    ds = load_data(cfg.data)
    per_rank = cfg.global_batch // world
    # Each rank sees its own shard of one shared shuffle (same seed on every rank).
    sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True)
    loader = DataLoader(ds, batch_size=per_rank, sampler=sampler, drop_last=True)
    model = make_model().to(device)
    if distributed:
        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses: list[float] = []
    kept: dict[int, dict[str, torch.Tensor]] = {}
    step, epoch, start = 0, 0, time.perf_counter()
    with fp32_mode(cfg.tf32):
        while step < cfg.steps:
            sampler.set_epoch(epoch)
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                loss = loss_fn(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()  # under DDP, gradients are averaged across ranks during backward
                opt.step()
                losses.append(loss.item())
                step += 1
                if step in cfg.snapshots:
                    kept[step] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                if step >= cfg.steps:
                    break
            epoch += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    report = {"rank": rank, "world_size": world, "backend": backend if distributed else "none",
              "device": str(device), "steps": step, "per_rank_batch": per_rank, "losses": losses,
              "train_seconds": seconds, "samples_per_s": step * per_rank / seconds, "tf32": cfg.tf32,
              "threads": torch.get_num_threads() if device.type == "cpu" else None,
              "peak_mb": peak_memory()["peak_vram_mb" if device.type == "cuda" else "peak_rss_mb"],
              "config": asdict(cfg)}
    _save_report(Path(cfg.out), rank, getattr(model, "module", model), report, prefix="")
    if kept:  # under DDP the keys carry a "module." prefix: strip it so snapshots compare with one process
        torch.save({s: {k.removeprefix("module."): v for k, v in w.items()} for s, w in kept.items()},
                   Path(cfg.out) / f"rank{rank}-snapshots.pt")
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    torch.set_num_threads(threads_before)
    return report


def train_accelerate(cfg: TrainConfig) -> dict[str, Any]:
    """The same loop written for accelerate: ``Accelerator.prepare`` shards the data and wraps the model."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader

    world = int(os.environ.get("WORLD_SIZE", 1))
    device, _ = _device_and_backend(int(os.environ.get("LOCAL_RANK", 0)), world, cfg.device)
    _share_cpu(device, world, cfg.threads)
    accelerator = Accelerator(cpu=device.type == "cpu")  # cpu=True is what makes CPU ranks use gloo
    rank, world = accelerator.process_index, accelerator.num_processes
    set_seed(cfg.seed)
    ds = load_data(cfg.data)
    per_rank = cfg.global_batch // world
    loader = DataLoader(ds, batch_size=per_rank, shuffle=True, drop_last=True)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    model, opt, loader = accelerator.prepare(model, opt, loader)
    loss_fn = nn.CrossEntropyLoss()
    losses: list[float] = []
    step, start = 0, time.perf_counter()
    with fp32_mode(cfg.tf32):
        while step < cfg.steps:
            for x, y in loader:
                loss = loss_fn(model(x), y)
                opt.zero_grad(set_to_none=True)
                accelerator.backward(loss)
                opt.step()
                losses.append(loss.item())
                step += 1
                if step >= cfg.steps:
                    break
    accelerator.wait_for_everyone()
    seconds = time.perf_counter() - start
    report = {"rank": rank, "world_size": world, "backend": str(accelerator.distributed_type),
              "device": str(accelerator.device), "steps": step, "per_rank_batch": per_rank, "losses": losses,
              "train_seconds": seconds, "samples_per_s": step * per_rank / seconds,
              "threads": torch.get_num_threads() if accelerator.device.type == "cpu" else None,
              "peak_mb": peak_memory()["peak_vram_mb" if accelerator.device.type == "cuda" else "peak_rss_mb"],
              "config": asdict(cfg)}
    _save_report(Path(cfg.out), rank, accelerator.unwrap_model(model), report, prefix="accelerate-")
    accelerator.end_training()
    return report


def accuracy(weights: dict[str, torch.Tensor], data: str | Path, limit: int | None = None) -> float:
    """Accuracy of saved weights on the tensor file (the first ``limit`` images, or all)."""
    model = make_model()
    model.load_state_dict(weights)
    ds = load_data(data)
    x, y = ds.tensors[0][:limit], ds.tensors[1][:limit]
    with torch.no_grad():
        preds = torch.cat([model(chunk).argmax(1) for chunk in x.split(1024)])
    return float((preds == y).float().mean())


def free_port() -> int:
    """A free TCP port on 127.0.0.1, so two runs at once never fight over 29500."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_command(nproc: int, cfg: TrainConfig) -> list[str]:
    """The command line that starts ``nproc`` ranks of :func:`train` with torchrun."""
    return ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "helpers.distributed", "--data", str(cfg.data), "--out", str(cfg.out),
            "--steps", str(cfg.steps), "--global-batch", str(cfg.global_batch), "--lr", str(cfg.lr),
            "--seed", str(cfg.seed), "--device", cfg.device]
            + (["--threads", str(cfg.threads)] if cfg.threads else []) + (["--tf32"] if cfg.tf32 else [])
            + (["--snapshots", ",".join(map(str, cfg.snapshots))] if cfg.snapshots else []))


def windows_note(platform: str | None = None) -> str | None:
    """On native Windows, one paragraph on what differs for the launchers and what to do; None elsewhere."""
    if (platform or sys.platform) != "win32":
        return None
    return ("Native Windows: torchrun runs with USE_LIBUV=0 (PyTorch's Windows wheels lack libuv, torchrun's default "
            "store), and accelerate's notebook_launcher is skipped: it forks this kernel, and Windows cannot fork. Run "
            "it from a terminal with USE_LIBUV=0 (the command is below), or use WSL2, where all of this runs as on Linux.")


def launch_env(platform: str | None = None) -> dict[str, str]:
    """The environment of torchrun's ranks: one thread each unless set, loopback on Linux, no libuv on Windows."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if (platform or sys.platform) == "linux":
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback: the ranks never open a port to the network
    if (platform or sys.platform) == "win32":
        env["USE_LIBUV"] = "0"  # PyTorch's Windows wheels are built without libuv, torchrun's default store
    return env


def launch_torchrun(nproc: int, cfg: TrainConfig, timeout: float = 600) -> float:
    """Run the training script on ``nproc`` ranks with torchrun; return the wall seconds, start-up included."""
    cmd = torchrun_command(nproc, cfg)
    print("$ torchrun " + " ".join(cmd[cmd.index("--standalone"):]))
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=launch_env(), capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun failed (exit {proc.returncode}). Its last output:\n{proc.stderr[-3000:]}")
    return seconds


def launch_accelerate(nproc: int, cfg: TrainConfig) -> float:
    """Run :func:`train_accelerate` on ``nproc`` processes from a notebook; return the wall seconds."""
    from accelerate import notebook_launcher

    if windows_note():
        raise RuntimeError(windows_note())

    threads = cfg.threads or max(1, (os.cpu_count() or 1) // nproc)
    # each forked rank gets its share of the cores; on Linux, loopback: the ranks never open a port to the network
    wanted = {"OMP_NUM_THREADS": str(threads), **({"GLOO_SOCKET_IFNAME": "lo"} if sys.platform == "linux" else {})}
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update({k: v for k, v in wanted.items() if saved[k] is None})
    start = time.perf_counter()
    try:
        notebook_launcher(train_accelerate, args=(cfg,), num_processes=nproc, use_port=str(free_port()))
    finally:
        for key in [k for k, v in saved.items() if v is None]:
            os.environ.pop(key, None)
    return time.perf_counter() - start


def read_reports(out: str | Path, prefix: str = "") -> list[dict[str, Any]]:
    """The JSON reports the ranks wrote, in rank order."""
    paths = sorted(Path(out).glob(f"{prefix}rank*.json"), key=lambda p: int(p.stem.rsplit("rank", 1)[1]))
    return [json.loads(p.read_text()) for p in paths]


def load_weights(out: str | Path, rank: int, prefix: str = "") -> dict[str, torch.Tensor]:
    """The final weights one rank saved."""
    return torch.load(f"{out}/{prefix}rank{rank}.pt", weights_only=True)


def load_snapshots(out: str | Path, rank: int = 0) -> dict[int, dict[str, torch.Tensor]]:
    """The weights one rank kept after the steps listed in ``TrainConfig.snapshots``: {step: state dict}."""
    return torch.load(f"{out}/rank{rank}-snapshots.pt", weights_only=True)


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest absolute difference between two state dicts with the same keys."""
    if a.keys() != b.keys():
        raise ValueError("The two models have different layers; compare weights of the same architecture.")
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def compare_ranks(out: str | Path, prefix: str = "") -> float:
    """Largest weight difference between rank 0 and any other rank (0.0: they agree exactly)."""
    reports = read_reports(out, prefix)
    if not reports:
        raise FileNotFoundError(f"No rank reports in {out}: did the launch run?")
    first = load_weights(out, 0, prefix)
    return max((max_abs_diff(first, load_weights(out, r["rank"], prefix)) for r in reports[1:]), default=0.0)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m helpers.distributed --data FILE --out DIR [--accelerate]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="tensor file from prepare_data()")
    parser.add_argument("--out", required=True, help="folder for each rank's weights and report")
    for flag, kind, default in (("--steps", int, 40), ("--global-batch", int, 64), ("--lr", float, 0.1),
                                ("--seed", int, 0)):
        parser.add_argument(flag, type=kind, default=default)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per rank")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--tf32", action="store_true", help="allow TF32 convolutions and matmuls on the GPU")
    parser.add_argument("--snapshots", default="", help="comma-separated steps after which to keep the weights")
    parser.add_argument("--accelerate", action="store_true", help="run the accelerate version (accelerate launch)")
    args = parser.parse_args(argv)
    cfg = TrainConfig(data=args.data, out=args.out, steps=args.steps, global_batch=args.global_batch,
                      lr=args.lr, seed=args.seed, threads=args.threads, device=args.device, tf32=args.tf32,
                      snapshots=tuple(int(x) for x in args.snapshots.split(",") if x))
    (train_accelerate if args.accelerate else train)(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
