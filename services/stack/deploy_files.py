"""``make deploy-files``: write the deployment files from :mod:`.topology`.

``compose.yml`` (one Docker engine), ``deploy/swarm/stack.yml`` (a Docker
Swarm), ``deploy/kubernetes/`` (a kustomize base and overlays) and the
Prometheus configurations of the first two are written from the topology and
the default settings; ``tests/static/test_deploy_files.py`` fails when a file
in the repository differs from what this writes, as the settings docs' test
does for ``make docs``.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import yaml

from services.settings import Settings

from . import compose_file, kubernetes, swarm_file, topology

PROJECT_DIR = Path(__file__).resolve().parents[2]


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order given, text of several lines as a literal block."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Items of a list indented under their key, as people write them.
        return super().increase_indent(flow, False)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(value: object, indent: int = 0) -> str:
    text = yaml.dump(value, Dumper=_Dumper, sort_keys=False, width=100, default_flow_style=False)
    return textwrap.indent(text, " " * indent)


def comment(text: str, indent: int = 0) -> str:
    prefix = " " * indent + "# "
    lines = textwrap.wrap(text, 88 - len(prefix), initial_indent=prefix, subsequent_indent=prefix)
    return "\n".join(lines) + "\n"


def compose_yml() -> str:
    document = compose_file.compose(Settings())
    return services_file(compose_file.HEADER, document, "name", compose_file.ABOUT, ["volumes"])


def services_file(
    header: str, document: dict, first: str, about: dict[str, str], last: list[str]
) -> str:
    """A compose-format file: ``header``, the key ``first``, each service with what ``about``
    says of it, then the keys ``last``."""
    parts = [header, dump({first: document[first]}), "\nservices:\n"]
    for number, (name, service) in enumerate(document["services"].items()):
        parts.append("\n" if number else "")
        if name in about:
            parts.append(comment(about[name], indent=2))
        parts.append(dump({name: service}, indent=2))
    for key in last:
        parts += ["\n", dump({key: document[key]})]
    return "".join(parts)


def prometheus_yml() -> str:
    return prometheus_file(
        "# not this file. Prometheus as compose.yml runs it: each job's replicas are\n"
        "# found by their service's name, which resolves to every one of them.\n",
        lambda service: service,
    )


def swarm_prometheus_yml() -> str:
    return prometheus_file(
        "# not this file. Prometheus as deploy/swarm/stack.yml runs it: each job's\n"
        "# tasks are found as tasks.SERVICE, which resolves to every one of them.\n",
        lambda service: f"tasks.{service}",
    )


def prometheus_file(about: str, name: Callable[[str], str]) -> str:
    """Prometheus's configuration, said ``about``: each job's replicas found by the ``name``
    of their service."""
    header = "# Written by `make deploy-files` from services/stack/topology.py: change that,\n"
    names = {service: name(service) for service, _ in topology.SCRAPE_JOBS.values()}
    return header + about + dump(compose_file.prometheus_config(names))


def swarm_yml() -> str:
    document = swarm_file.stack(Settings())
    last = ["configs", "networks", "volumes"]
    return services_file(swarm_file.HEADER, document, "version", swarm_file.ABOUT, last)


KUBERNETES_DIR = "deploy/kubernetes"
KUBERNETES_HEADER = (
    "# Written by `make deploy-files` from services/stack/topology.py: change that,\n"
    "# not this file (see services/stack/kubernetes.py).\n"
)


def manifests(content: list[dict] | dict) -> str:
    """Kubernetes objects, one YAML document each."""
    documents = content if isinstance(content, list) else [content]
    return KUBERNETES_HEADER + "---\n".join(dump(document) for document in documents)


def kubernetes_files() -> dict[str, Callable[[], str]]:
    settings = Settings()
    base = kubernetes.base(settings)
    files = {
        f"{KUBERNETES_DIR}/base/{name}": (lambda objects=objects: manifests(objects))
        for name, objects in base.items()
    }
    files[f"{KUBERNETES_DIR}/base/kustomization.yaml"] = lambda: manifests(
        kubernetes.kustomization(list(base))
    )
    for overlay, overlay_files in kubernetes.overlays().items():
        for name, content in overlay_files.items():
            files[f"{KUBERNETES_DIR}/overlays/{overlay}/{name}"] = lambda content=content: (
                manifests(content)
            )
    return files


#: Each file written, relative to the project, and what writes it.
FILES: dict[str, Callable[[], str]] = {
    "compose.yml": compose_yml,
    compose_file.PROMETHEUS_CONFIG: prometheus_yml,
    "deploy/swarm/stack.yml": swarm_yml,
    swarm_file.PROMETHEUS_CONFIG: swarm_prometheus_yml,
    **kubernetes_files(),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.stack.deploy_files", description=__doc__
    )
    parser.add_argument("--print", choices=sorted(FILES), help="print one file instead")
    args = parser.parse_args()
    if args.print:
        sys.stdout.write(FILES[args.print]())
        return 0
    for name, write in FILES.items():
        path = PROJECT_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
