"""Single updates, live: hypothesis draws a layer's mask, tie-free weights, a dense gradient, a momentum
buffer and a drop fraction; ``RigLScheduler._rigl_step`` of rigl-torch 0.5.2 and
``rigl_ref.drop_grow(..., convention="rigl_torch")`` must give the same mask, weights and buffer, bit for bit.

Tie-free: active weights are distinct and non-zero and grow scores distinct, so ``torch.topk``'s
unspecified order among ties never decides (inactive weights are 0, as rigl-torch keeps them, and tie only
among themselves below every active one; kept positions share the lifted grow score ``min - 1`` but are
never picked, since at least ``n_prune`` candidates score higher)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rigl_ref import drop_grow
from rigl_ref.sparse_training.drop_grow import score_drop


@st.composite
def layers(draw):
    out_f, in_f = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    size = out_f * in_f
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_active = draw(st.integers(1, size))
    mask = np.zeros(size, bool)
    mask[rng.choice(size, n_active, replace=False)] = True
    magnitudes = (rng.permutation(size) + 1).astype(np.float32) / np.float32(size)  # distinct, > 0
    weights = np.where(mask, magnitudes * rng.choice(np.float32([-1, 1]), size), 0).astype(np.float32)
    grads = ((rng.permutation(size) + 1) * rng.choice([-1, 1], size)).astype(np.float32) / np.float32(7)
    buffer = rng.standard_normal(size).astype(np.float32)
    fraction = draw(st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0]) | st.floats(0.0, 1.0))
    shape = (out_f, in_f)
    return mask.reshape(shape), weights.reshape(shape), grads.reshape(shape), buffer.reshape(shape), fraction


@settings(max_examples=120, deadline=None)
@given(layer=layers())
def test_one_rigl_torch_update_equals_drop_grow(rigl_torch, layer):
    import torch

    mask, weights, grads, buffer, fraction = layer
    model = torch.nn.Sequential(torch.nn.Linear(mask.shape[1], mask.shape[0], bias=False))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = rigl_torch.RigLScheduler(model, optimizer, dense_allocation=0.5, T_end=100,
                                         ignore_linear_layers=False)
    w = scheduler.W[0]
    with torch.no_grad():
        w.copy_(torch.from_numpy(weights))
    w.grad = torch.zeros_like(w)
    scheduler.backward_masks[0].data = torch.from_numpy(mask.copy())
    scheduler.backward_hook_objects[0].dense_grad = torch.from_numpy(grads.copy())
    optimizer.state[w]["momentum_buffer"] = torch.from_numpy(buffer.copy())
    scheduler.cosine_annealing = lambda: fraction
    scheduler._rigl_step()

    ours = drop_grow(mask, weights, score_drop(mask, weights, "rigl_torch"), np.abs(grads), fraction,
                     convention="rigl_torch", slots=(buffer,), slot_names=("momentum_buffer",))
    np.testing.assert_array_equal(ours.mask, scheduler.backward_masks[0].numpy())
    np.testing.assert_array_equal(ours.weights, w.detach().numpy())
    np.testing.assert_array_equal(ours.slots[0], optimizer.state[w]["momentum_buffer"].numpy())
