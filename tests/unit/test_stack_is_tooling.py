"""The local-stack tooling stays out of the services that run in production."""

from __future__ import annotations

import subprocess
import sys

from tests.support import PROJECT_DIR

#: What the image runs: the API, the dashboard, the worker, and what they share.
RUNTIME_MODULES = ["services.api.asgi", "services.dashboard.wsgi", "services.worker", "actors"]


def test_no_runtime_module_imports_the_stack_tooling_or_its_dependencies():
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys\nfor name in {RUNTIME_MODULES!r}: __import__(name)\n"
            "print('\\n'.join(sorted(sys.modules)))",
        ],
        cwd=PROJECT_DIR,
        # The dashboard refuses to load without a password; nothing here connects anywhere.
        env={"ADMIN_PASSWORD": "not-used", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()

    assert set(RUNTIME_MODULES) <= set(imported)
    tooling = [name for name in imported if name.startswith("services.stack") or name == "bcrypt"]
    assert tooling == []
