"""A job's record as its Redis hash holds it, and back.

``state``, ``event_id`` and ``event`` are plain strings, and so is ``run``,
the attempt last started (the store's own: a start sent twice is refused by
it); every other field JSON; the id is the key's, not a field. A new field
of the record is a field of :class:`~actors.record.JobRecord`: nothing here
names one but those (:data:`STORE_FIELDS` aside).
"""

from __future__ import annotations

import json
from typing import Any

from ..lifecycle import now_ms
from ..record import STATE_FIELD, JobRecord

#: Fields the store keeps for itself, as plain text, that are not the record's:
#: its last event's id, what that event told, and the attempt last started.
STORE_FIELDS = ("event_id", "event", "run")

#: JSON's own C encoder, made once (None where Python has not got it), as
#: ``json.dumps(value, separators=(",", ":"))`` makes one anew for each call,
#: which costs more than encoding a record's small values. It does not look
#: for reference cycles: what it encodes came as JSON, or went through
#: ``record.jsonable``, which does.
_encoder = json.encoder.c_make_encoder and json.encoder.c_make_encoder(
    None,  # no reference cycle check
    json.JSONEncoder().default,  # what is not JSON: TypeError
    json.encoder.encode_basestring_ascii,
    None,  # no indent
    ":",  # between a key and its value
    ",",  # between items
    False,  # keys in their order
    False,  # a key that is not text: TypeError
    True,  # NaN and infinities as Python writes them
)
_python_encode = json.JSONEncoder(separators=(",", ":")).encode


def compact_json(value: Any) -> str:
    """``value`` as JSON without spaces, escaped to ASCII: ``json.dumps``'s text."""
    if _encoder is None:
        return _python_encode(value)
    return "".join(_encoder(value, 0))


_json_string = json.encoder.encode_basestring_ascii


def record_fields(record: JobRecord) -> dict[str, str]:
    """A new record's fields as its hash holds them.

    It holds its first event, which tells its state when it was last updated.
    """
    fields = encode_fields(record.compact())
    fields["event_id"] = f"{record.updated_at or record.enqueued_at or now_ms()}-0"
    return fields


def encode_record(record: JobRecord) -> str:
    """A new record as a JSON object of strings: its hash's fields (a workflow's steps)."""
    return compact_json(record_fields(record))


def encode_fields(fields: dict[str, Any]) -> dict[str, str]:
    """Each field's value as the hash holds it."""
    return {
        name: value if name == STATE_FIELD else _json_field(value) for name, value in fields.items()
    }


def _json_field(value: Any) -> str:
    # The common values first: json.dumps costs microseconds a call, and a
    # record has a score of fields, times a batch's hundreds of jobs.
    if value is None:
        return "null"
    if isinstance(value, str):
        return _json_string(value)
    if type(value) is int:  # not bool, whose JSON is not its str()
        return str(value)
    return compact_json(value)


def decode_record(job_id: str, raw: dict[bytes, bytes] | dict[str, str]) -> JobRecord | None:
    """The record of the hash ``raw`` (HGETALL's reply); None for an empty one (no such job)."""
    if not raw:
        return None
    fields: dict[str, Any] = {}
    for name, value in raw.items():
        name = text(name)
        if name in STORE_FIELDS:
            continue
        fields[name] = text(value) if name == STATE_FIELD else json.loads(value)
    return JobRecord(id=job_id, **fields)


def text(value: bytes | str | None) -> str | None:
    """A reply's bytes as text (None stays None)."""
    return value.decode() if isinstance(value, bytes) else value
