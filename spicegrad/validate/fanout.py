"""Run validation cases and dt sweeps serially or as independent tasks on Dask.

``workers=N`` starts an in-process ``LocalCluster`` of N single-threaded worker processes
(ngspice is single-threaded, so processes, not threads, give parallelism); ``scheduler=
"tcp://HOST:PORT"`` uses an existing cluster (e.g. one started with ``dask scheduler`` and
``dask worker``, or by dask-jobqueue on SLURM/PBS). Results come back in case order, whatever
order the tasks finish in, so a fanned-out run gives exactly the serial run's results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

from ..errors import InputError
from .cases import Case
from .engine import dt_sweep, run_case


class SchedulerError(InputError, RuntimeError):
    """The Dask scheduler could not be reached."""


def _tasks(cases: Sequence[Case], sweeps: Sequence[Case], use_cache: bool, quick: bool) -> list[tuple[Callable, tuple]]:
    """One task per case and one per (sweep case, integrator): the sweeps are the long poles."""
    from .adapters import get_adapter

    tasks = [(run_case, (c, use_cache)) for c in cases]
    for c in sweeps:
        tasks += [(dt_sweep, (c, None, (integ,), quick, use_cache)) for integ in get_adapter(c.model).integrators]
    return tasks


def _merge_sweeps(parts: list[dict]) -> list[dict]:
    """Join the per-integrator sweep results of each case, keeping case order."""
    merged: dict[str, dict] = {}
    for part in parts:
        into = merged.setdefault(part["case"], {"case": part["case"], "model": part["model"], "rows": [], "advice": {}})
        into["rows"] += part["rows"]
        into["advice"].update(part["advice"])
    return list(merged.values())


def dask_client(workers: int | None, scheduler: str | None):
    from dask.distributed import Client, LocalCluster

    for name in ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if scheduler:
        try:
            return Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


def run_suite(
    cases: Sequence[Case],
    sweeps: Sequence[Case] = (),
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    quick: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(case results, sweep results), each in input order; ``quick`` sweeps dt only upward
    from each case's own dt."""
    tasks = _tasks(cases, sweeps, use_cache, quick)
    bar = tqdm(total=len(tasks), desc="validating", unit="task", disable=not progress)
    if workers is None and scheduler is None:
        out = []
        for fn, args in tasks:
            out.append(fn(*args))
            bar.update()
    else:
        from dask.distributed import as_completed

        client, cluster = dask_client(workers, scheduler)
        try:
            futures = [client.submit(fn, *args, pure=False) for fn, args in tasks]
            index = {f.key: i for i, f in enumerate(futures)}
            out = [None] * len(futures)
            for future in as_completed(futures):
                out[index[future.key]] = future.result()
                bar.update()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    bar.close()
    return out[: len(cases)], _merge_sweeps(out[len(cases):])
