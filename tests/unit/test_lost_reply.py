"""A submission whose reply Redis sent but the API never read: made again, it is the same one job.

The API's client makes a call again on a new connection when its connection
fails (see ``actors.connection``). When it failed after Redis ran the call,
the submission's script runs twice, with the same job id, fixed before the
first call: the second run finds the job's record and writes nothing, and the
client is answered as the first run would have answered it: 202, its job
accepted now, not 200, which says an earlier request made the job.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import dramatiq
import falcon.testing
import pytest
import redis

import actors
from services.api.app import create_app
from tests.support import settings_for


class ReplyLosingProxy:
    """A TCP proxy to Redis that drops the first connection whose script call got an answer.

    It relays the call to Redis, reads Redis's reply, and closes both ends
    instead of passing the reply on: the reply is lost after the write.
    """

    def __init__(self, redis_url: str):
        target = redis.connection.parse_url(redis_url)
        self.target = (target["host"], target["port"])
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.lost = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.target)
                scripted = threading.Event()  # a script was called on this connection
                for source, sink, calls in ((client, server, True), (server, client, False)):
                    threading.Thread(
                        target=self._relay, args=(source, sink, calls, scripted), daemon=True
                    ).start()

    def _relay(self, source, sink, calls: bool, scripted: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if calls and b"EVALSHA" in data:
                    scripted.set()
                if not calls and scripted.is_set() and not self.lost and data.startswith(b"*"):
                    self.lost += 1
                    break
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy(clean_redis) -> Iterator[ReplyLosingProxy]:
    proxy = ReplyLosingProxy(clean_redis)
    yield proxy
    proxy.close()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/jobs", {"actor": "add", "args": [1, 2]}),
        (
            "/jobs/batch",
            {"jobs": [{"actor": "add", "args": [1, 2]}, {"actor": "add", "args": [3, 4]}]},
        ),
    ],
)
@pytest.mark.parametrize("key", [None, "order-42"])
def test_a_submission_whose_reply_was_lost_is_made_once_and_accepted(
    clean_redis, proxy, path, body, key
):
    settings = settings_for(proxy.url)
    client = falcon.testing.TestClient(
        create_app(settings, actors.connect(settings.queue_config()))
    )
    headers = {"Idempotency-Key": key} if key else {}

    submitted = client.simulate_post(path, json=body, headers=headers)

    assert proxy.lost == 1  # the script ran, and its reply never reached the API
    # Answered as the first run would have been: accepted now, with the job as it was made.
    assert submitted.status_code == 202, submitted.text
    jobs = submitted.json["jobs"] if path == "/jobs/batch" else [submitted.json]
    if path == "/jobs":
        assert submitted.headers["Location"] == f"/jobs/{submitted.json['id']}"
    assert jobs == [client.simulate_get(f"/jobs/{job['id']}").json for job in jobs]
    # The jobs the API answers with are the only ones made, each with one message.
    r = redis.Redis.from_url(clean_redis)
    messages = r.hvals("dramatiq:default.msgs")
    assert len(messages) == len(jobs) and r.llen("dramatiq:default") == len(jobs)
    assert {job["id"] for job in jobs} == {
        dramatiq.Message.decode(message).message_id for message in messages
    }
    # Sent again with its key, it is the same jobs, made by an earlier request.
    if key:
        again = client.simulate_post(path, json=body, headers=headers)
        assert again.status_code == 200, again.text
        assert (again.json["jobs"] if path == "/jobs/batch" else [again.json]) == jobs
