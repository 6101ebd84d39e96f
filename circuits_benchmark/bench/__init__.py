"""The benchmark end to end: train or load models, run discovery methods, evaluate, write tables."""

from circuits_benchmark.bench.jobs import DiscoveryJob, EvaluationJob, JobOutcome, TrainJob
from circuits_benchmark.bench.runner import BenchConfig, BenchReport, run_benchmark

__all__ = ["BenchConfig", "BenchReport", "DiscoveryJob", "EvaluationJob", "JobOutcome", "TrainJob", "run_benchmark"]
