"""Hello, liveness and readiness."""

from __future__ import annotations

import falcon
import redis

from actors.store import JobStore

from ..contract import Access, Operation, Response
from ..errors import FULL, FULL_RETRY_AFTER, unavailable
from ..models import Status


class Hello:
    operations = {
        "get": Operation(
            "Hello world",
            responses={
                200: Response("A greeting", media_type="text/plain", schema={"type": "string"})
            },
        )
    }

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello World!"


class Liveness:
    """The process answers: what the balancer's health check asks."""

    operations = {
        "get": Operation(
            "Liveness", responses={200: Response("The process answers", Status)}, access=Access.OPEN
        )
    }

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = Status(status="ok")


class Readiness:
    """The instance can do its work: Redis answers, and takes writes (it is not full)."""

    operations = {
        "get": Operation(
            "Readiness",
            responses={200: Response("Redis answers and takes writes", Status)},
            access=Access.OPEN,
        )
    }

    def __init__(self, store: JobStore):
        self.store = store

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            await self.store.ping()
            await self.store.writable()
        except redis.exceptions.OutOfMemoryError:
            raise unavailable(FULL, retry_after=FULL_RETRY_AFTER) from None
        except redis.RedisError as error:
            raise unavailable(f"Redis is unreachable: {error}") from None
        resp.media = Status(status="ready")
