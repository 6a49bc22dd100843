"""Layer 5: export and import of a model's weights, masks and optimizer slots in other frameworks' layouts.

The layouts are a plain ``.npz``, a PyTorch ``state_dict`` (masks as rigl-torch keeps them) and a JAX/flax
nested dict. No framework is imported here: torch only inside ``to_torch(as_torch=True)``. Layouts and
axis permutations: ``rigl_ref.interop.layout`` and ``docs/interop.md``."""

from .layout import (
    from_arrays,
    from_flax,
    from_torch,
    load_npz,
    rigl_torch_masks,
    save_npz,
    to_arrays,
    to_flax,
    to_torch,
)

__all__ = ["from_arrays", "from_flax", "from_torch", "load_npz", "rigl_torch_masks", "save_npz", "to_arrays",
           "to_flax", "to_torch"]
