"""Work spread over fresh processes, and what a process's memory peaked at."""
from __future__ import annotations

import resource
from collections.abc import Callable


def run_in_processes(function: Callable, tasks: list[tuple], jobs: int) -> list:
    """`function(*task)` for every task, in `jobs` fresh processes (spawned: no inherited threads)
    when `jobs` > 1, else here, one after the other."""
    if jobs <= 1:
        return [function(*task) for task in tasks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=context) as pool:
        return list(pool.map(function, *zip(*tasks)))


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports kB
