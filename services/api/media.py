"""JSON as this API reads and writes it: Falcon's handler, stricter than Python's json.

Reading refuses what is not JSON though Python accepts it (``NaN``,
``Infinity``) and numbers too large for a float (they would become
infinities); a body nested too deeply is malformed, not a server error.
Writing escapes to ASCII: a string holding a lone surrogate (valid as a JSON
escape, not as UTF-8) must not turn a response into a 500.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import falcon


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


handler = falcon.media.JSONHandler(
    dumps=functools.partial(json.dumps, ensure_ascii=True), loads=loads
)
