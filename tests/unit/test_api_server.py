"""The API's gunicorn worker: a response goes to its socket in one write, whole and in order."""

from __future__ import annotations

import asyncio
import socket
import subprocess

from services import commands
from services.api.server import GatheredWrites
from services.stack.supervisor import wait_until
from tests.support import free_ports


class Socket:
    """What a transport was asked to write, each write as one system call would send it."""

    def __init__(self):
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.sent.append(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str):
        return f"{name} of the socket"


def test_the_writes_of_one_turn_of_the_loop_are_one_write_later_ones_their_own():
    sent = Socket()

    async def respond():
        transport = GatheredWrites(sent)
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        transport.write(b"hello")
        nothing_yet = list(sent.sent)
        await asyncio.sleep(0)
        transport.write(b"event: 1\n\n")
        await asyncio.sleep(0)
        transport.write(b"event: 2\n\n")
        transport.close()
        return nothing_yet, transport.get_extra_info("peername")

    nothing_yet, peer = asyncio.run(respond())

    assert nothing_yet == []
    assert sent.sent == [
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
        b"event: 1\n\n",
        b"event: 2\n\n",  # written before the socket closed
    ]
    assert sent.closed
    assert peer == "peername of the socket"


def test_gunicorn_runs_the_worker_and_answers_requests_on_a_kept_connection():
    (port,) = free_ports(1)
    server = subprocess.Popen(
        commands.gunicorn("tests.bench.hello_asgi:app", host="127.0.0.1", port=port, processes=1),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _connects(port), timeout=30, what="gunicorn to listen")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            answers = []
            for _ in range(3):
                client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                answers.append(_response(client))
        assert all(answer.startswith(b"HTTP/1.1 200 OK\r\n") for answer in answers), answers
        assert len({answer.split(b"\r\n\r\n", 1)[1] for answer in answers}) == 1
        # Dated, as HTTP/1.1 asks of a server with a clock; naming no server software.
        head = answers[0].split(b"\r\n\r\n", 1)[0].lower()
        assert b"\r\ndate: " in head
        assert b"\r\nserver: " not in head
    finally:
        server.terminate()
        server.wait(timeout=30)


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _response(client: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        received += client.recv(65536)
    head, body = received.split(b"\r\n\r\n", 1)
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    length = int(headers[b"content-length"])
    while len(body) < length:
        body += client.recv(65536)
    return received[: len(head) + 4] + body
