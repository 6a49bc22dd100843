"""rigl-torch 0.5.2 trains a torch MLP and a small CNN with RigL; every mask update it makes is recorded as a
trace (``rigl_ref.trace``) and replayed by ``rigl_ref.trace.diff_trace`` under ``convention="rigl_torch"``:
every update of every layer must give rigl-torch's mask, bit for bit.

Inputs are Gaussian, so drop scores of active weights and grow scores are tie-free (``torch.topk``'s order
among ties is unspecified, docs/conventions.md "Ties"): the trace records score ties only at inactive zero
weights, which never reach the kept set because every active weight has a positive magnitude (checked).
"""

import numpy as np
import pytest

from rigl_ref.trace import diff_trace, read_trace, write_trace


def _train_and_trace(rigl_torch, model_kind, path, *, steps=60, delta=5, seed=0):
    import torch

    torch.manual_seed(seed)
    if model_kind == "mlp":
        model = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 12),
                                    torch.nn.ReLU(), torch.nn.Linear(12, 5))
        data = torch.randn(steps, 32, 20)
    else:
        model = torch.nn.Sequential(torch.nn.Conv2d(2, 6, 3), torch.nn.ReLU(), torch.nn.Conv2d(6, 4, 3),
                                    torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 5))
        data = torch.randn(steps, 16, 2, 8, 8)
    labels = torch.randint(0, 5, (steps, data.shape[1]))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = rigl_torch.RigLScheduler(model, optimizer, dense_allocation=0.3, T_end=int(0.75 * steps),
                                         delta=delta, alpha=0.3, ignore_linear_layers=False,
                                         sparsity_distribution="uniform")
    names = [f"layer{i}" for i, s in enumerate(scheduler.S) if s > 0]
    updates = []
    rigl_step = scheduler._rigl_step

    def recorded_rigl_step():
        fraction = scheduler.cosine_annealing()
        sparse = [i for i, s in enumerate(scheduler.S) if s > 0]
        before = {f"layer{i}": dict(mask_before=scheduler.backward_masks[i].numpy().copy(),
                                    weights=scheduler.W[i].detach().numpy().copy(),
                                    grow_scores=scheduler.backward_hook_objects[i].dense_grad.abs().numpy().copy())
                  for i in sparse}
        rigl_step()
        for i in sparse:
            record = before[f"layer{i}"]
            record["mask_after"] = scheduler.backward_masks[i].numpy().copy()
            record["n_active"] = int(record["mask_after"].sum())
            active = record["weights"][record["mask_before"]]
            assert (active != 0).all(), "an active zero weight would make rigl-torch's order among ties matter"
        updates.append({"step": scheduler.step, "drop_fraction": float(fraction), "layers": before})

    scheduler._rigl_step = recorded_rigl_step
    loss_fn = torch.nn.CrossEntropyLoss()
    for x, y in zip(data, labels):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        if scheduler():
            optimizer.step()
    write_trace(path, updates, layer_names=names)
    return updates


@pytest.mark.parametrize("model_kind", ["mlp", "cnn"])
def test_every_rigl_torch_update_is_reproduced(rigl_torch, tmp_path, model_kind):
    path = tmp_path / f"{model_kind}.trace.npz"
    updates = _train_and_trace(rigl_torch, model_kind, path)
    assert len(updates) >= 5
    moved = sum(int((r["mask_before"] != r["mask_after"]).sum()) for u in updates for r in u["layers"].values())
    assert moved > 0  # the masks really changed
    report = diff_trace(path, "rigl_torch")
    assert report.identical, report.summary()
    names, recorded = read_trace(path)
    assert len(recorded) == len(updates) and len(names) == len(updates[0]["layers"])


def test_the_paper_convention_departs_from_rigl_torch_only_where_a_field_says(rigl_torch, tmp_path):
    """The same trace under the paper preset: where it departs, a preset (rigl_torch) and the named fields
    reproduce it; where it does not, the presets agree on these tie-free inputs."""
    path = tmp_path / "mlp.trace.npz"
    _train_and_trace(rigl_torch, "mlp", path)
    report = diff_trace(path, "paper")
    if not report.identical:
        assert "rigl_torch" in report.matching_presets, report.summary()
    # a corrupted framework mask is caught at its update and layer
    names, updates = read_trace(path)
    broken = [{"step": u.step, "drop_fraction": u.drop_fraction, "layers": {n: vars(r).copy() for n, r in u.layers.items()}}
              for u in updates]
    layer = broken[2]["layers"][names[1]]
    flat = layer["mask_after"].reshape(-1).copy()
    on, off = np.flatnonzero(flat)[0], np.flatnonzero(~flat)[0]
    flat[on], flat[off] = False, True
    layer["mask_after"] = flat.reshape(layer["mask_after"].shape)
    write_trace(tmp_path / "broken.npz", broken, layer_names=names)
    report = diff_trace(tmp_path / "broken.npz", "rigl_torch")
    assert (report.first.update, report.first.layer) == (2, names[1])
    assert report.first.only_framework == (int(off),) and report.first.only_rigl_ref == (int(on),)


def test_the_oracle_driven_by_rigl_torch_state_agrees_at_every_iteration(rigl_torch):
    """rigl_ref.oracle.Oracle fed with rigl-torch's own weights and dense gradients, iteration by iteration:
    the same iterations update (rigl-torch's post-increment step, ``step % ΔT == 0 and step < T_end``), the
    same drop fraction, and after each update identical masks and weights (grown at 0, dropped zeroed)."""
    import torch

    from rigl_ref.oracle import Oracle

    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(12, 10), torch.nn.ReLU(), torch.nn.Linear(10, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    steps, delta = 40, 4
    scheduler = rigl_torch.RigLScheduler(model, optimizer, dense_allocation=0.4, T_end=30, delta=delta,
                                         alpha=0.3, ignore_linear_layers=False, sparsity_distribution="uniform")
    sparse = [i for i, s in enumerate(scheduler.S) if s > 0]
    oracle = Oracle("rigl_torch", {f"w{i}": scheduler.backward_masks[i].numpy() for i in sparse},
                    method="rigl", update_interval=delta, end_step=30, drop_fraction=0.3)
    data, labels = torch.randn(steps, 16, 12), torch.randint(0, 4, (steps, 16))
    updates = 0
    for x, y in zip(data, labels):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        weights = {f"w{i}": scheduler.W[i].detach().numpy().copy() for i in sparse}
        hooks = [scheduler.backward_hook_objects[i] for i in sparse]
        grads = None if hooks[0].dense_grad is None else \
            {f"w{i}": h.dense_grad.numpy().copy() for i, h in zip(sparse, hooks)}
        expected_fraction = scheduler.alpha / 2 * (1 + np.cos(((scheduler.step + 1) * np.pi) / scheduler.T_end))
        no_update = scheduler()
        out = oracle.step(weights, grads)
        assert out.updated == (not no_update) and out.skip_weight_step == out.updated
        if out.updated:
            updates += 1
            assert out.drop_fraction == expected_fraction
            for i in sparse:
                assert np.array_equal(out.masks[f"w{i}"], scheduler.backward_masks[i].numpy())
                assert np.array_equal(out.weights[f"w{i}"], scheduler.W[i].detach().numpy())
        if no_update:
            optimizer.step()
    assert updates == len(range(delta, 30, delta))
