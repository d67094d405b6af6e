"""Work spread over fresh processes, and what a process's memory peaked at."""
from __future__ import annotations

import resource
from collections.abc import Callable, Iterable, Iterator


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


def each_in_processes(function: Callable, items: Iterable, jobs: int) -> Iterator:
    """`function(item)` for every item, yielded in the items' order as they finish, computed in
    `jobs` fresh processes (spawned) when `jobs` > 1, else here."""
    if jobs <= 1:
        yield from map(function, items)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(function, items)


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports kB
