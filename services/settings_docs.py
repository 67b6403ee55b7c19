"""``python -m services.settings_docs``: write ``.env.example`` and the README's settings table.

Both are generated from the declaration in :mod:`services.settings`, so that a
setting is described in one place; ``tests/unit/test_settings.py`` fails when
either file disagrees with it.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from pydantic_core import PydanticUndefined

from services.settings import FIELDS, SECTIONS, env_value

PROJECT_DIR = Path(__file__).resolve().parents[1]
ENV_EXAMPLE = PROJECT_DIR / ".env.example"
README = PROJECT_DIR / "README.md"
#: The README lines between which the table goes.
TABLE_START = "<!-- settings table: `make docs` writes it from services/settings.py -->"
TABLE_END = "<!-- end of settings table -->"

_ENV_EXAMPLE_HEADER = """\
# Copy to .env and change what you need: `make up` (both modes) and compose read it.
# Every variable is optional; the value shown is the default.
# Written by `make docs` from services/settings.py: change that, not this file.
"""


def default(name: str) -> str:
    """The default of setting ``name`` as its variable would say it; empty when computed."""
    value = FIELDS[name].default
    return "" if value is PydanticUndefined else env_value(value)


def description(name: str) -> str:
    """What setting ``name`` means: its docstring, on one line."""
    return " ".join(FIELDS[name].description.split())


def env_example() -> str:
    """``.env.example``: every variable with its description and default."""
    lines = [_ENV_EXAMPLE_HEADER.rstrip()]
    for name in FIELDS:
        if name in SECTIONS:
            lines.append(f"\n# --- {SECTIONS[name]} ".ljust(80, "-"))
        lines.extend(
            textwrap.wrap(description(name), 77, initial_indent="# ", subsequent_indent="# ")
        )
        lines.append(f"{name.upper()}={default(name)}")
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    """The README's table: variable, default, meaning."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name in FIELDS:
        shown = f"`{default(name)}`" if default(name) else "(empty)"
        meaning = description(name).replace("|", r"\|")
        rows.append(f"| `{name.upper()}` | {shown} | {meaning} |")
    return "\n".join(rows) + "\n"


def readme_with_table(readme: str) -> str:
    """``readme`` with the text between the table's markers replaced by :func:`markdown_table`."""
    before, start, rest = readme.partition(TABLE_START + "\n")
    _, end, after = rest.partition(TABLE_END)
    if not (start and end):
        raise SystemExit(f"README.md lacks the lines {TABLE_START!r} and {TABLE_END!r}")
    return before + start + markdown_table() + end + after


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.settings_docs", description=__doc__)
    parser.add_argument("--print", choices=["env-example", "markdown"], help="print instead")
    args = parser.parse_args()
    if args.print:
        sys.stdout.write(env_example() if args.print == "env-example" else markdown_table())
        return 0
    ENV_EXAMPLE.write_text(env_example())
    README.write_text(readme_with_table(README.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
