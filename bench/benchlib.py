"""What the benchmark scripts share: the timing rule and the record of the machine a run measured.

Both scripts run on 1 BLAS and 1 Numba thread by default; the record says what threadpoolctl and Numba
actually had, the library versions, and the load average (the machines here are shared and noisy).
"""

from __future__ import annotations

import datetime
import os
import platform
import time

import numba
import numpy as np
import scipy
from threadpoolctl import threadpool_info


def median_seconds(fn, repeats: int, *, warmup: bool = True) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (after one untimed call when ``warmup``)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def environment_record() -> dict:
    """Date, machine, versions, thread counts (Numba and every BLAS threadpoolctl sees) and load average."""
    return dict(
        date=datetime.datetime.now().isoformat(timespec="seconds"), machine=platform.machine(),
        processor=platform.processor(), python=platform.python_version(), numpy=np.__version__,
        scipy=scipy.__version__, numba=numba.__version__, numba_threads=numba.get_num_threads(),
        blas=[{k: v for k, v in info.items() if k in ("internal_api", "version", "architecture", "num_threads")}
              for info in threadpool_info()],
        load_average=list(os.getloadavg()),
    )
