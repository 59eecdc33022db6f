"""The course's training loop (helpers.train.fit) vs a hand-written loop: steps/s ratio. Goal >= 0.9.

Same model, data, optimizer and number of steps; the two loops run alternately several times
in one process and the medians are compared, so machine noise hits both alike.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from benchmarks.common import main, row
from helpers import train
from helpers.data import TensorLoader


def _setup(seed: int = 0) -> tuple[torch.nn.Module, torch.optim.Optimizer, TensorLoader]:
    torch.manual_seed(seed)
    images = torch.randint(0, 256, (2048, 3, 16, 16), dtype=torch.uint8)
    labels = torch.randint(0, 10, (2048,))
    loader = TensorLoader(images, labels, batch_size=128, flip=True, translate=2, mean=(0.5,) * 3,
                          std=(0.25,) * 3, seed=seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(16 * 8 * 8, 10))
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), loader


def hand_written(epochs: int) -> float:
    """The plain loop a learner would write: seconds per step."""
    model, optimizer, loader = _setup()
    start, steps = time.perf_counter(), 0
    model.train()
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
    return (time.perf_counter() - start) / steps


def course_loop(epochs: int) -> float:
    """helpers.train.fit on the same job (progress bar off, as in a script): seconds per step."""
    model, optimizer, loader = _setup()
    start = time.perf_counter()
    history = train.fit(model, loader, optimizer, epochs=epochs, device="cpu", progress=False)
    return (time.perf_counter() - start) / history["step"][-1]


def run(quick: bool = False) -> dict:
    """Alternate both loops and compare median steps/s."""
    rounds, epochs = (2, 1) if quick else (5, 2)
    torch.set_num_threads(1)
    plain, course = [], []
    for _ in range(rounds):
        plain.append(hand_written(epochs))
        course.append(course_loop(epochs))
    ratio = statistics.median(plain) / statistics.median(course)  # course steps/s over plain steps/s
    return row("train loop steps/s vs hand-written", ratio, "x (ratio)", ">= 0.9", ratio >= 0.9,
               plain_steps_per_s=round(1 / statistics.median(plain), 1),
               course_steps_per_s=round(1 / statistics.median(course), 1))


if __name__ == "__main__":
    sys.exit(main(run))
