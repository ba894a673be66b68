"""Run validation cases and dt sweeps serially or as independent tasks on Dask.

``workers=N`` starts an in-process ``LocalCluster`` of N single-threaded worker processes
(ngspice is single-threaded, so processes, not threads, give parallelism); ``scheduler=
"tcp://HOST:PORT"`` uses an existing cluster (e.g. one started with ``dask scheduler`` and
``dask worker``, or by dask-jobqueue on SLURM/PBS). Results come back in case order, whatever
order the tasks finish in, so a fanned-out run gives exactly the serial run's results.
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .._extras import require
from .._progress import progress as progress_bar
from ..errors import InputError
from .cases import Case
from .engine import cached_case, cached_sweep, dt_sweep, run_case


class SchedulerError(InputError, RuntimeError):
    """The Dask scheduler could not be reached."""


def _tasks(cases: Sequence[Case], sweeps: Sequence[Case], use_cache: bool, quick: bool,
           plot: bool = False) -> list[tuple[Callable, tuple]]:
    """One task per case and one per (sweep case, integrator): the sweeps are the long poles."""
    from .adapters import get_adapter

    tasks = [(run_case, (c, use_cache, plot)) for c in cases]
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


#: seconds to wait for a scheduler and its first worker ($SPICEGRAD_DASK_WAIT_S overrides), and
#: for any one task to finish
WORKER_WAIT_S = 30.0
RESULT_WAIT_S = 3600.0
MAX_LOCAL_WORKERS = 256


#: most local worker processes ``workers="auto"`` starts, and the fewest tasks it fans out
AUTO_WORKERS = 4
AUTO_MIN_TASKS = 8


def auto_workers(n_tasks: int) -> int | None:
    """``workers="auto"``: one local process per CPU (at most :data:`AUTO_WORKERS`) for
    :data:`AUTO_MIN_TASKS` tasks or more; None (run here) on one CPU, for fewer tasks (a local
    cluster costs seconds to start) or where Dask is not installed."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cpus < 2 or n_tasks < AUTO_MIN_TASKS or importlib.util.find_spec("distributed") is None:
        return None
    return min(cpus, AUTO_WORKERS)


def check_workers(workers: object) -> int | None:
    """``--workers N``: None (no fan-out) or an integer in 1..MAX_LOCAL_WORKERS."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_LOCAL_WORKERS:
        raise SchedulerError(f"--workers {workers!r}: must be an integer from 1 to {MAX_LOCAL_WORKERS}")
    return workers


def _connect(client_cls, scheduler: str, wait_s: float):
    """A client of ``scheduler``, or :class:`SchedulerError` within ``wait_s``: dask's own
    connect timeout does not cover a peer that accepts the connection and never answers the
    handshake (any non-Dask TCP server), so the connection is made in a helper thread."""
    box: dict = {}

    def connect() -> None:
        try:
            box["client"] = client_cls(scheduler, timeout=f"{min(10.0, wait_s):g}s")
        except Exception as exc:  # noqa: BLE001 - reported below with the address
            box["error"] = exc

    thread = threading.Thread(target=connect, name="spicegrad-dask-connect", daemon=True)
    thread.start()
    thread.join(wait_s)
    if "client" in box:
        return box["client"]
    why = f"{type(box['error']).__name__}: {box['error']}" if "error" in box else f"no answer within {wait_s:g} s"
    raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler} ({why}); is it a Dask scheduler?")


def dask_client(workers: int | None, scheduler: str | None, worker_wait_s: float | None = None):
    """(client, cluster): a local cluster of ``workers`` processes, or a client of an existing
    ``scheduler`` that has at least one worker within ``worker_wait_s``. A scheduler that is not
    reachable, does not speak Dask, or has no worker gives a :class:`SchedulerError`."""
    workers = check_workers(workers)
    if worker_wait_s is None:
        text = os.environ.get("SPICEGRAD_DASK_WAIT_S") or str(WORKER_WAIT_S)
        try:
            worker_wait_s = float(text)
        except ValueError:
            worker_wait_s = math.nan
        if not 0 < worker_wait_s < math.inf:
            raise SchedulerError(f"SPICEGRAD_DASK_WAIT_S = {text!r}: must be a finite number of seconds > 0")
    distributed = require("dask")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster

    if scheduler:
        client = _connect(Client, scheduler, worker_wait_s)
        try:
            client.wait_for_workers(1, timeout=worker_wait_s)
        except (TimeoutError, OSError) as exc:
            client.close()
            raise SchedulerError(f"the Dask scheduler at {scheduler} has no worker after {worker_wait_s:g} s; "
                                 "start one (`dask worker ADDRESS`) or use --workers N") from exc
        return client, None
    # silence_logs: dask's own default (WARNING), which dask applies to its handlers while the
    # cluster runs and restores on close; nothing of spicegrad touches dask's loggers
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def gather(client, futures, result_wait_s: float = RESULT_WAIT_S, on_result=None) -> list:
    """Results of ``futures`` in order; :class:`SchedulerError` when none finishes within
    ``result_wait_s`` (workers lost, or a task that never ends)."""
    wait = require("dask").wait

    index = {f.key: i for i, f in enumerate(futures)}
    out = [None] * len(futures)
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=result_wait_s, return_when="FIRST_COMPLETED")
        if not done:
            raise SchedulerError(f"no result from the Dask workers for {result_wait_s:g} s "
                                 f"({len(futures) - len(pending)} of {len(futures)} done); are they alive?")
        for future in done:
            out[index[future.key]] = future.result()
            if on_result is not None:
                on_result()
    return out


def run_suite(
    cases: Sequence[Case],
    sweeps: Sequence[Case] = (),
    *,
    workers: int | str | None = None,
    scheduler: str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    quick: bool = False,
    plot: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(case results, sweep results), each in input order; ``quick`` sweeps dt only upward
    from each case's own dt. With ``use_cache``, results already on disk are read in this
    process and only the others are run (fanned out, if asked). ``workers="auto"``: see
    :func:`auto_workers`, counted over the tasks left to run. ``plot``: each case task also
    draws the report's plot of its case (see :func:`~.engine.run_case`)."""
    if workers != "auto":
        check_workers(workers)  # a bad value is refused even when every result is on disk
    if workers not in (None, "auto") or scheduler:
        require("dask")  # asked for a fan-out: without the extra, say so even when nothing is left to run
    tasks = _tasks(cases, sweeps, use_cache, quick, plot)
    bar = progress_bar(total=len(tasks), enabled=progress, desc="validating", unit="task")
    out: list = [None] * len(tasks)
    if use_cache:  # results on disk are read here: only the others travel to workers
        for i, (fn, args) in enumerate(tasks):
            hit = cached_case(args[0]) if fn is run_case else cached_sweep(*args[:4])
            if hit is not None and (fn is not run_case or not plot or "plot_png" in hit):
                out[i] = hit
                bar.update()
    todo = [i for i, r in enumerate(out) if r is None]
    if workers == "auto":
        workers = auto_workers(len(todo)) if scheduler is None else None
    if todo and workers is None and scheduler is None:
        for i in todo:
            fn, args = tasks[i]
            out[i] = fn(*args)
            bar.update()
    elif todo:
        client, cluster = dask_client(workers, scheduler)
        try:
            futures = [client.submit(tasks[i][0], *tasks[i][1], pure=False) for i in todo]
            for i, r in zip(todo, gather(client, futures, on_result=bar.update), strict=True):
                out[i] = r
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    bar.close()
    return out[: len(cases)], _merge_sweeps(out[len(cases):])
