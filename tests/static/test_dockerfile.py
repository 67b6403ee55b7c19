"""The Dockerfile's essentials: non-root, dependencies from the lock without dev
or local-only ones, no secrets, a layer order that keeps rebuilds fast.

The checks are a function run on the real Dockerfile and on broken variants of
it, which must each fail: a check that cannot fail proves nothing.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib

import pytest

from tests.support import PROJECT_DIR

DOCKERFILE = PROJECT_DIR / "Dockerfile"
DOCKERIGNORE = PROJECT_DIR / ".dockerignore"
SECRET_WORDS = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE|HTPASSWD", re.I)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        result.append((keyword.upper(), arguments.strip()))
        pending = ""
    return result


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(steps) if keyword == "FROM"]
    return steps[starts[-1] :]


def uv_sync(steps: list[tuple[str, str]]) -> list[str]:
    """The arguments of the ``uv sync`` that installs the dependencies."""
    runs = [args for keyword, args in steps if keyword == "RUN" and "uv sync" in args]
    assert len(runs) == 1, "the dependencies must be installed by exactly one `uv sync`"
    words = shlex.split(runs[0])
    return words[words.index("sync") + 1 :]


def problems(text: str) -> list[str]:
    steps = instructions(text)
    found = []
    final = final_stage(steps)
    base = final[0][1].split()[0]
    if not re.fullmatch(r"python:3\.(1[1-9])-slim(-\w+)?", base):
        found.append(f"the image is not based on a slim Python 3.11+: {base}")
    users = [args for keyword, args in final if keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        found.append("the image runs as root: no USER, or USER root")
    sync = uv_sync(steps)
    for flag in ("--frozen", "--no-dev"):
        if flag not in sync:
            found.append(f"uv sync without {flag}")
    if "--no-default-groups" not in sync and "local" not in [
        sync[i + 1] for i, word in enumerate(sync[:-1]) if word == "--no-group"
    ]:
        found.append("uv sync installs the local group (Traefik and Valkey binaries)")
    copies = [(i, args) for i, (keyword, args) in enumerate(steps) if keyword == "COPY"]
    lock_copy = next((i for i, args in copies if "uv.lock" in args.split()), None)
    sync_step = next(i for i, (kw, args) in enumerate(steps) if kw == "RUN" and "uv sync" in args)
    if lock_copy is None or lock_copy > sync_step:
        found.append("uv.lock is not copied before the dependencies are installed")
    for i, args in copies:
        sources = [word for word in args.split()[:-1] if not word.startswith("--")]
        if i < sync_step and set(sources) - {"pyproject.toml", "uv.lock", "/uv"}:
            found.append(f"COPY {args} before uv sync: every code change reinstalls everything")
        if any(s in (".", "./") or ".env" in s or ".run" in s for s in sources):
            found.append(f"COPY {args} copies the whole context or secrets")
    for keyword, args in steps:
        if keyword in ("ENV", "ARG") and SECRET_WORDS.search(args):
            found.append(f"{keyword} {args}: a secret baked into the image")
    if re.match(r"#\s*syntax\s*=", text, re.I):
        # Builds where no registry answers (make images-offline) would fail.
        found.append("a `# syntax=` directive: BuildKit pulls that frontend from a registry")
    return found


def test_dockerfile_has_its_essentials():
    assert problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("USER app\n", "", "runs as root"),
        ("USER app\n", "USER root\n", "runs as root"),
        ("uv sync --frozen", "uv sync", "without --frozen"),
        (" --no-dev", "", "without --no-dev"),
        (" --no-group local", "", "local group"),
        ("COPY pyproject.toml uv.lock ./", "COPY . ./", "before uv sync"),
        ("FROM python:3.11-slim-bookworm\n", "FROM python:3.10\n", "slim Python"),
        ("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=1 ADMIN_PASSWORD=hunter2", "secret"),
        ("# One image", "# syntax=docker/dockerfile:1\n# One image", "syntax"),
    ],
)
def test_dockerfile_check_catches(old, new, complaint):
    text = DOCKERFILE.read_text()
    assert old in text
    found = problems(
        text.replace(old, new, 1) if old.startswith("FROM") else text.replace(old, new)
    )
    assert any(complaint in problem for problem in found), found


def test_dockerignore_keeps_secrets_and_local_state_out():
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # An allowlist: everything is ignored but what the image is built from.
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "services", "actors"}
    # The local-stack tooling is not for containers (tests/e2e/test_compose.py
    # checks the built image).
    assert "services/stack/" in lines[lines.index("!services/") :]


def _uv() -> str | None:
    # `uv run` (how make runs the tests) names itself in $UV.
    for candidate in (os.environ.get("UV"), shutil.which("uv"), PROJECT_DIR / ".tools/bin/uv"):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0].lower() for req in requirements}


def test_image_dependencies_are_the_locked_runtime_ones(tmp_path):
    """Run the Dockerfile's own `uv sync` as a dry run: what it would install."""
    uv = _uv()
    if uv is None:
        pytest.skip("no uv here (make test provides it)")
    arguments = uv_sync(instructions(DOCKERFILE.read_text()))
    result = subprocess.run(
        [uv, "sync", *arguments, "--dry-run", "--offline", "--no-config"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv")},
    )
    assert result.returncode == 0, result.stderr
    installed = {
        line.split()[1].split("==")[0].lower()
        for line in result.stderr.splitlines()
        if line.startswith(" + ")
    }
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    runtime = _names(project["project"]["dependencies"])
    assert runtime <= installed
    for group, requirements in project["dependency-groups"].items():
        leaked = _names(requirements) & installed - runtime
        assert not leaked, f"the image would install {group} dependencies: {leaked}"


def test_image_uses_the_uv_version_of_the_makefile():
    (pinned,) = re.findall(r"^UV_VERSION := (\S+)$", (PROJECT_DIR / "Makefile").read_text(), re.M)
    copies = [args for keyword, args in instructions(DOCKERFILE.read_text()) if keyword == "COPY"]
    assert any(f"--from=ghcr.io/astral-sh/uv:{pinned} " in args for args in copies)
