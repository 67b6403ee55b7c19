"""Only the modules of a job's states, record and lifecycle, and the API's models, spell them.

Everything else says ``State.CANCELLED`` or ``record.state``: a new state, or
a renamed field, is then a change in one place, and a typo fails at import.
Python is read with ``ast`` (string constants, not comments or docstrings
that merely mention a word); the page's script is read for quoted names.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.record import JobRecord
from actors.states import State
from tests.support import PROJECT_DIR

#: The modules allowed to spell them.
OWNERS = {
    PROJECT_DIR / "actors" / "states.py",
    PROJECT_DIR / "actors" / "record.py",
    PROJECT_DIR / "actors" / "lifecycle.py",
    PROJECT_DIR / "services" / "api" / "models.py",
}
STATES = {state.value for state in State}
FIELDS = set(JobRecord.model_fields)
#: Words of dramatiq's, dramatiq-dashboard's and Prometheus' own vocabulary that happen to
#: be a state's or a field's name: a message's options, the dashboard's forms
#: and tabs. These modules handle messages, not job records.
DRAMATIQ_WORDS = {
    "actors/consumer.py": {"redis_message_id"},
    "actors/middleware/limits.py": {"redis_message_id"},
    "services/dashboard/dead_letters.py": {"eta", "redis_message_id"},
    "services/dashboard/guard.py": {"queue", "id"},
    "services/dashboard/pages.py": {"queue", "id", "failed"},
    # A Kubernetes container's fields.
    "services/stack/kubernetes.py": {"args"},
    # Prometheus labels.
    "actors/middleware/metrics.py": {"actor"},
    "services/metrics/queues.py": {"queue"},
}


def spelled(source: str) -> Iterator[tuple[int, str]]:
    """``(line, value)`` of each string constant in ``source`` that is a state or a field."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and node.value in STATES | FIELDS:
            yield node.lineno, node.value


def python_sources() -> list[Path]:
    paths = [*(PROJECT_DIR / "actors").rglob("*.py"), *(PROJECT_DIR / "services").rglob("*.py")]
    return sorted(path for path in paths if path not in OWNERS)


def test_the_check_finds_a_spelled_state_or_field_and_nothing_else():
    source = '''
"""A module about the queued state."""
import lifecycle
if record.state is lifecycle.State.CANCELLED:  # "running" in a comment is fine
    event = {"progress": 1, "status": "cancelled"}
'''
    assert sorted(spelled(source)) == [(5, "cancelled"), (5, "progress")]


@pytest.mark.parametrize(
    "path", python_sources(), ids=lambda path: str(path.relative_to(PROJECT_DIR))
)
def test_no_module_spells_a_state_or_a_record_field(path):
    name = str(path.relative_to(PROJECT_DIR))
    allowed = DRAMATIQ_WORDS.get(name, set())
    found = [(line, word) for line, word in spelled(path.read_text()) if word not in allowed]
    assert found == [], f"{name} spells {found}: ask actors.states or actors.record"


def test_the_page_script_spells_no_state():
    page = (PROJECT_DIR / "services" / "api" / "templates" / "template.html").read_text()
    quoted = re.findall(r"""["'](\w+)["']""", page)
    assert STATES.isdisjoint(quoted)
