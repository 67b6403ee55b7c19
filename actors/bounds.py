"""Which parameters of a public job take values of any size: warned about when the job is declared.

Any client may submit a public job; an argument without a bound (a string
without ``max_length``, a list without ``max_length``, a value of any type)
lets one request fill a worker's memory and the job store. The check reads
the JSON Schema that submissions are validated with, so what it calls
bounded is what the API enforces.
"""

from __future__ import annotations

from typing import Any


class UnboundedParameter(UserWarning):
    """A public job takes an argument whose size nothing limits."""


#: JSON Schema's size bound for each type that has a size.
_SIZE_BOUNDS = {"string": "maxLength", "array": "maxItems", "object": "maxProperties"}


def unbounded(schema: dict[str, Any]) -> str | None:
    """What ``schema`` accepts without a bound on its size ("strings", "arrays", ...), or None."""
    if "const" in schema or "enum" in schema or "$ref" in schema:
        return None
    branches = [branch for key in ("anyOf", "oneOf") for branch in schema.get(key, [])]
    if branches:
        return next(filter(None, map(unbounded, branches)), None)
    kinds = schema.get("type")
    if kinds is None:
        return "any JSON value"
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        bound = _SIZE_BOUNDS.get(kind)
        if bound and bound not in schema:
            return f"{kind}s of any length"
    inner = [schema.get("items"), schema.get("additionalProperties")]
    inner += [*schema.get("prefixItems", []), *schema.get("properties", {}).values()]
    return next(filter(None, (unbounded(part) for part in inner if isinstance(part, dict))), None)


def warnings_for(name: str, parameters: dict[str, dict[str, Any]]) -> list[str]:
    """A sentence for each of job ``name``'s ``parameters`` (JSON Schemas) without a bound."""
    found = []
    for parameter, schema in parameters.items():
        what = unbounded(schema)
        if what:
            found.append(
                f"public job {name!r} takes {what} as {parameter!r}: bound it "
                "(Annotated[str, Field(max_length=...)]), since any client may send it"
            )
    return found
