"""Departure 7 of the live comparison: rigl-torch's layer rules (``RigLScheduler.__init__``: uniform, the
first layer dense when there is more than one, linear layers dense under ``ignore_linear_layers``) are the
distribution ``"rigl_torch"``; its ``self.S`` and initial mask counts must equal rigl_ref's."""

import pytest

from rigl_ref.sparse_training.distributions import active_counts, layer_sparsities


def _models(torch):
    nn = torch.nn
    return {
        "mlp": nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 5)),
        "one_layer": nn.Sequential(nn.Linear(20, 5)),
        "cnn": nn.Sequential(nn.Conv2d(2, 6, 3), nn.ReLU(), nn.Conv2d(6, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3),
                             nn.Flatten(), nn.Linear(4 * 2 * 2, 5)),
    }


def _framework_shape(weight) -> tuple:
    shape = tuple(weight.shape)
    return (shape[1], shape[0]) if len(shape) == 2 else (shape[2], shape[3], shape[1], shape[0])


@pytest.mark.parametrize("ignore_linear_layers", [True, False])
@pytest.mark.parametrize("dense_allocation", [0.1, 0.3, 0.55])
@pytest.mark.parametrize("kind", ["mlp", "one_layer", "cnn"])
def test_rigl_torch_layer_rules(rigl_torch, kind, dense_allocation, ignore_linear_layers):
    import torch

    torch.manual_seed(0)
    model = _models(torch)[kind]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = rigl_torch.RigLScheduler(model, optimizer, dense_allocation=dense_allocation, T_end=100,
                                         ignore_linear_layers=ignore_linear_layers)
    layers = [(f"w{i}", _framework_shape(w)) for i, w in enumerate(scheduler.W)]
    ours = layer_sparsities(layers, 1 - dense_allocation, "rigl_torch", ignore_linear_layers=ignore_linear_layers,
                            convention="rigl_torch")
    assert [ours[name] for name, _ in layers] == pytest.approx([float(s) for s in scheduler.S], abs=0, rel=0)
    counts = active_counts(layers, ours, "rigl_torch")
    for (name, _), w, mask, s in zip(layers, scheduler.W, scheduler.backward_masks, scheduler.S):
        expected = w.numel() if s <= 0 else int(mask.sum())
        assert counts[name] == expected, name
