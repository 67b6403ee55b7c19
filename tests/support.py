"""Helpers the tests share: free ports, a Redis-compatible server, worker processes, clients."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Self

import redis
import requests
from dramatiq.message import Message
from falcon import testing
from falcon.testing import helpers
from falcon.util import code_to_http_status
from falcon.util.sync import async_to_sync

from actors import lifecycle
from actors.consumer import Settlement
from actors.job_request import JobOptions, JobRequest
from actors.record import JobRecord
from actors.submission import submit as submit_request
from services.settings import FIELDS, Settings
from services.stack.ports import bindable, candidate_range, unused_ports
from services.stack.redis_server import NoRedisServer, installed_servers, server_command

PROJECT_DIR = Path(__file__).resolve().parents[1]


#: Ports handed out in this session: two listeners of a test, or two stacks one
#: after the other, never share one.
_handed_out: set[int] = set()


def free_ports(count: int) -> list[int]:
    """Distinct ports nothing listens on now, that no outgoing connection will take."""
    ports = unused_ports(count, avoid=_handed_out)
    _handed_out.update(ports)
    return ports


def free_port_range(count: int) -> int:
    """The first of ``count`` consecutive free ports, for settings that name the first of several.

    A setting that names the first of no ports still needs one: one at least is chosen.
    """
    count = max(count, 1)
    low, high = candidate_range()
    firsts = list(range(low, high - count + 1))
    random.shuffle(firsts)
    for first in firsts:
        run = range(first, first + count)
        if _handed_out.isdisjoint(run) and bindable("127.0.0.1", list(run)):
            _handed_out.update(run)
            return first
    raise OSError(f"no {count} consecutive free ports between {low} and {high - 1}")


def first_redis_server() -> Path:
    """The server the tests run unless told: the first installed one."""
    servers = installed_servers()
    if not servers:
        raise NoRedisServer()
    return servers[0]


def env_names() -> list[str]:
    """Every environment variable the settings read."""
    return [name.upper() for name in FIELDS]


def outcomes_without_docker(tmp_path: Path, fixture: str, conftest: str) -> dict[str, str]:
    """What pytest says of a test that takes ``fixture`` (from the module ``conftest``), run
    where no Docker engine answers: with ``CI=true`` (key ``"true"``) and without (``""``)."""
    test = tmp_path / f"test_needs_{fixture}.py"
    test.write_text(f"def test_needs_{fixture}({fixture}):\n    pass\n")
    (tmp_path / "conftest.py").write_text(f"from {conftest} import {fixture}\n")
    outcomes = {}
    for ci in ("true", ""):
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(test)],
            cwd=tmp_path,
            env={"PATH": "/nonexistent", "CI": ci, "PYTHONPATH": str(PROJECT_DIR)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        outcomes[ci] = result.stdout
    return outcomes


def wait_for(check, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``check`` until it returns something truthy; return that, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class ClientThreads:
    """Client threads asking the service at ``url`` round after round, while a ``with`` lasts.

    A subclass says what one round asks (:meth:`round`) and keeps what came
    of it, under :attr:`lock`. Leaving the ``with`` stops the threads: each
    ends its round, and is waited for at most ``join_timeout`` seconds.
    """

    def __init__(self, url: str, clients: int, join_timeout: float):
        self.url = url
        self.lock = threading.Lock()
        self._join_timeout = join_timeout
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(number,), daemon=True)
            for number in range(clients)
        ]

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self._join_timeout)

    def round(self, http: requests.Session, number: int, count: int) -> None:
        """Client ``number``'s ``count``-th round (from 1), on its own session ``http``."""
        raise NotImplementedError

    def _run(self, number: int) -> None:
        http = requests.Session()
        count = 0
        while not self._stop.is_set():
            count += 1
            self.round(http, number, count)


@contextlib.contextmanager
def redis_server(
    data_dir: Path, binary: Path, *, port: int | None = None, under: Sequence[str] = ()
) -> Iterator[str]:
    """A real Redis-compatible server (``binary``) on ``port``, or a free one; yields its URL.

    ``under`` is a command the server runs under, as ``valgrind`` runs it:
    slow to start, hence the long wait for its first answer.
    """
    if port is None:
        (port,) = free_ports(1)
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [*under, *server_command(binary, host="127.0.0.1", port=port, data_dir=data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        wait_for(lambda: _pings(client), timeout=60, what="the Redis server")
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _pings(client: redis.Redis) -> bool:
    """Whether the server answers now."""
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def started_and_ended(taken: list[tuple[Message, int]], worker_name: str) -> list[Settlement]:
    """A settle of short jobs, each fetched as ``(message, attempt)``: its start, and its end."""
    settlements = []
    for message, attempt in taken:
        redis_id = message.options["redis_message_id"]
        start = lifecycle.start(attempt, worker_name=worker_name)
        end = lifecycle.finish(
            result={"n": attempt}, exception=None, retried=False, permanent=False, attempt=attempt
        )
        settlements += [
            Settlement("start", redis_id, message.message_id, start),
            Settlement("ack", redis_id, message.message_id, end),
        ]
    return settlements


def follow_stream(
    client: testing.TestClient, path: str, *, headers: dict[str, str] | None = None
) -> testing.Result:
    """GET ``path`` of the client's app to the end of its answer, as a client that stays does.

    ``simulate_get`` leaves as soon as the answer starts, and an event stream
    stops at its next event when its client has left.
    """

    async def get() -> testing.Result:
        collector = helpers.ASGIResponseEventCollector()
        scope = testing.create_scope(path=path, headers=headers)
        await client.app(scope, helpers.ASGIRequestEventEmitter(), collector)
        status = code_to_http_status(collector.status)
        return testing.Result(collector.body_chunks, status, collector.headers)

    return async_to_sync(get)


def sse_events(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """The events of a text/event-stream, as they arrive: each block with data, as fields.

    Comments (keep-alives) and blocks without data (``retry:``) are skipped.
    """
    fields: dict[str, str] = {}
    for line in lines:
        if line:
            if not line.startswith(":") and ": " in line:
                name, value = line.split(": ", 1)
                fields[name] = value
            continue
        if "data" in fields:
            yield fields
        fields = {}
    if "data" in fields:
        yield fields


def settings_for(redis_url: str, **overrides) -> Settings:
    """Settings pointing at a test Redis, with fast retries and a known password."""
    values = {
        "redis_url": redis_url,
        "default_min_backoff_ms": 100,
        "admin_password": "test-password",
        "instance_name": "test",
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.contextmanager
def worker_process(
    settings: Settings, *, threads: int = 4, log: IO[str] | None = None
) -> Iterator[subprocess.Popen]:
    """A real ``dramatiq services.worker`` process; stopped with one SIGTERM, as the stack does.

    Its log goes to ``log`` if given, else to this process's stderr.
    """
    env = {**os.environ, **settings.to_env()}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dramatiq",
            "services.worker",
            "--processes=1",
            f"--threads={threads}",
        ],
        cwd=PROJECT_DIR,
        env=env,
        stderr=log,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


PROBLEM_JSON = "application/problem+json"


def run_job(queue, actor: str, *args, options: dict | None = None, **kwargs) -> str:
    """Submit a job straight to ``queue`` (no HTTP); its id."""
    request = JobRequest(
        actor=actor, args=list(args), kwargs=kwargs, options=JobOptions(**(options or {}))
    )
    return submit_request(queue, request)[1].id


def ended(queue, job_id: str) -> JobRecord:
    """The job's record once it has ended (a worker must be running)."""

    def record():
        found = queue.store.get(job_id)
        return found if found.ended else None

    return wait_for(record, timeout=30, what=f"job {job_id} to end")


def submit(client, actor: str = "add", args=(1, 2), headers=None, **body):
    """POST /jobs through a falcon test client, or a stack's ``post``; returns the response."""
    post = getattr(client, "simulate_post", None) or client.post
    return post("/jobs", json={"actor": actor, "args": list(args), **body}, headers=headers)


def assert_problem(result, status: int, *details: str) -> dict:
    """The response is a problem document for ``status`` whose detail says each of ``details``."""
    assert result.status_code == status, result.text
    assert result.headers["content-type"] == PROBLEM_JSON
    body = json.loads(result.text)
    assert body["status"] == status
    assert body["title"]
    assert "Traceback" not in result.text
    for detail in details:
        assert detail in body.get("detail", ""), body
    return body


def basic(user: str, password: str) -> dict[str, str]:
    """The Authorization header of HTTP basic auth."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
