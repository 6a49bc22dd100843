"""Layer 5: training runs. ``config`` (the run configuration, TOML), ``setup`` (data, sparsities, masks,
model, optimizer from a config), ``methods`` (mask updates: RigL, SET, SNFS, pruning), ``loop`` (the
Algorithm 1 ``Trainer``), ``run`` (run directories, start/resume), ``checkpoint``, ``metrics``, ``plots``,
``summary``, ``report``, ``augment``, ``files``. See ``docs/training.md``."""
