"""Adam as a thin shell around torch's functional ``torch.optim.adam.adam``, beside ``torch.optim.Adam`` itself.

Why: every method of a ``torch.optim.Optimizer`` (the constructor, ``step``, ``zero_grad``, ``state_dict``)
imports ``torch._dynamo`` on its first call, seconds of start-up in every process that trains (a CLI run, a
grid worker), for a compiler the harness never uses. The shell keeps torch's update (the same functional
kernel, called as ``torch.optim.Adam.step`` calls it), its per-parameter state and its ``state_dict`` format,
so a checkpoint written by either loads into the other and the numbers are the same bit for bit
(tests/test_optim.py). ``FUNCTIONAL_ADAM`` is the one capability check; without it ``adam`` in
``training.base`` returns ``torch.optim.Adam``. Only what the models use is kept: no closure, no amsgrad or
``maximize`` (refused), no sparse or complex parameters, no hooks.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch


def _functional_adam() -> Callable[..., None] | None:
    """torch's functional Adam when it takes the arguments the shell passes, else None."""
    try:
        fn = importlib.import_module("torch.optim.adam").adam
    except (ImportError, AttributeError):
        return None
    try:
        names = set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None
    wanted = {"foreach", "fused", "capturable", "differentiable", "has_complex", "decoupled_weight_decay"}
    wanted |= {"amsgrad", "beta1", "beta2", "lr", "weight_decay", "eps", "maximize"}
    return fn if callable(fn) and wanted <= names else None


_adam = _functional_adam()
#: the one capability check: torch's functional Adam is there with the arguments used below
FUNCTIONAL_ADAM = _adam is not None

#: a group's settings, in ``torch.optim.Adam``'s order and with its defaults (its ``state_dict`` format)
DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    "weight_decay": 0,
    "amsgrad": False,
    "maximize": False,
    "foreach": None,
    "capturable": False,
    "differentiable": False,
    "fused": None,
    "decoupled_weight_decay": False,
}


def _scalar_dtype() -> torch.dtype:
    """The dtype of a step count kept on the CPU, as torch chooses it (float64 only under a float64 default)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _settings(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``given`` over it, in ``DEFAULTS``' order; an unknown setting or a mode the shell lacks
    is refused (for the constructor and for each of its groups alike)."""
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"Adam got unexpected settings {sorted(unknown)}")
    settings = {k: given.get(k, base[k]) for k in DEFAULTS}
    _check_modes(settings)
    return settings


def _step_on_device(group: dict[str, Any]) -> bool:
    """Whether torch keeps a parameter's step count as a float32 tensor on its device (fused or capturable)."""
    return bool(group.get("fused") or group.get("capturable"))


def _check_modes(settings: dict[str, Any]) -> None:
    """Refuse the modes the shell does not implement (``torch.optim.Adam`` has them)."""
    if settings["amsgrad"] or settings["maximize"] or settings["differentiable"]:
        raise ValueError("this Adam has no amsgrad, maximize or differentiable mode (use torch.optim.Adam)")


class Adam:
    """``torch.optim.Adam``'s update, state and ``state_dict`` (for the settings in ``DEFAULTS``, amsgrad and
    maximize off), without the ``torch.optim.Optimizer`` machinery."""

    def __init__(self, params: Iterable[Any], **settings: Any) -> None:
        self.defaults = _settings(DEFAULTS, settings)
        params = list(params)
        groups = params if params and isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict[str, Any]] = [
            {**_settings(self.defaults, {k: v for k, v in g.items() if k != "params"}), "params": list(g["params"])}
            for g in groups
        ]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop (or zero) every parameter's gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_().requires_grad_(False).zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter with a gradient, as ``torch.optim.Adam.step`` makes it."""
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse or torch.is_complex(p):
                    raise RuntimeError("this Adam takes dense real parameters only (use torch.optim.Adam)")
                state = self.state.setdefault(p, {})
                if not state:  # torch's lazy initialisation: a float32 step on the device when fused
                    state["step"] = (
                        torch.zeros((), dtype=torch.float32, device=p.device)
                        if _step_on_device(group)
                        else torch.tensor(0.0, dtype=_scalar_dtype())
                    )
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                params.append(p)
                grads.append(p.grad)
                exp_avgs.append(state["exp_avg"])
                exp_avg_sqs.append(state["exp_avg_sq"])
                steps.append(state["step"])
            if not params:
                continue
            beta1, beta2 = group["betas"]
            _adam(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                foreach=group["foreach"],
                capturable=group["capturable"],
                differentiable=False,
                fused=group["fused"],
                has_complex=False,
                decoupled_weight_decay=group["decoupled_weight_decay"],
                amsgrad=False,
                beta1=beta1,
                beta2=beta2,
                lr=group["lr"],
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
            )

    def state_dict(self) -> dict[str, Any]:
        """``torch.optim.Adam``'s format: the parameters numbered in group order, the state by number (the
        state's tensors themselves, not copies, as torch gives them)."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            groups.append(
                {**{k: v for k, v in group.items() if k != "params"}, "params": [index[id(p)] for p in group["params"]]}
            )
        return {"state": {index[id(p)]: s for p, s in self.state.items()}, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state written by ``state_dict`` here or by ``torch.optim.Adam``: the saved groups' settings
        replace the current ones, the moments take each parameter's dtype and device."""
        saved = copy.deepcopy(state_dict)
        groups = saved["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(g["params"]) != len(s["params"]) for g, s in zip(self.param_groups, groups, strict=True)
        ):
            raise ValueError("loaded state dict has a different number of parameter groups or parameters")
        new_groups = [
            {**DEFAULTS, **{k: v for k, v in s.items() if k != "params"}, "params": g["params"]}
            for g, s in zip(self.param_groups, groups, strict=True)
        ]
        for group in new_groups:
            _check_modes(group)
        by_index = {
            i: p
            for g, s in zip(self.param_groups, groups, strict=True)
            for i, p in zip(s["params"], g["params"], strict=True)
        }
        state = {}
        for i, values in saved["state"].items():
            p = by_index[int(i)]
            on_device = _step_on_device(next(s for s in groups if i in s["params"]))
            state[p] = {
                k: (
                    (v.to(dtype=torch.float32, device=p.device) if on_device else v)
                    if k == "step"
                    else v.to(dtype=p.dtype, device=p.device)
                )
                for k, v in values.items()
            }
        self.state, self.param_groups = state, new_groups


#: what the training code takes as an optimiser: this shell or torch's own
Optimizer = torch.optim.Optimizer | Adam
