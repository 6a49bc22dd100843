"""Layer 5: interop. Export and import a model's weights, masks and optimizer slots as a plain ``.npz``, a
PyTorch ``state_dict`` layout (rigl-torch's masks) or a JAX/flax nested dict; no framework is imported
here (torch only inside ``to_torch(as_torch=True)``). Layouts and axis permutations: ``docs/interop.md``."""

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
