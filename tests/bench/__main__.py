"""``make bench``: the service's figures on this machine, beside their baselines, in one run.

Starts ``make up``'s stack on free ports (settings from the environment, as
``make up`` reads them), then measures, one step after another:

* bulk submission through the load balancer (which also fills the queue),
  in turns with the old system's ``addBulk`` when that is there;
* draining that queue with one worker, then raw dramatiq draining as many
  no-op messages (same processes and threads, same Redis): jobs per second,
  worker and Redis CPU per job, Redis commands and round trips per job;
* queue wait at a steady 50 jobs per second, and of the first job after an
  idle spell, for both workers;
* ``GET /`` and ``GET /template`` under wrk, through the load balancer and
  straight to one API instance: requests per second, latency, and CPU of
  the whole stack per request; through the load balancer in turns with the
  system it replaces, when that is there (:mod:`.seed_system`), whole and
  part by part;
* the floor: gunicorn as the API runs it, serving a 12-byte ASGI app, which
  is what no request can cost less than, whatever the app does;
* each feature of the load balancer, priced side by side: Traefik as the
  stack configures it, and without the feature, under load at once
  (:mod:`.traefik_features`);
* what waiting for a replica (REDIS_SENTINELS) costs a submission, on a
  master and a replica of its own (:mod:`.replication`);
* with valgrind installed, the instructions Redis runs per job for each call
  of a job's life, which barely drift with the machine (:mod:`.script_cost`).

Absolute figures depend on the machine and on whatever else runs on it;
the baselines, measured in the same run, are what to compare against.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from services.settings import Settings, load_settings
from services.stack.stack import PROJECT_DIR

from . import jobs, raw_dramatiq, replication, script_cost, seed_system, traefik_features
from .http_load import measure_floor, measure_http, median_round
from .queues import SERVICE_NAMESPACE, QueueWatch
from .redis_stats import redis_counters
from .stack import RAW_WORKER, WORKER, BenchStack, bench_settings
from .table import Row, render
from .wrk import WrkMissing, find_wrk, run_wrk

#: Jobs per second of the queue-wait measure.
STEADY_RATE = 50
#: Jobs of the round that measures the bytes a finished job keeps.
MORE_JOBS = 5_000
#: Turns of the stack and the old system under the same load through their load balancers.
TURNS = 3


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=10, help="length of each load step (default 10)"
    )
    parser.add_argument(
        "--jobs", type=int, default=20_000, help="jobs queued before each drain (default 20000)"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=10, help="idle spell before a wake-up sample"
    )
    parser.add_argument("--idle-samples", type=int, default=3, help="wake-up samples (default 3)")
    parser.add_argument(
        "--seed-system",
        type=Path,
        default=seed_system.DEFAULT_UP,
        help="the old system's up script, measured too when it is there"
        " (default ../shared/seed-system/up)",
    )
    return parser.parse_args()


class Progress:
    """One line per step, with the time the run has taken so far."""

    def __init__(self, steps: int):
        self.steps = steps
        self.step = 0
        self.start = time.monotonic()

    def __call__(self, what: str) -> None:
        self.step += 1
        elapsed = time.monotonic() - self.start
        print(f"[{self.step:2}/{self.steps}] {elapsed:5.0f} s  {what}", flush=True)


def measure(
    bench: BenchStack,
    options: argparse.Namespace,
    progress: Progress,
    run_dir: Path,
    seed: seed_system.SeedSystem | None,
) -> dict:
    results: dict = {}
    progress(
        f"bulk submit: {options.jobs} jobs through the load balancer"
        + (", in turns with the old system's addBulk" if seed else "")
    )
    turns = []
    for turn in range(TURNS if seed else 1):
        if turn:
            # Each turn queues alike; the last one's jobs are the drain's.
            bench.redis.flushall()
        before = redis_counters(bench.redis)
        ours = jobs.submit_batches(bench, options.jobs)
        # No worker runs yet: each job's record, index entry and message.
        queued = (redis_counters(bench.redis) - before).used_memory / ours["jobs"]
        turns.append((ours, seed_system.add_bulk(seed, options.jobs) if seed else None))
    results["bulk_submit"] = median_round([ours for ours, _theirs in turns])
    results["bytes_per_queued_job"] = queued
    if seed is not None:
        results["seed_system"] = {"bulk_submit": median_round([theirs for _ours, theirs in turns])}
    progress("drain: the service's worker")
    results["drain"] = jobs.Drain(SERVICE_NAMESPACE, WORKER).measure(bench, bench.start_worker)
    jobs.wait_for_records_only(bench)
    # What each job keeps once it has run, as more of them come: a second,
    # smaller round, so that what the worker's start holds (its connections,
    # the scripts it loads) and what ended jobs share are not spread over them.
    finished = redis_counters(bench.redis)
    more = jobs.submit_batches(bench, MORE_JOBS)["jobs"]
    QueueWatch(bench.redis, SERVICE_NAMESPACE).wait_finished()
    jobs.wait_for_records_only(bench)
    results["bytes_per_finished_job"] = (redis_counters(bench.redis) - finished).used_memory / more

    progress(f"drain: raw dramatiq ({options.jobs} no-op messages queued first)")
    before = redis_counters(bench.redis)
    jobs.preload_raw(bench, options.jobs)
    results["raw_bytes_per_queued_job"] = (
        redis_counters(bench.redis) - before
    ).used_memory / options.jobs
    results["raw_drain"] = jobs.Drain(raw_dramatiq.NAMESPACE, RAW_WORKER).measure(
        bench, bench.start_raw_worker
    )
    results["raw_bytes_per_finished_job"] = (
        redis_counters(bench.redis) - before
    ).used_memory / options.jobs

    progress(f"queue wait at {STEADY_RATE} jobs/s, service then raw dramatiq")
    results["queue_wait"] = jobs.queue_wait(bench, rate=STEADY_RATE, seconds=options.seconds)
    progress(f"first job after {options.idle_seconds:.0f} s idle, {options.idle_samples} times")
    results["after_idle"] = jobs.after_idle(
        bench, idle_seconds=options.idle_seconds, samples=options.idle_samples
    )

    for path in seed_system.PATHS:
        run_wrk(bench.url + path, seconds=1)  # warm up connections and lazy imports
        progress(
            f"GET {path} with wrk, load balancer"
            + (", in turns with the old system" if seed else "")
        )
        ours, theirs = _in_turns(bench, seed, path, options.seconds)
        results[f"GET {path}", "load_balancer"] = ours
        if theirs is not None:
            results["seed_system"][f"GET {path}"] = theirs
        progress(f"GET {path} with wrk, direct")
        results[f"GET {path}", "direct"] = measure_http(
            bench, bench.direct_url + path, seconds=options.seconds
        )
    progress("GET / floor: a 12-byte ASGI app on the API's gunicorn, with wrk")
    results["floor"] = measure_floor(bench, seconds=options.seconds)
    progress("the load balancer's features, each priced side by side")
    results["traefik_features"] = traefik_features.measure(
        bench, run_dir / "traefik-features", seconds=max(2, options.seconds / 2)
    )
    progress(f"submissions waiting for a replica, {replication.THREADS} threads, then not")
    results["replication"] = replication.measure(run_dir, seconds=options.seconds)
    if script_cost.available():
        progress(f"Redis's instructions per job under callgrind, {script_cost.BATCH} jobs a call")
        results["script_instructions"] = script_cost.measure(run_dir)
    return results


def _in_turns(
    bench: BenchStack, seed: seed_system.SeedSystem | None, path: str, seconds: float
) -> tuple[dict, dict | None]:
    """GET ``path`` through the stack's load balancer; with the old system, TURNS turns each.

    Each turn measures the stack, then the old system at once after: the
    medians of each come back, with the turns (whose pairs the ratios take).
    """
    if seed is None:
        return measure_http(bench, bench.url + path, seconds=seconds), None
    run_wrk(seed.url + path, seconds=1)
    turns = [
        (
            measure_http(bench, bench.url + path, seconds=seconds),
            seed_system.measure_path(seed, path, seconds=seconds),
        )
        for _turn in range(TURNS)
    ]
    return (
        median_round([ours for ours, _theirs in turns]),
        median_round([theirs for _ours, theirs in turns]),
    )


def http_rows(results: dict) -> list[Row]:
    """Through the load balancer, against the same request straight to one instance."""
    rows = []
    for path in ("/", "/template?name=bench"):
        lb, direct = results[f"GET {path}", "load_balancer"], results[f"GET {path}", "direct"]
        name = path.split("?")[0]
        rows += [
            Row(f"GET {name}: requests/s", lb["requests_per_s"], direct["requests_per_s"]),
            Row(
                f"GET {name}: p50 / p99 ms",
                (lb["p50_ms"], lb["p99_ms"]),
                (direct["p50_ms"], direct["p99_ms"]),
                digits=1,
            ),
            Row(
                f"GET {name}: whole-stack CPU us/request",
                lb["stack_cpu_us_per_request"],
                direct["stack_cpu_us_per_request"],
            ),
        ]
    return rows


def seed_rows(results: dict) -> list[Row]:
    """Through each load balancer: the stack's figures beside the old system's, turn by turn."""
    seed = results.get("seed_system")
    if seed is None:
        return []
    rows = []
    for path in seed_system.PATHS:
        ours, theirs = results[f"GET {path}", "load_balancer"], seed[f"GET {path}"]
        turns = list(zip(ours["rounds"], theirs["rounds"], strict=True))

        def paired(figure: str, turns=turns) -> tuple[float, ...]:
            return tuple(mine[figure] / old[figure] for mine, old in turns)

        name = path.split("?")[0]
        parts = [(_stack_parts(mine), old["cpu_us_per_request"]) for mine, old in turns]
        rows += [
            Row(
                f"GET {name}: requests/s",
                ours["requests_per_s"],
                theirs["requests_per_s"],
                paired=paired("requests_per_s"),
            ),
            Row(
                f"GET {name}: p50 / p99 ms",
                (ours["p50_ms"], ours["p99_ms"]),
                (theirs["p50_ms"], theirs["p99_ms"]),
                digits=1,
                paired=paired("p50_ms"),
            ),
            Row(
                f"GET {name}: whole-stack CPU us/request",
                ours["stack_cpu_us_per_request"],
                theirs["stack_cpu_us_per_request"],
                paired=paired("stack_cpu_us_per_request"),
            ),
        ]
        for part in seed_system.PARTS:
            # A part idle under a load (the worker on GET /) has no ratio.
            busy = all(old[part] >= IDLE_PART_US for _mine, old in parts)
            rows.append(
                Row(
                    f"GET {name}: CPU us/request, {part}",
                    statistics.median(mine[part] for mine, _old in parts),
                    statistics.median(old[part] for _mine, old in parts),
                    comparable=busy,
                    paired=tuple(mine[part] / old[part] for mine, old in parts) if busy else (),
                )
            )
    ours, theirs = results["bulk_submit"], seed["bulk_submit"]
    rows.append(
        Row(
            f"bulk submit, jobs/s (batch x{jobs.BATCH_SIZE} vs addBulk"
            f" x{seed_system.ADD_BULK_BATCH})",
            ours["jobs_per_s"],
            theirs["jobs_per_s"],
            paired=tuple(
                mine["jobs_per_s"] / old["jobs_per_s"]
                for mine, old in zip(ours["rounds"], theirs["rounds"], strict=True)
            ),
        )
    )
    return rows


#: Below this CPU per request, a part of the old system is idle under a load: no ratio.
IDLE_PART_US = 1.0
#: The stack's processes beside each part of the old system, by what their names begin with.
STACK_PARTS = {"load balancer": "traefik", "API": "api.", "worker": "worker.", "Redis": "redis"}


def _stack_parts(figures: dict) -> dict[str, float]:
    """One turn's CPU per request of the stack, by the old system's parts (see STACK_PARTS)."""
    spent = figures["cpu_us_per_request"]
    return {
        part: sum(us for process, us in spent.items() if process.startswith(prefix))
        for part, prefix in STACK_PARTS.items()
    }


def floor_rows(results: dict) -> list[Row]:
    """What gunicorn and Traefik cost with no app at all, against the API's GET /.

    The least whole-stack CPU a request through the load balancer can cost is
    the floor's gunicorn plus Traefik's hop (the API's GET / through the load
    balancer less the same request direct).
    """
    floor = results["floor"]
    lb, direct = results["GET /", "load_balancer"], results["GET /", "direct"]
    hop = lb["stack_cpu_us_per_request"] - direct["stack_cpu_us_per_request"]
    return [
        Row("GET / direct: requests/s", floor["requests_per_s"], direct["requests_per_s"]),
        Row(
            "GET / direct: p50 / p99 ms",
            (floor["p50_ms"], floor["p99_ms"]),
            (direct["p50_ms"], direct["p99_ms"]),
            digits=1,
        ),
        Row(
            "GET / direct: CPU us/request",
            floor["cpu_us_per_request"],
            direct["stack_cpu_us_per_request"],
        ),
        Row("Traefik's hop: CPU us/request", hop),
        Row(
            "GET / through the load balancer: whole-stack CPU us/request",
            floor["cpu_us_per_request"] + hop,
            lb["stack_cpu_us_per_request"],
        ),
    ]


def traefik_rows(results: dict) -> list[Row]:
    """Each feature of the load balancer: CPU per request with it, and without it."""
    rows = []
    for name, pair in results["traefik_features"].items():
        with_it, without = pair["with"], pair["without"]
        rows += [
            Row(
                f"{name}: Traefik + instances CPU us/request",
                with_it["hop_cpu_us_per_request"],
                without["hop_cpu_us_per_request"],
            ),
            Row(
                f"{name}: Traefik alone CPU us/request",
                with_it["traefik_cpu_us_per_request"],
                without["traefik_cpu_us_per_request"],
            ),
        ]
    return rows


def _pair(summary: dict, first: str, second: str) -> tuple[float, float]:
    return summary[first], summary[second]


def job_rows(results: dict) -> list[Row]:
    """The service's worker and submissions, against raw dramatiq."""
    ours, raw = results["drain"], results["raw_drain"]
    wait, idle = results["queue_wait"], results["after_idle"]
    bulk = results["bulk_submit"]
    rows = [
        Row(f"bulk submit, POST /jobs/batch x{jobs.BATCH_SIZE}: jobs/s", bulk["jobs_per_s"]),
        Row("bulk submit: whole-stack CPU us/job", bulk["stack_cpu_us_per_job"]),
        Row(f"drain, {ours['jobs']} jobs: jobs/s", ours["jobs_per_s"], raw["jobs_per_s"]),
    ]
    for label, key, digits in (
        ("worker CPU us/job", "worker_cpu_us_per_job", 0),
        ("Redis CPU us/job", "redis_cpu_us_per_job", 0),
        ("Redis commands/job", "redis_commands_per_job", 2),
        ("Redis round trips/job", "redis_round_trips_per_job", 2),
    ):
        rows.append(Row(f"drain: {label}", ours[key], raw[key], digits=digits))
    for label, summary, second in (
        (f"queue wait at {STEADY_RATE} jobs/s: p50 / p99 ms", wait, "p99_ms"),
        ("first job after idle: median / max ms", idle, "max_ms"),
    ):
        ours_pair, raw_pair = (_pair(summary[who], "p50_ms", second) for who in ("service", "raw"))
        rows.append(Row(label, ours_pair, raw_pair, digits=1))
    rows.append(
        Row(
            # Raw dramatiq keeps the message alone.
            "Redis bytes per queued job",
            results["bytes_per_queued_job"],
            results["raw_bytes_per_queued_job"],
        )
    )
    rows.append(
        Row(
            "Redis bytes per finished job",
            results["bytes_per_finished_job"],
            results["raw_bytes_per_finished_job"],
            # Raw dramatiq keeps nothing once a message is acked.
            comparable=False,
        )
    )
    return rows


def script_rows(results: dict) -> list[Row]:
    """Redis's instructions per job for each call of its life; none without valgrind."""
    spent = results.get("script_instructions")
    if spent is None:
        return []
    rows = [Row(f"{call}: instructions/job", count) for call, count in spent.items()]
    return [*rows, Row("a job's life: instructions/job", sum(spent.values()))]


def replication_rows(results: dict) -> list[Row]:
    """Submissions answered once a replica has them (WAIT 1), against answered at once."""
    confirmed, unconfirmed = (
        results["replication"]["confirmed"],
        results["replication"]["unconfirmed"],
    )
    return [
        Row("submit one job: jobs/s", confirmed["jobs_per_s"], unconfirmed["jobs_per_s"]),
        Row(
            "submit one job: p50 / p99 ms",
            (confirmed["p50_ms"], confirmed["p99_ms"]),
            (unconfirmed["p50_ms"], unconfirmed["p99_ms"]),
            digits=2,
        ),
    ]


def write_report(
    settings: Settings, options: argparse.Namespace, results: dict, rows: list[Row]
) -> Path:
    """The run as JSON under .run/bench/; returns the file."""
    report = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "options": vars(options),
        "settings": {
            name: getattr(settings, name)
            for name in ("api_processes", "stream_slots", "worker_processes", "worker_threads")
        },
        "table": [row.as_json() for row in rows],
        "results": {
            " ".join(key) if isinstance(key, tuple) else key: value
            for key, value in results.items()
        },
    }
    out = PROJECT_DIR / ".run" / "bench" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return out


def main() -> int:
    options = arguments()
    try:
        find_wrk()
    except WrkMissing as error:
        print(error, file=sys.stderr)
        return 1
    settings = bench_settings(load_settings())
    with tempfile.TemporaryDirectory(prefix="bench-") as run_dir, contextlib.ExitStack() as beside:
        print(f"stack log: {run_dir}/stack.log (removed at the end)", flush=True)
        seed = None
        if options.seed_system.exists():
            print(f"the system it replaces, measured in turns: {options.seed_system}", flush=True)
            seed = beside.enter_context(seed_system.running(options.seed_system))
        bench = BenchStack(settings, Path(run_dir))
        try:
            steps = 12 + script_cost.available()
            results = measure(bench, options, Progress(steps), Path(run_dir), seed)
        finally:
            bench.stop()
    http, job = http_rows(results), job_rows(results)
    worker = f"{settings.worker_processes} process x {settings.worker_threads} threads"
    print()
    print(render("HTTP, wrk -t2 -c100", "direct to api.1", http))
    print()
    print(render(f"Jobs, one worker ({worker})", "raw dramatiq", job))
    instructions = script_rows(results)
    if instructions:
        print()
        print(
            render(
                f"Redis's instructions per job, under callgrind ({script_cost.BATCH} jobs a call,"
                " the stack's Redis configuration): steady from run to run",
                "-",
                instructions,
            )
        )
    floor = floor_rows(results)
    print()
    print(render("Floor: gunicorn serving a 12-byte ASGI app", "the API", floor, measured="floor"))
    features = traefik_rows(results)
    print()
    print(
        render(
            "The load balancer's features: GET / (the rate limit: POST /jobs),"
            " two Traefiks side by side, wrk -t1 -c50 on each",
            "without it",
            features,
            measured="with it",
        )
    )
    waiting = replication_rows(results)
    print()
    print(
        render(
            f"Submissions on a master and a replica, {replication.THREADS} threads",
            "answered at once",
            waiting,
            measured="WAIT 1",
        )
    )
    replaced = seed_rows(results)
    if replaced:
        print()
        print(
            render(
                "Beside the system it replaces (nginx, 2 Express, BullMQ), wrk -t2 -c100:"
                f" medians of {TURNS} turns each, the ratio the median of the turns' ratios",
                "old system",
                replaced,
            )
        )
    out = write_report(
        settings,
        options,
        results,
        http + job + instructions + floor + features + waiting + replaced,
    )
    print(f"\nThe same figures as JSON: {out.relative_to(PROJECT_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
