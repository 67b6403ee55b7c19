"""A public job whose parameters take values of any size is warned about when it is declared."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from actors.bounds import unbounded
from tests.support import PROJECT_DIR


def declare(source: str) -> subprocess.CompletedProcess:
    """Import a module of jobs in a fresh interpreter, as a worker or the API does."""
    module = "from typing import Annotated, Any\nfrom pydantic import Field\n"
    module += "from actors import job\n"
    return subprocess.run(
        [sys.executable, "-c", module + textwrap.dedent(source)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_public_job_taking_text_of_any_length_is_warned_about_at_import():
    declared = declare(
        """
        @job(public=True)
        def shout(text: str, times: int = 1): ...
        """
    )

    assert declared.returncode == 0
    assert "UnboundedParameter: public job 'shout' takes strings of any length as 'text'" in (
        declared.stderr
    )
    assert "times" not in declared.stderr


def test_bounded_and_private_jobs_are_declared_quietly():
    declared = declare(
        """
        import warnings
        warnings.simplefilter("error")

        @job(public=True)
        def shout(text: Annotated[str, Field(max_length=100)], loud: bool = False): ...

        @job()
        def housekeeping(anything: Any, text: str): ...
        """
    )

    assert declared.returncode == 0, declared.stderr
    assert declared.stderr == ""


@pytest.mark.parametrize(
    ("schema", "what"),
    [
        ({}, "any JSON value"),
        ({"type": "array", "maxItems": 5, "items": {"type": "string"}}, "strings of any length"),
        ({"anyOf": [{"type": "integer"}, {"type": "object"}]}, "objects of any length"),
        ({"type": "object", "maxProperties": 3, "additionalProperties": {}}, "any JSON value"),
        ({"type": "array", "maxItems": 2, "prefixItems": [{"type": "number"}]}, None),
        ({"type": "string", "maxLength": 10}, None),
        ({"enum": ["a", "b"]}, None),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, None),
    ],
)
def test_what_counts_as_unbounded(schema, what):
    assert unbounded(schema) == what
