"""Dynamic sparse training, spec layer: conventions, drop/grow, distributions, masks, schedules, updaters.

Modules (each imports only from lower layers; see ``docs/architecture.md``):

* ``conventions``: the ``Conventions`` record and the ``PRESETS`` (paper, tf1, tf2, rigl_torch, jaxpruner);
* ``drop_grow``: one step of Algorithm 1 per function, and the public ``drop_grow`` (``docs/algorithm.md``);
* ``updaters``: SET, RigL, SNFS, static, gradual magnitude pruning, SNIP, dense, built on ``drop_grow``;
* ``distributions``, ``masks``, ``schedules``: per-layer sparsities, initial masks, drop-fraction decays
  and update predicates;
* ``csr_update``, ``flops``, ``catalogues``: the CSR fast path, FLOPs accounting, layer catalogues.
"""
