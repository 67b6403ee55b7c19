"""What Traefik, configured as the stack is, sends again when an instance dies mid-request.

Its two API instances here are stand-ins that pass the health check and
then, given any other request, read it whole and close the connection
without a word, as an instance killed while working on it would. Traefik
answers 502 for each; how many times the instances were asked says which
requests it sent again. A request that submits a job (a POST, or GET
/template) must reach an instance once: sent again, the job would be made
twice.
"""

from __future__ import annotations

import socketserver
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from services.stack import plan
from services.stack.supervisor import Supervisor
from services.stack.traefik import htpasswd, write_config
from tests.support import free_ports, wait_for

from .conftest import stack_settings


class DyingInstance(socketserver.ThreadingTCPServer):
    """Answers ``GET /healthz``; reads any other request, counts it, and hangs up."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int):
        super().__init__(("127.0.0.1", port), _Handler)
        self.asked: Counter[str] = Counter()
        self.lock = threading.Lock()


class _Handler(socketserver.StreamRequestHandler):
    server: DyingInstance

    def handle(self) -> None:
        request_line = self.rfile.readline().decode().strip()
        length = 0
        while header := self.rfile.readline().decode().strip():
            name, _, value = header.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        self.rfile.read(length)
        method, path, _version = request_line.split(" ")
        if path == "/healthz":
            # One request a connection: a request that dies is never on a
            # reused one, which Go's HTTP client would try once more itself.
            self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
            return
        with self.server.lock:
            self.server.asked[f"{method} {path}"] += 1


@pytest.fixture(scope="module")
def started(tmp_path_factory) -> Iterator[tuple[str, list[DyingInstance]]]:
    tmp_path = tmp_path_factory.mktemp("balancer")
    settings = stack_settings()
    instances = [DyingInstance(port) for port in free_ports(2)]
    for instance in instances:
        threading.Thread(target=instance.serve_forever, daemon=True).start()
    (lb_port,) = free_ports(1)
    static = write_config(
        settings,
        tmp_path,
        lb_port=lb_port,
        instance_ports=tuple(instance.server_address[1] for instance in instances),
    )
    supervisor = Supervisor(cwd=tmp_path, log=(tmp_path / "traefik.log").open("a"), base_env={})
    supervisor.start(
        plan.traefik(settings, static, htpasswd(settings.admin_user, settings.admin_password))
    )
    url = f"http://127.0.0.1:{lb_port}"
    try:
        wait_for(
            lambda: requests.get(url + "/healthz", timeout=5).status_code == 200,
            timeout=30,
            what="Traefik to route to the instances",
        )
        yield url, instances
    finally:
        supervisor.stop()
        for instance in instances:
            instance.shutdown()
            instance.server_close()


@pytest.fixture
def balancer(started) -> tuple[str, list[DyingInstance]]:
    """Traefik in front of two dying instances, which have been asked nothing yet."""
    for instance in started[1]:
        instance.asked.clear()
    return started


def asked(instances: list[DyingInstance]) -> Counter[str]:
    return sum((instance.asked for instance in instances), Counter())


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/template?name=Ada"), ("POST", "/jobs"), ("POST", "/jobs/batch")],
)
def test_a_submission_caught_by_a_dying_instance_is_sent_once(balancer, method, path):
    url, instances = balancer
    response = requests.request(method, url + path, json={} if method == "POST" else None)

    assert response.status_code == 502
    assert asked(instances) == {f"{method} {path}": 1}


@pytest.mark.parametrize("path", ["/", "/jobs/some-id"])
def test_a_read_caught_by_a_dying_instance_is_sent_again(balancer, path):
    url, instances = balancer
    response = requests.get(url + path)

    assert response.status_code == 502
    # Every attempt the retry middleware makes (api-retry-idempotent's four).
    assert asked(instances) == {f"GET {path}": 4}
