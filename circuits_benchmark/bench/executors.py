"""Run jobs locally (a process pool, or inline) or on a Ray cluster, with a progress bar."""

from __future__ import annotations

import multiprocessing
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
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for future in as_completed([pool.submit(run_job, job) for job in jobs]):
                outcomes.append(_done(future.result(), bar, on_done))
    bar.close()
    return outcomes


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
