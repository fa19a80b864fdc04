"""The Adam the models train with (``models/training/optim.py``): torch's update and ``state_dict`` bit for bit,
checkpoints interchangeable with ``torch.optim.Adam``, the fallback to it, and no ``torch._dynamo`` import."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from langgan_bench.models.training import base, optim


def net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Embedding(7, 5), torch.nn.LSTM(5, 6, batch_first=True))


def groups(model: torch.nn.Module) -> list[dict]:
    emb, lstm = model[0], model[1]
    return [{"params": list(emb.parameters())}, {"params": list(lstm.parameters()), "lr": 0.03}]


def train(model: torch.nn.Module, opt, steps: range) -> None:
    """A few updates on fixed batches (a parameter without a gradient at step 1: the LSTM's)."""
    for i in steps:
        g = torch.Generator().manual_seed(i)
        x = torch.randint(0, 7, (4, 3), generator=g)
        opt.zero_grad(set_to_none=True)
        h = model[0](x)
        loss = h.square().mean() if i == 1 else model[1](h)[0].sin().sum()
        loss.backward()
        opt.step()


def same_state(a: dict, b: dict) -> None:
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for k in a["state"]:
        assert a["state"][k].keys() == b["state"][k].keys()
        for name in a["state"][k]:
            x, y = a["state"][k][name], b["state"][k][name]
            assert x.dtype == y.dtype and x.device == y.device and torch.equal(x, y), (k, name)


@pytest.mark.parametrize("fused", [True, False])
def test_the_shell_gives_torchs_adam_bit_for_bit(fused):
    settings = dict(lr=0.01, betas=(0.5, 0.99), eps=1e-7, weight_decay=0.01, fused=fused)
    a, b = net(), net()
    ours, theirs = optim.Adam(groups(a), **settings), torch.optim.Adam(groups(b), **settings)
    train(a, ours, range(1, 6))
    train(b, theirs, range(1, 6))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not torch.equal(next(net().parameters()), next(a.parameters()))  # it did train
    same_state(ours.state_dict(), theirs.state_dict())


@pytest.mark.parametrize(("saver", "loader"), [(optim.Adam, torch.optim.Adam), (torch.optim.Adam, optim.Adam)])
def test_a_state_saved_by_one_resumes_in_the_other_to_the_same_weights(saver, loader):
    straight = net()
    opt = optim.Adam(groups(straight), lr=0.01, fused=True)
    train(straight, opt, range(1, 7))

    stopped = net()  # three steps, then a checkpoint of the weights and the optimiser
    stopped_opt = saver(groups(stopped), lr=0.01, fused=True)
    train(stopped, stopped_opt, range(1, 4))
    checkpoint = copy.deepcopy((stopped.state_dict(), stopped_opt.state_dict()))

    then = net(seed=1)
    then.load_state_dict(checkpoint[0])
    resumed = loader(groups(then), lr=0.5, fused=True)  # the saved rate replaces this one
    resumed.load_state_dict(checkpoint[1])
    train(then, resumed, range(4, 7))
    for p, q in zip(straight.parameters(), then.parameters(), strict=True):
        assert torch.equal(p, q)
    same_state(opt.state_dict(), resumed.state_dict())


def test_without_torchs_functional_adam_the_models_get_torch_optim_adam(monkeypatch):
    p = [torch.nn.Parameter(torch.ones(2))]
    assert isinstance(base.adam(p, lr=0.1), optim.Adam if optim.FUNCTIONAL_ADAM else torch.optim.Adam)
    monkeypatch.setattr(optim, "FUNCTIONAL_ADAM", False)
    assert isinstance(base.adam(p, lr=0.1), torch.optim.Adam)


def test_settings_it_does_not_have_are_refused():
    p = [torch.nn.Parameter(torch.ones(2))]
    with pytest.raises(ValueError, match="amsgrad"):
        optim.Adam(p, amsgrad=True)
    with pytest.raises(TypeError, match="momentum"):
        optim.Adam(p, momentum=0.9)
    with pytest.raises(TypeError, match="momentum"):  # in a group as well
        optim.Adam([{"params": p, "momentum": 0.9}])
    with pytest.raises(ValueError, match="amsgrad"):  # nor from a state saved with one
        optim.Adam(p).load_state_dict(torch.optim.Adam(p, amsgrad=True).state_dict())


def test_training_and_a_checkpoint_do_not_import_the_compiler():
    """The reason for the shell: a process that trains never imports ``torch._dynamo`` (seconds of start-up)."""
    code = """
import sys, torch
from langgan_bench.models.training.base import adam, optimise
m = torch.nn.Linear(3, 2)
opt = adam(m.parameters(), lr=0.1)
for step in range(2):
    optimise(m(torch.ones(4, 3)).square().sum(), opt, step=step, what="loss", clip=1.0, clip_groups=[m.parameters()])
opt.load_state_dict(opt.state_dict())
print("torch._dynamo" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
