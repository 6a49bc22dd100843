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
from llvmlite import binding as llvm_binding
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


def cpu_record() -> dict:
    """The CPU's model name, whether it has AVX-512, the CPU LLVM (so Numba) compiles for, and its caches
    (Linux: ``/proc/cpuinfo`` and ``/sys/devices/system/cpu``; empty where those are missing): the
    benchmark machines here change between sessions, and the kernels' speed depends on the vector width
    and the cache sizes."""
    record = {"cpu_model": "", "avx512f": None, "llvm_cpu": llvm_binding.get_host_cpu_name(), "caches": {}}
    try:
        with open("/proc/cpuinfo") as info:
            first_cpu = info.read().split("\n\n")[0]
            fields = dict(line.split(":", 1) for line in first_cpu.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        record["cpu_model"] = fields.get("model name", "")
        record["avx512f"] = "avx512f" in fields.get("flags", "").split()
    except OSError:
        pass
    cache_root = "/sys/devices/system/cpu/cpu0/cache"
    for index in sorted(os.listdir(cache_root)) if os.path.isdir(cache_root) else ():
        folder = os.path.join(cache_root, index)
        try:
            kind = {"Data": "d", "Instruction": "i", "Unified": ""}.get(_read(folder, "type"), "?")
            record["caches"][f"L{_read(folder, 'level')}{kind}"] = _read(folder, "size")
        except OSError:
            continue
    return record


def _read(folder: str, name: str) -> str:
    with open(os.path.join(folder, name)) as f:
        return f.read().strip()


def environment_record() -> dict:
    """Date, machine, CPU model and caches, versions, thread counts (Numba and every BLAS threadpoolctl
    sees) and load average."""
    return dict(
        date=datetime.datetime.now().isoformat(timespec="seconds"), machine=platform.machine(),
        processor=platform.processor(), **cpu_record(), python=platform.python_version(), numpy=np.__version__,
        scipy=scipy.__version__, numba=numba.__version__, numba_threads=numba.get_num_threads(),
        blas=[{k: v for k, v in info.items() if k in ("internal_api", "version", "architecture", "num_threads")}
              for info in threadpool_info()],
        load_average=list(os.getloadavg()),
    )
