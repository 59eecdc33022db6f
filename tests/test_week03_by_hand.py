"""Notebook 03a's code written by hand does what the library does: imported from the notebook, run on small inputs.

The hand-written gradient-descent step is compared with ``torch.optim.SGD`` step for step, the gradients worked out
by hand in section 2 with autograd's, and the timing function of section 10 is checked to wait for the device.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course import notebook_code
from helpers import gpu


def _loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((model(X) - y) ** 2).mean()


@pytest.mark.parametrize("lr", [0.3, 0.05])
def test_the_hand_written_update_equals_torch_optim_sgd_step_for_step(lr):
    nb = notebook_code.definitions("03a", "sgd_step")
    torch.manual_seed(0)
    by_hand = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    library = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    library.load_state_dict(by_hand.state_dict())
    optimizer = torch.optim.SGD(library.parameters(), lr=lr)
    g = torch.Generator().manual_seed(1)
    for step in range(5):
        X, y = torch.randn(8, 3, generator=g), torch.randn(8, 2, generator=g)  # a new batch each step
        _loss(by_hand, X, y).backward()
        nb.sgd_step(list(by_hand.parameters()), lr=lr)
        optimizer.zero_grad()
        _loss(library, X, y).backward()
        optimizer.step()
        for mine, theirs in zip(by_hand.parameters(), library.parameters(), strict=True):
            torch.testing.assert_close(mine, theirs, msg=lambda m, s=step: f"step {s}: {m}")
            assert not mine.grad.any(), "sgd_step leaves every gradient at zero for the next step"
    assert torch.is_grad_enabled(), "the update's torch.no_grad() ends with its block"


def test_the_gradients_worked_by_hand_are_autograds():
    nb = notebook_code.definitions("03a", "BY_HAND")
    w, b, x = (torch.tensor(v, requires_grad=True) for v in (3.0, 1.0, 2.0))  # the values of section 2
    ((w * x + b - 5.0) ** 2).backward()
    assert nb.BY_HAND == {"w": w.grad.item(), "b": b.grad.item(), "x": x.grad.item()}


@pytest.mark.parametrize("sync", [False, True])
def test_the_matmul_timing_starts_on_an_empty_queue_and_waits_only_when_asked(sync, monkeypatch):
    nb = notebook_code.definitions("03a", "time_matmuls")
    calls = []
    monkeypatch.setattr(gpu, "sync", lambda device: calls.append(torch.device(device)))
    seconds = nb.time_matmuls(torch.device("cpu"), 16, 3, sync=sync)
    assert seconds > 0
    assert len(calls) == (2 if sync else 1), "one sync before the clock starts, one before it stops when sync=True"
