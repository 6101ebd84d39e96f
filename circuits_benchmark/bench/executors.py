"""Run jobs locally (a process pool, or inline) or on a Ray cluster, with a progress bar.

Ctrl-C: pool workers ignore SIGINT (no traceback from each of them); the main process cancels
the queued jobs, stops the workers (SIGTERM: a worker deletes its unfinished temporary file and
exits at once) and re-raises KeyboardInterrupt, which the CLI turns into one line and exit status
130. Every file is written atomically, so a stopped job leaves no partial file and the same command
resumes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Optional, Sequence

from tqdm.auto import tqdm

from circuits_benchmark.bench.jobs import JobOutcome, run_job


def run_jobs(jobs: Sequence, workers: int = 1, ray_address: Optional[str] = None,
             desc: str = "jobs", on_done: Optional[Callable[[JobOutcome], None]] = None) -> list[JobOutcome]:
    """Outcomes of `jobs` (in completion order). `ray_address`: "local" starts a local Ray instance."""
    if not jobs:
        return []
    if ray_address is not None:
        return _run_on_ray(jobs, ray_address, desc, on_done)
    outcomes: list[JobOutcome] = []
    bar = tqdm(total=len(jobs), desc=desc)
    if workers <= 1:
        for job in jobs:
            outcomes.append(_done(run_job(job), bar, on_done))
    else:
        # spawn: workers start clean (no inherited torch/JAX thread pools)
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker)
        try:
            for future in as_completed([pool.submit(run_job, job) for job in jobs]):
                outcomes.append(_done(future.result(), bar, on_done))
        except BaseException:  # Ctrl-C (or an error here): do not wait for the queued jobs
            _stop(pool)
            bar.close()
            raise
        pool.shutdown()
    bar.close()
    return outcomes


def _init_worker() -> None:
    """Pool workers leave Ctrl-C to the main process, which stops them with SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_now)
    # tqdm's default lock is a multiprocessing semaphore, which a stopped worker would leak
    # (and the resource tracker would warn about); progress bars of one worker need a thread lock only
    from tqdm import tqdm as std_tqdm
    from tqdm.auto import tqdm as auto_tqdm

    lock = threading.RLock()
    std_tqdm.set_lock(lock)
    auto_tqdm.set_lock(lock)


def _exit_now(signum: int, frame) -> None:
    from circuits_benchmark.utils.atomic import remove_pending

    remove_pending()
    os._exit(128 + signum)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel queued jobs and terminate the workers (their files are written atomically: nothing partial stays)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():  # stuck in native code: SIGKILL
            process.kill()
            process.join()
    pool.shutdown(wait=True)  # the pool's manager thread sees the stopped workers and releases its queues


def _done(outcome: JobOutcome, bar: tqdm, on_done: Optional[Callable[[JobOutcome], None]]) -> JobOutcome:
    bar.update(1)
    bar.set_postfix_str(outcome.label[:40])
    if on_done:
        on_done(outcome)
    return outcome


def _run_on_ray(jobs: Sequence, address: str, desc: str,
                on_done: Optional[Callable[[JobOutcome], None]]) -> list[JobOutcome]:
    try:
        import ray
    except ImportError as err:
        raise ValueError("--ray needs Ray: pip install -e '.[ray]'") from err
    started_here = not ray.is_initialized()
    if started_here:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(run_job)
        pending = {remote.remote(job): job for job in jobs}
        outcomes: list[JobOutcome] = []
        bar = tqdm(total=len(jobs), desc=f"{desc} (ray)")
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                pending.pop(ref)
                outcomes.append(_done(ray.get(ref), bar, on_done))
        bar.close()
        return outcomes
    finally:
        if started_here:
            ray.shutdown()
