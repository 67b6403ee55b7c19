"""JSON as this API reads and writes it: Falcon's handler, stricter than Python's json.

Reading refuses what is not JSON though Python accepts it (``NaN``,
``Infinity``) and numbers too large for a float (they would become
infinities); a body nested too deeply is malformed, not a server error.
Writing escapes to ASCII: a string holding a lone surrogate (valid as a JSON
escape, not as UTF-8) must not turn a response into a 500. A pydantic model
given as ``resp.media`` is written by pydantic's own serializer, in Rust,
without first becoming a dict for Python's json.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import falcon
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON value")


def _finite(text: str) -> float:
    """A JSON number as a float; one too large for a float would come back as Infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        raise ValueError("the body is nested too deeply") from None


_dumps = functools.partial(json.dumps, ensure_ascii=True)


def dumps(media: Any) -> str:
    """``media`` as JSON, escaped to ASCII; a pydantic model by its own serializer."""
    if isinstance(media, BaseModel):
        try:
            return media.model_dump_json(ensure_ascii=True)
        except PydanticSerializationError:
            # A lone surrogate, which pydantic will not write even escaped.
            media = media.model_dump(mode="json")
    return _dumps(media)


handler = falcon.media.JSONHandler(dumps=dumps, loads=loads)
