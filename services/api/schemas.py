"""JSON Schemas of what the API takes and returns.

The same objects validate requests and make up ``/openapi.json``, so the
published contract and the checks the API makes cannot drift apart.
"""

from __future__ import annotations

from actors.lanes import DEFAULT_PRIORITY, PRIORITIES
from actors.registry import specs
from actors.store import STATES

#: A Redis stream id: what event ids, Last-Event-ID and list cursors are.
STREAM_ID = "^[0-9]+-[0-9]+$"

#: Longest delay dramatiq's Redis broker accepts: 7 days, in seconds.
MAX_DELAY_SECONDS = 7 * 24 * 3600

JOB_OPTIONS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "delay": {
            "type": "number",
            "minimum": 0,
            "maximum": MAX_DELAY_SECONDS,
            "description": "Seconds to wait before the job may start.",
        },
        "max_retries": {
            "type": "integer",
            "minimum": 0,
            "maximum": 100,
            "description": "How many times a failing job is retried before it is dead.",
        },
        "time_limit": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 86400,
            "description": "Seconds one attempt may run before it is interrupted.",
        },
        "priority": {
            "type": "string",
            "enum": list(PRIORITIES),
            "default": DEFAULT_PRIORITY,
            "description": (
                "The lane the job waits in. Each lane is a queue of its own: a high job "
                "never waits behind a backlog of normal ones, and a worker with a free "
                "thread takes high before normal before low."
            ),
        },
    },
}

JOB_SUBMISSION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["actor"],
    "properties": {
        "actor": {
            "type": "string",
            "enum": sorted(name for name, spec in specs().items() if spec.public),
            "description": "A public job; its arguments must fit its signature.",
        },
        "args": {"type": "array", "maxItems": 100},
        "kwargs": {"type": "object", "maxProperties": 100},
        "options": JOB_OPTIONS,
    },
}

BATCH_SUBMISSION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["jobs"],
    "properties": {
        "jobs": {"type": "array", "minItems": 1, "maxItems": 500, "items": JOB_SUBMISSION},
    },
}

_TIME = {"type": ["string", "null"], "format": "date-time"}

JOB = {
    "type": "object",
    "required": ["id", "actor", "state", "args", "kwargs", "attempts", "links"],
    "properties": {
        "id": {"type": "string"},
        "actor": {"type": "string"},
        "queue": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": list(STATES)},
        "args": {"type": "array"},
        "kwargs": {"type": "object"},
        "options": {"type": ["object", "null"]},
        "attempts": {"type": "integer", "minimum": 0},
        "enqueued_at": _TIME,
        "eta": _TIME,
        "started_at": _TIME,
        "finished_at": _TIME,
        "updated_at": _TIME,
        "progress": {
            "type": ["object", "null"],
            "properties": {
                "value": {"type": "number", "minimum": 0, "maximum": 1},
                "message": {"type": "string"},
            },
        },
        "result": {},
        "error": {
            "type": ["object", "null"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
        "links": {
            "type": "object",
            "properties": {"self": {"type": "string"}, "events": {"type": "string"}},
        },
    },
}

#: One change in a job's life: what an event of ``/jobs/{id}/events`` carries.
#: Times here are milliseconds since the epoch, as the store keeps them.
JOB_EVENT = {
    "type": "object",
    "required": ["state", "at"],
    "properties": {
        "state": {"type": "string", "enum": list(STATES)},
        "at": {"type": "integer"},
        "progress": JOB["properties"]["progress"],
        "error": JOB["properties"]["error"],
        "result": {},
    },
}

#: One Server-Sent Event, described the way OpenAPI 3.2's ``itemSchema``
#: describes an event stream: schemathesis checks each event against it.
JOB_SSE_EVENT = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": STREAM_ID},
        "event": {"type": "string", "enum": ["state", "progress"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": JOB_EVENT,
        },
    },
}

JOB_LIST = {
    "type": "object",
    "required": ["jobs", "next_cursor"],
    "properties": {
        "jobs": {"type": "array", "items": JOB},
        "next_cursor": {"type": ["string", "null"]},
    },
}

BATCH_RESULT = {
    "type": "object",
    "required": ["jobs"],
    "properties": {"jobs": {"type": "array", "items": JOB}},
}

ACTOR_LIST = {
    "type": "object",
    "required": ["actors"],
    "properties": {
        "actors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "description", "queue", "priorities", "parameters"],
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "queue": {"type": "string"},
                    "priorities": {"type": "array", "items": {"type": "string"}},
                    "parameters": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "type", "required", "default"],
                            "properties": {
                                "name": {"type": "string"},
                                "type": {"type": ["string", "null"]},
                                "required": {"type": "boolean"},
                                "default": {},
                            },
                        },
                    },
                    "max_retries": {"type": ["integer", "null"]},
                    "time_limit": {"type": ["number", "null"]},
                },
            },
        }
    },
}

PROBLEM = {
    "type": "object",
    "required": ["title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}

STATUS = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}},
}
