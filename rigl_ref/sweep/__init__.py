"""Layer 6: sweeps. ``grid`` (the sweep file and its expansion into points), ``worker`` (one point as a
resumable run directory), ``runner`` (the points as Dask tasks, ``sweep.jsonl``), ``summary`` (mean ± std
over seeds, the accuracy-vs-sparsity plot). Dask is imported only when a sweep runs (the ``sweep``
extra). See ``docs/sweeps.md``."""
