"""Hello, liveness and readiness."""

from __future__ import annotations

import falcon
import redis

from actors.store import JobStore

from .. import schemas
from ..openapi import json_response


class Hello:
    openapi = {
        "get": {
            "summary": "Hello world",
            "responses": {
                "200": {
                    "description": "A greeting",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello World!"


class Liveness:
    """The process answers: what the balancer's health check asks."""

    openapi = {
        "get": {
            "summary": "Liveness",
            "responses": {"200": json_response("The process answers", schemas.STATUS)},
        }
    }

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class Readiness:
    """The instance can do its work: Redis answers."""

    openapi = {
        "get": {
            "summary": "Readiness",
            "responses": {"200": json_response("Redis answers", schemas.STATUS)},
        }
    }

    def __init__(self, store: JobStore):
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.store.ping()
        except redis.RedisError as error:
            raise falcon.HTTPServiceUnavailable(
                description=f"Redis is unreachable: {error}", retry_after=5
            ) from None
        resp.media = {"status": "ready"}
