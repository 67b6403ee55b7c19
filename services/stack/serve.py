"""``python -m services.stack.serve api|worker|dashboard``: run one service in the foreground.

What each container of ``compose.yml`` runs (the image's entrypoint): the
command line the local stack uses for that service (:mod:`.plan`), built from
the settings in the container's environment, in place of this process so
that signals reach it directly.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from services.settings import Settings, SettingsError, load_settings

from . import plan

SERVICES = ("api", "worker", "dashboard")


def command(service: str, settings: Settings) -> list[str]:
    """The command line of one instance of ``service``."""
    if service == "api":
        if len(settings.api_ports) != 1:
            raise SettingsError("a container runs one API instance: API_PORTS must name one port")
        (instance,) = plan.api_instances(settings)
        return instance.argv
    if service == "worker":
        (worker,) = plan.workers(dataclasses.replace(settings, workers=1))
        return worker.argv
    if service == "dashboard":
        return plan.dashboard(settings).argv
    raise ValueError(f"unknown service {service!r}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.stack.serve", description=__doc__)
    parser.add_argument("service", choices=SERVICES)
    args = parser.parse_args()
    try:
        argv = command(args.service, load_settings())
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    os.execv(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main())
