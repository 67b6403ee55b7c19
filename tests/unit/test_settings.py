"""services.settings: the one place the environment is read."""

from __future__ import annotations

import dataclasses
import re

import pytest

from services.settings import Settings, SettingsError, env_names, load_settings
from tests.support import PROJECT_DIR


def test_no_environment_gives_the_documented_defaults():
    settings = load_settings({})

    assert settings == Settings()
    assert settings.api_ports == (3000, 3001)
    assert settings.dashboard_port == 8082
    assert settings.lb_port == 80
    assert settings.workers == 1
    # No fixed default password anywhere.
    assert settings.admin_password == ""
    assert settings.effective_redis_url == "redis://127.0.0.1:6379/0"


def test_variables_set_the_fields_of_the_same_name():
    settings = load_settings(
        {
            "REDIS_URL": "redis://cache.example:6380/2",
            "API_PORTS": " 4000, 4001 ,4002",
            "WORKERS": "3",
            "DASHBOARD_PORT": "9082",
            "ADMIN_PASSWORD": "s3cret",
            "LOG_LEVEL": "debug",
        }
    )

    assert settings.effective_redis_url == "redis://cache.example:6380/2"
    assert settings.api_ports == (4000, 4001, 4002)
    assert settings.workers == 3
    assert settings.dashboard_port == 9082
    assert settings.admin_password == "s3cret"
    assert settings.log_level == "DEBUG"


def test_empty_and_blank_variables_keep_the_defaults():
    settings = load_settings({"WORKERS": "", "API_PORTS": "  ", "LB_PORT": ""})

    assert settings.workers == 1
    assert settings.api_ports == (3000, 3001)
    assert settings.lb_port == 80


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("WORKERS", "three", "whole number"),
        ("REDIS_PORT", "70000", "port number"),
        ("LB_PORT", "0", "port number"),
        ("API_PORTS", "3000,3000", "distinct"),
        ("API_PORTS", ",", "distinct"),
        ("API_PORTS", "3000,http", "whole number"),
        ("API_PORTS", "3000,99999", "port number"),
        ("JOB_RETENTION_SECONDS", "-1", "negative"),
        ("API_THREADS", "0", "at least 1"),
        ("WORKER_PROCESSES", "0", "at least 1"),
    ],
)
def test_an_unusable_value_is_refused_naming_the_variable(name, value, complaint):
    with pytest.raises(SettingsError, match=complaint) as raised:
        load_settings({name: value})

    assert name in str(raised.value)


def test_stream_slots_must_leave_threads_for_ordinary_requests():
    with pytest.raises(SettingsError, match="STREAM_SLOTS"):
        load_settings({"API_THREADS": "8", "STREAM_SLOTS": "8"})

    assert load_settings({"API_THREADS": "8", "STREAM_SLOTS": "7"}).stream_slots == 7


def test_to_env_round_trips_through_load_settings():
    # Every field away from its default, so that a field that to_env drops or
    # load_settings misreads shows up.
    settings = Settings(
        redis_url="redis://127.0.0.1:7000/1",
        redis_port=7001,
        bind_host="127.0.0.2",
        lb_host="0.0.0.0",
        lb_port=8000,
        lb_fallback_port=8001,
        api_ports=(7100, 7101, 7102),
        dashboard_port=7200,
        traefik_ping_port=7300,
        instance_name="api.7",
        api_processes=3,
        api_threads=16,
        stream_slots=4,
        max_request_bytes=4096,
        max_wait_seconds=5,
        stream_seconds=6,
        workers=4,
        worker_processes=2,
        worker_threads=3,
        worker_shutdown_timeout_ms=1234,
        default_max_retries=7,
        default_min_backoff_ms=12,
        default_time_limit_ms=3456,
        heartbeat_timeout_ms=7890,
        job_retention_seconds=99,
        admin_user="boss",
        admin_password="p:ss word",
        log_level="WARNING",
    )
    defaults = Settings()
    same_as_default = [
        f.name
        for f in dataclasses.fields(Settings)
        if getattr(settings, f.name) == getattr(defaults, f.name)
    ]
    assert same_as_default == []

    env = settings.to_env()

    assert sorted(env) == sorted(env_names())
    assert load_settings(env) == settings


def _example_variables() -> list[tuple[str, str]]:
    text = (PROJECT_DIR / ".env.example").read_text()
    return re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, flags=re.MULTILINE)


def test_env_example_documents_exactly_the_variables_read():
    names = [name for name, _ in _example_variables()]

    assert len(names) == len(set(names)), "a variable is listed twice"
    assert sorted(names) == sorted(env_names())


def test_env_example_shows_the_defaults():
    # The file says "the value shown is the default": copying it to .env
    # must change nothing.
    assert load_settings(dict(_example_variables())) == load_settings({})
