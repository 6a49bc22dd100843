"""Departure 2 of the live comparison: rigl-torch masks only SGD's ``momentum_buffer``
(``RigLScheduler.reset_momentum``); Adam's ``exp_avg``/``exp_avg_sq`` keep their values at dropped and
regrown positions. ``Conventions.masked_slots="sgd_momentum_only"`` (the rigl_torch preset) with named slots
reproduces the optimizer state rigl-torch leaves after each of its updates, fed to ``rigl_ref.Oracle``;
the ``every_slot`` rule of the other presets does not (with Adam)."""

import dataclasses

import numpy as np
import pytest

from rigl_ref.oracle import Oracle
from rigl_ref.sparse_training.conventions import PRESETS

SLOT_NAMES = {"sgd": ("momentum_buffer",), "adam": ("exp_avg", "exp_avg_sq")}


def _run(rigl_torch, optimizer_kind, convention):
    import torch

    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(12, 10), torch.nn.ReLU(), torch.nn.Linear(10, 4))
    if optimizer_kind == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    steps, delta, t_end = 40, 4, 30
    scheduler = rigl_torch.RigLScheduler(model, optimizer, dense_allocation=0.4, T_end=t_end, delta=delta,
                                         alpha=0.3, ignore_linear_layers=False, sparsity_distribution="uniform")
    sparse = [i for i, s in enumerate(scheduler.S) if s > 0]
    names = SLOT_NAMES[optimizer_kind]
    oracle = Oracle(convention, {f"w{i}": scheduler.backward_masks[i].numpy() for i in sparse}, method="rigl",
                    update_interval=delta, end_step=t_end, drop_fraction=0.3, slot_names=names)

    def slots():
        return {f"w{i}": tuple(optimizer.state[scheduler.W[i]][n].numpy().copy() for n in names) for i in sparse}

    data, labels = torch.randn(steps, 16, 12), torch.randint(0, 4, (steps, 16))
    compared, slot_agreement = 0, []
    for x, y in zip(data, labels):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        weights = {f"w{i}": scheduler.W[i].detach().numpy().copy() for i in sparse}
        hooks = [scheduler.backward_hook_objects[i] for i in sparse]
        grads = None if hooks[0].dense_grad is None else \
            {f"w{i}": h.dense_grad.numpy().copy() for i, h in zip(sparse, hooks)}
        state = slots() if optimizer.state else {f"w{i}": () for i in sparse}
        no_update = scheduler()
        out = oracle.step(weights, grads, state if state[f"w{sparse[0]}"] else None)
        if out.updated and state[f"w{sparse[0]}"]:
            compared += 1
            after = slots()
            for i in sparse:
                assert np.array_equal(out.masks[f"w{i}"], scheduler.backward_masks[i].numpy())
                slot_agreement.append(all(np.array_equal(a, b) for a, b in zip(out.slots[f"w{i}"], after[f"w{i}"])))
        if no_update:
            optimizer.step()
    assert compared >= 5
    return slot_agreement


@pytest.mark.parametrize("optimizer_kind", ["sgd", "adam"])
def test_rigl_torch_convention_leaves_the_optimizer_state_rigl_torch_leaves(rigl_torch, optimizer_kind):
    assert all(_run(rigl_torch, optimizer_kind, "rigl_torch"))


def test_masking_every_slot_departs_from_rigl_torch_with_adam(rigl_torch):
    every_slot = dataclasses.replace(PRESETS["rigl_torch"], name="rigl_torch+every_slot", masked_slots="every_slot")
    agreement = _run(rigl_torch, "adam", every_slot)
    assert not any(agreement)  # every update zeroes Adam moments at dropped positions, which rigl-torch keeps
