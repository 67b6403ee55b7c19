"""``python -m services.stack compose-up``: the stack on Docker, from ``compose.yml``.

Compose reads ``.env`` itself. What it cannot make are the admin's
credentials: a password when ADMIN_PASSWORD is unset (printed, as the local
stack does; there is no default one) and the ``user:hash`` line that Traefik's
basic auth wants. They go to files under ``.run/compose/``, readable by this
user only, that ``compose.yml`` gives to the dashboard and to Traefik alone,
so that later ``docker compose`` commands (``--scale``, ``logs``, ``down``)
find them too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from services.settings import Settings, SettingsError, load_settings

from .running import already_running
from .stack import PROJECT_DIR, lb_url, welcome, with_admin_password, write_private
from .traefik import htpasswd, traefik_env

#: Where compose.yml's env_file entries point.
ENV_DIR = PROJECT_DIR / ".run" / "compose"
#: The sentinels of compose.yml's ha profile, as the services reach them.
COMPOSE_SENTINELS = "sentinel-1:26379,sentinel-2:26379,sentinel-3:26379"


def env_files(settings: Settings) -> dict[str, dict[str, str]]:
    """What each file under ``ENV_DIR`` holds: file name to variables."""
    return {
        "dashboard.env": {
            "ADMIN_USER": settings.admin_user,
            "ADMIN_PASSWORD": settings.admin_password,
        },
        "traefik.env": {
            "ADMIN_HTPASSWD": htpasswd(settings.admin_user, settings.admin_password),
            **traefik_env(settings),
        },
    }


def write_env_files(settings: Settings, env_dir: Path) -> None:
    env_dir.mkdir(parents=True, exist_ok=True)
    env_dir.chmod(0o700)
    for name, variables in env_files(settings).items():
        # Single quotes: compose takes the value literally ($ in bcrypt hashes).
        for variable, value in variables.items():
            if "'" in value or "\n" in value:
                raise SettingsError(f"{variable} must not contain a single quote or a line break")
        text = "".join(f"{variable}='{value}'\n" for variable, value in variables.items())
        write_private(env_dir / name, text)


def up(run_dir: Path) -> int:
    try:
        settings = with_admin_password(load_settings(), run_dir)
        write_env_files(settings, ENV_DIR)
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    docker = shutil.which("docker")
    if docker is None:
        print("docker is not installed; `make up MODE=local` runs the stack without it")
        return 1
    url = lb_url(settings.lb_host, settings.lb_port)
    running = already_running(run_dir, PROJECT_DIR, url)
    if running:
        print(running, file=sys.stderr)
        return 1
    print("\n".join(welcome(url, settings)), flush=True)
    argv = [docker, "compose", *ha_profile(settings), "up", "--build"]
    argv += ["--scale", f"worker={settings.workers}"]
    os.chdir(PROJECT_DIR)
    os.execv(docker, argv)


def ha_profile(settings: Settings) -> list[str]:
    """With REDIS_REPLICAS, the ``ha`` profile (a replica and three sentinels), whose
    sentinels the services are then told of."""
    if not settings.redis_replicas or settings.redis_url or settings.redis_sentinels:
        return []
    os.environ["REDIS_SENTINELS"] = COMPOSE_SENTINELS
    return ["--profile", "ha"]


def down() -> None:
    """Stop compose's containers, letting running jobs finish; the data volume stays."""
    subprocess.run(["docker", "compose", "down"], cwd=PROJECT_DIR, check=False)
