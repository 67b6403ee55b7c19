"""Bulk submission alone, beside the old system's ``addBulk``, in alternating runs.

``make bench`` measures bulk submission once, among everything else; on a
shared machine one run says little. This starts the stack and the old system
(``../shared/seed-system/up``) side by side and runs, ``--rounds`` times, the
stack's POST /jobs/batch through its load balancer then ``addBulk``, each on
an emptied Redis, printing each pair's jobs per second, their ratio, and the
CPU each process spent per job::

    uv run python -m tests.bench.bulk --rounds 5 --jobs 20000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from services.settings import load_settings

from . import jobs, seed_system
from .cpu import CpuMeter
from .stack import BenchStack, bench_settings


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tests.bench.bulk", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="pairs of runs (default 5)")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs a run (default 20000)")
    parser.add_argument(
        "--seed-system", type=Path, default=seed_system.DEFAULT_UP, help="the old system's up"
    )
    return parser.parse_args()


def main() -> int:
    options = arguments()
    if not options.seed_system.exists():
        print(f"no old system to compare with at {options.seed_system}", file=sys.stderr)
        return 1
    settings = bench_settings(load_settings())
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as run_dir:
        bench = BenchStack(settings, Path(run_dir))
        try:
            with seed_system.running(options.seed_system) as seed:
                jobs.submit_batches(bench, jobs.BATCH_SIZE)  # connections, scripts, imports
                seed_system.add_bulk(seed, seed_system.ADD_BULK_BATCH)
                for _ in range(options.rounds):
                    bench.redis.flushall()
                    ours = jobs.submit_batches(bench, options.jobs)
                    meter = CpuMeter({"old system": seed.session})
                    theirs = seed_system.add_bulk(seed, options.jobs)
                    print(pair(ours, theirs, sum(meter.spent().values())), flush=True)
        finally:
            bench.stop()
    return 0


def pair(ours: dict, theirs: dict, their_cpu: float) -> str:
    """One line: the stack's run, its CPU per job by process, then addBulk's and the ratio.

    Neither client is counted: the old system's CPU is its processes', its
    Redis's nearly all, as addBulk talks to Redis directly.
    """
    spent = "  ".join(f"{name} {us:.0f}" for name, us in ours["cpu_us_per_job"].items() if us)
    return (
        f"POST /jobs/batch x{jobs.BATCH_SIZE}: {ours['jobs_per_s']:6.0f} jobs/s, CPU us/job"
        f" {spent} | addBulk x{seed_system.ADD_BULK_BATCH}: {theirs['jobs_per_s']:6.0f}"
        f" jobs/s, CPU us/job {their_cpu / theirs['jobs'] * 1e6:.0f}"
        f" | ratio {ours['jobs_per_s'] / theirs['jobs_per_s']:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
