"""A tiny deterministic CPU training run through ``helpers.train.fit``, for the resume and crash tests.

``demo(...)`` trains a small MLP with dropout on synthetic data and returns its final weight checksum;
run as a script it does the same in a process the tests can kill:
``python tests/train_demo.py [--checkpoint PATH] [--steps N] [--every K] [--step-delay S] [--crash-at N]``.
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from helpers.data import TensorLoader
from helpers.train import fit


class Interrupted(Exception):
    """Raised by the demo's ``crash_at`` to simulate a run killed mid-training."""


def demo(checkpoint: str | None = None, steps: int = 60, every: int = 1, step_delay: float = 0.0,
         resume: bool = True, progress: bool = False, crash_at: int | None = None) -> str:
    """Train a small MLP with dropout on synthetic data on the CPU; return the final weight checksum."""
    torch.manual_seed(0)
    random.seed(0)
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (512, 1, 8, 8), dtype=torch.uint8, generator=g)
    labels = (images.float().mean((1, 2, 3)) > 127.5).long() + 2 * (images[:, 0, 0, 0] > 127).long()
    loader = TensorLoader(images, labels, batch_size=64, flip=True, translate=1, mean=(0.5,), std=(0.25,), seed=3)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                torch.nn.Linear(64, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, total_steps=steps)

    def hook(step: int) -> None:
        time.sleep(step_delay)
        if crash_at is not None and step >= crash_at:
            raise Interrupted(f"simulated crash after step {step}")

    epochs = -(-steps // len(loader))
    fit(model, loader, optimizer, epochs=epochs, max_steps=steps, scheduler=scheduler, device="cpu",
        checkpoint=checkpoint, every=every if checkpoint else 0, resume=resume, on_step=hook, progress=progress)
    return weights_checksum(model)


def main(argv: list[str] | None = None) -> int:
    """``python tests/train_demo.py [--checkpoint PATH] [--steps N] [--every K] [--step-delay S] [--crash-at N]``."""
    parser = argparse.ArgumentParser(prog="python tests/train_demo.py", description=main.__doc__)
    parser.add_argument("--checkpoint", default=None, help="checkpoint file: saved every K steps, resumed if present")
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps in all (8 per epoch)")
    parser.add_argument("--every", type=int, default=1, help="save a checkpoint every K steps")
    parser.add_argument("--step-delay", type=float, default=0.0, help="sleep S seconds after each step")
    parser.add_argument("--crash-at", type=int, default=None, help="simulate a crash after step N (exit code 3)")
    parser.add_argument("--no-resume", action="store_true", help="start over even if the checkpoint exists")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        checksum = demo(args.checkpoint, args.steps, args.every, args.step_delay, resume=not args.no_resume,
                        crash_at=args.crash_at)
    except Interrupted as err:
        print(err, flush=True)
        return 3
    print(f"checksum: {checksum}", flush=True)
    return 0


def weights_checksum(model: torch.nn.Module) -> str:
    """A short SHA-256 of every parameter and buffer: equal checksums mean bit-identical weights."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


if __name__ == "__main__":
    raise SystemExit(main())

