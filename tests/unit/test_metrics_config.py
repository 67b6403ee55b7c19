"""The shipped Prometheus configuration: valid, in step with the settings, alerting as meant.

promtool comes with Debian's ``prometheus`` package; CI installs it, and these
tests fail there rather than skip when it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from services.metrics.targets import scrape_targets
from services.settings import Settings
from tests.support import PROJECT_DIR

CONFIG_DIR = PROJECT_DIR / "prometheus"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and os.environ.get("CI") != "true",
    reason="promtool is missing (apt-get install prometheus); CI installs it",
)


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is missing: CI must install it"
    return subprocess.run(
        [PROMTOOL, *args], cwd=CONFIG_DIR, capture_output=True, text=True, timeout=60
    )


@needs_promtool
def test_the_alerting_rules_pass_promtool():
    checked = promtool("check", "rules", "alerts.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout


@needs_promtool
def test_the_alerts_fire_when_queues_back_up_jobs_die_no_worker_lives_ticks_are_missed():
    tested = promtool("test", "rules", "alerts_test.yml")

    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
def test_the_scrape_configuration_passes_promtool():
    checked = promtool("check", "config", "prometheus.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_scrape_configuration_names_the_default_ports_of_every_service():
    config = yaml.safe_load((CONFIG_DIR / "prometheus.yml").read_text())
    shipped = {
        scrape["job_name"]: [t for static in scrape["static_configs"] for t in static["targets"]]
        for scrape in config["scrape_configs"]
    }

    assert shipped == scrape_targets(Settings())
