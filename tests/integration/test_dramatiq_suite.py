"""dramatiq's own Redis-broker tests, run against our broker.

The tests are not copied here: ``tests/test_redis.py`` of the installed
dramatiq's sdist is downloaded from PyPI (kept in ``~/.cache/jobqueue``) and
run by a pytest of its own, whose fixtures (written below, in place of
dramatiq's conftest) give it our broker as a worker runs it (``actors.connect()``:
our consumer, Lua, middleware and job records) on the test's Redis.

Four of its 20 tests cannot apply, and are left out:

- ``test_redis_broker_can_connect_via_url`` and ``..._via_client`` build a
  broker on Redis's default port, which this suite never binds; every other
  test builds one on a URL.
- ``test_redis_consumer_ack_can_retry_on_connection_error`` and its nack
  twin patch ``do_ack`` and ``do_nack``, commands our consumer does not send:
  it settles many acks and nacks, with their jobs' ends, in one
  ``RedisBroker.settle``.
  What they check (an ack or nack that fails with a BrokerConnectionError is
  retried until written) is tested on ``settle`` in test_broker_contract.py.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import pytest

from tests.support import PROJECT_DIR

VERSION = importlib.metadata.version("dramatiq")
CACHE = Path.home() / ".cache" / "jobqueue"
CANNOT_APPLY = (
    "test_redis_broker_can_connect_via_url",
    "test_redis_broker_can_connect_via_client",
    "test_redis_consumer_ack_can_retry_on_connection_error",
    "test_redis_consumer_nack_can_retry_on_connection_error",
)

CONFTEST = '''
"""dramatiq's redis_broker and redis_worker fixtures, giving our broker on the test's Redis."""

import os

import dramatiq
import pytest
import redis

import actors
from tests.support import settings_for

URL = os.environ["DRAMATIQ_SUITE_REDIS_URL"]


@pytest.fixture()
def redis_broker():
    redis.Redis.from_url(URL).flushall()
    broker = actors.connect(settings_for(URL).queue_config()).broker
    broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    yield broker
    broker.client.flushall()
    broker.close()


@pytest.fixture()
def redis_worker(redis_broker):
    worker = dramatiq.Worker(redis_broker, worker_threads=32)
    worker.start()
    yield worker
    worker.stop()
'''

COMMON = '''
"""What dramatiq's tests/common.py gives test_redis.py: a worker started and stopped."""

from contextlib import contextmanager

from dramatiq import Worker


@contextmanager
def worker(*args, **kwargs):
    worker = Worker(*args, **kwargs)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
'''


def dramatiq_redis_tests() -> str:
    """The text of tests/test_redis.py in the installed dramatiq's sdist."""
    sdist = CACHE / f"dramatiq-{VERSION}.tar.gz"
    if not sdist.exists():
        try:
            # PyPI's simple index, as pip reads it; the link carries its sha256.
            with urllib.request.urlopen("https://pypi.org/simple/dramatiq/") as reply:
                index = reply.read().decode()
            (url,) = re.findall(rf'href="([^"]+/{sdist.name})#sha256=', index)
            CACHE.mkdir(parents=True, exist_ok=True)
            urllib.request.urlretrieve(url, sdist)
        except OSError as error:
            if os.environ.get("CI") == "true":
                raise
            pytest.skip(f"dramatiq's sdist could not be downloaded from PyPI: {error}")
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(f"dramatiq-{VERSION}/tests/test_redis.py")
        return member.read().decode()


@pytest.mark.e2e
def test_dramatiqs_redis_broker_tests_pass_against_our_broker(clean_redis, tmp_path):
    package = tmp_path / "dramatiq_tests"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "conftest.py").write_text(CONFTEST)
    (package / "common.py").write_text(COMMON)
    (package / "test_redis.py").write_text(dramatiq_redis_tests())

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            os.devnull,
            "--rootdir",
            str(tmp_path),
            "--timeout",
            "120",
            *(f"--deselect=dramatiq_tests/test_redis.py::{name}" for name in CANNOT_APPLY),
            "dramatiq_tests",
        ],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(PROJECT_DIR),
            "DRAMATIQ_SUITE_REDIS_URL": clean_redis,
        },
        capture_output=True,
        text=True,
        timeout=600,
    )

    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0, run.stdout[-5000:]
    assert summary.startswith("16 passed, 4 deselected"), summary
