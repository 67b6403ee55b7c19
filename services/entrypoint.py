"""``python -m services.entrypoint api|worker|dashboard``: what a container runs.

The image's entrypoint. It runs the command line the local stack uses for
that service (:mod:`services.commands`), built from the settings in the
container's environment, in place of this process so that signals reach it
directly.
"""

from __future__ import annotations

import argparse
import os
import sys

from services import commands
from services.redis_policy import check_eviction
from services.settings import Settings, SettingsError, load_settings

SERVICES = ("api", "worker", "dashboard")


def command(service: str, settings: Settings) -> list[str]:
    """The command line of one instance of ``service``."""
    if service == "api":
        if len(settings.api_ports) != 1:
            raise SettingsError("a container runs one API instance: API_PORTS must name one port")
        return commands.api(settings, settings.api_ports[0])
    if service == "worker":
        return commands.worker(settings)
    if service == "dashboard":
        return commands.dashboard(settings)
    raise ValueError(f"unknown service {service!r}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.entrypoint", description=__doc__)
    parser.add_argument("service", choices=SERVICES)
    args = parser.parse_args()
    try:
        settings = load_settings()
        check_eviction(settings)
        argv = command(args.service, settings)
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    os.execv(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main())
