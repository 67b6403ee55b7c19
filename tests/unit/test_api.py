"""Every endpoint of the seed, and its errors, through falcon.testing against a real Redis."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import socket
import threading
from collections.abc import Iterator

import falcon.testing
import pytest
import redis

from services.api.app import create_app
from services.api.models import MAX_BATCH_JOBS
from services.settings import Settings
from tests.support import assert_problem


@pytest.fixture
def down_client(unreachable_settings) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(unreachable_settings))


def job_keys(redis_url: str) -> list[bytes]:
    return redis.Redis.from_url(redis_url).keys("jobqueue:job:*")


def queued_messages(redis_url: str) -> int:
    return redis.Redis.from_url(redis_url).hlen("dramatiq:default.msgs")


# Hello, liveness, readiness ------------------------------------------------


def test_hello_names_the_instance_that_served_it(settings, queue):
    named = dataclasses.replace(settings, instance_name="api.42")
    client = falcon.testing.TestClient(create_app(named, queue))

    result = client.simulate_get("/")

    assert result.status_code == 200
    assert result.text == "Hello World!"
    assert result.headers["X-Served-By"] == "api.42"


def test_errors_name_the_instance_too(client, settings):
    result = client.simulate_get("/no-such-page")

    assert result.headers["X-Served-By"] == settings.instance_name


def test_healthz_answers(client):
    result = client.simulate_get("/healthz")

    assert result.status_code == 200
    assert result.json == {"status": "ok"}


def test_healthz_answers_even_when_redis_is_unreachable(down_client):
    # The balancer's health check asks whether the process answers; a Redis
    # outage must not take every instance out of the balancer.
    assert down_client.simulate_get("/healthz").status_code == 200


def test_readyz_is_ready_when_redis_answers(client):
    result = client.simulate_get("/readyz")

    assert result.status_code == 200
    assert result.json == {"status": "ready"}


def test_readyz_is_503_when_redis_is_unreachable(down_client):
    result = down_client.simulate_get("/readyz")

    body = assert_problem(result, 503)
    assert "Redis" in body["detail"]
    assert result.headers["Retry-After"].isdigit()


# /template ---------------------------------------------------------------


def page_job_id(html: str) -> str:
    found = re.search(r'<code id="job-id">([^<]+)</code>', html)
    assert found, "the page shows no job id"
    return found.group(1)


def test_template_enqueues_a_job_and_shows_its_id(client, settings):
    result = client.simulate_get("/template", params={"name": "Ada", "title": "Invoice"})

    assert result.status_code == 202
    assert result.headers["content-type"].startswith("text/html")
    job_id = page_job_id(result.text)
    assert result.headers["Location"] == f"/jobs/{job_id}"
    assert 'data-state="queued"' in result.text
    assert "Ada" in result.text

    # The job is recorded where every instance can read it, and on the queue.
    record = client.simulate_get(f"/jobs/{job_id}").json
    assert record["id"] == job_id
    assert record["actor"] == "render_document"
    assert record["state"] == "queued"
    assert record["kwargs"] == {"name": "Ada", "title": "Invoice"}
    assert queued_messages(settings.redis_url) == 1


def test_each_template_request_is_a_job_of_its_own(client):
    first = page_job_id(client.simulate_get("/template").text)
    second = page_job_id(client.simulate_get("/template").text)

    assert first != second


def test_template_escapes_what_the_user_typed(client):
    result = client.simulate_get(
        "/template", params={"name": "<script>alert(1)</script>", "title": '"><img src=x>'}
    )

    assert result.status_code == 202
    assert "<script>alert(1)</script>" not in result.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in result.text
    assert "<img src=x>" not in result.text


def test_template_accepts_a_field_at_the_limit(client):
    result = client.simulate_get("/template", params={"message": "x" * 500})

    assert result.status_code == 202


def test_template_refuses_an_over_long_field_and_enqueues_nothing(client, settings):
    result = client.simulate_get("/template", params={"name": "x" * 501})

    body = assert_problem(result, 400)
    assert "name" in body["detail"]
    assert job_keys(settings.redis_url) == []
    assert queued_messages(settings.redis_url) == 0


def test_template_is_503_with_retry_after_when_redis_is_unreachable(down_client):
    result = down_client.simulate_get("/template", params={"name": "Ada"})

    body = assert_problem(result, 503)
    assert "try again" in body["detail"]
    assert result.headers["Retry-After"].isdigit()


def test_a_batch_is_503_with_retry_after_when_redis_is_unreachable(down_client):
    # Its answer is made while its script call is under way: the failed call is the answer.
    jobs = [{"actor": "add", "args": [n, 1]} for n in range(MAX_BATCH_JOBS)]
    result = down_client.simulate_post("/jobs/batch", json={"jobs": jobs})

    body = assert_problem(result, 503)
    assert "try again" in body["detail"]
    assert result.headers["Retry-After"].isdigit()


class CuttingProxy:
    """A TCP relay to a real Redis that drops any connection sending ``marker``.

    Lets a test make Redis vanish between two commands of one request: here,
    after the job's record is written and before its message is enqueued.
    """

    def __init__(self, upstream_port: int, marker: bytes):
        self.upstream_port = upstream_port
        self.marker = marker
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, inspect: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if inspect and self.marker in chunk:
                    self.cuts += 1
                    break
                target.sendall(chunk)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closing = True
        self.listener.close()


@pytest.fixture
def cut_before_enqueue(settings) -> Iterator[tuple[CuttingProxy, Settings]]:
    """Settings of an API whose Redis connection breaks whenever a message is enqueued."""
    upstream_port = int(settings.redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = CuttingProxy(upstream_port, marker=b"dramatiq")
    proxied = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{proxy.port}/0")
    try:
        yield proxy, proxied
    finally:
        proxy.close()


def test_template_leaves_no_half_written_job_when_redis_goes_mid_request(
    settings, cut_before_enqueue
):
    proxy, proxied = cut_before_enqueue
    client = falcon.testing.TestClient(create_app(proxied))

    result = client.simulate_get("/template", params={"name": "Ada"})

    assert proxy.cuts >= 1, "the enqueue never reached the proxy"
    assert_problem(result, 503)
    assert result.headers["Retry-After"].isdigit()
    # The record written before the enqueue failed is gone again: no job
    # shows as queued forever with no message behind it.
    assert job_keys(settings.redis_url) == []
    assert queued_messages(settings.redis_url) == 0
    direct = falcon.testing.TestClient(create_app(settings))
    assert direct.simulate_get("/jobs").json["jobs"] == []


# Every other error -------------------------------------------------------


def test_an_unknown_route_is_a_json_404(client):
    assert_problem(client.simulate_get("/no/such/route"), 404)


def test_an_unknown_job_is_a_json_404(client):
    assert_problem(client.simulate_get("/jobs/no-such-job"), 404)


def test_a_request_body_over_the_limit_is_413(settings, queue):
    small = dataclasses.replace(settings, max_request_bytes=1024)
    client = falcon.testing.TestClient(create_app(small, queue))

    result = client.simulate_post(
        "/jobs",
        json={"actor": "render_document", "kwargs": {"message": "x" * 2000}},
    )

    body = assert_problem(result, 413)
    assert "1024" in body["detail"]
    assert job_keys(settings.redis_url) == []


def test_a_request_body_under_the_limit_is_accepted(settings, queue):
    small = dataclasses.replace(settings, max_request_bytes=1024)
    client = falcon.testing.TestClient(create_app(small, queue))

    result = client.simulate_post("/jobs", json={"actor": "render_document"})

    assert result.status_code == 202
