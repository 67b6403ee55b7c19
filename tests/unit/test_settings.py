"""services.settings: the one place the environment is read."""

from __future__ import annotations

import dataclasses
import re

import pytest

from services import settings_docs
from services.settings import SECTIONS, Settings, SettingsError, load_settings
from tests.support import PROJECT_DIR, env_names


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
        ("STREAM_SLOTS", "0", "at least 1"),
        ("WORKER_PROCESSES", "0", "at least 1"),
        ("REDIS_SENTINELS", "sentinel-1", "host:port"),
        ("REDIS_SENTINELS", "a:26379,b:port", "host:port"),
        ("REDIS_SENTINELS", "a:99999", "port number"),
    ],
)
def test_an_unusable_value_is_refused_naming_the_variable(name, value, complaint):
    with pytest.raises(SettingsError, match=complaint) as raised:
        load_settings({name: value})

    assert name in str(raised.value)


def test_sentinels_are_read_as_addresses():
    settings = load_settings({"REDIS_SENTINELS": "sentinel-1:26379, 10.0.0.2:26380"})

    assert settings.sentinel_addresses == (("sentinel-1", 26379), ("10.0.0.2", 26380))


def test_to_env_round_trips_through_load_settings():
    # Every field away from its default, so that a field that to_env drops or
    # load_settings misreads shows up.
    settings = Settings(
        redis_url="redis://127.0.0.1:7000/1",
        redis_port=7001,
        redis_maxmemory="256mb",
        redis_allow_eviction=True,
        redis_sentinels=("sentinel-1:7002", "127.0.0.1:7003"),
        redis_master_name="queues",
        redis_replicas=2,
        sentinel_ports=(7004, 7005, 7006),
        sentinel_down_after_ms=500,
        sentinel_failover_timeout_ms=4000,
        redis_confirming_replicas=2,
        redis_confirm_timeout_ms=250,
        bind_host="127.0.0.2",
        lb_host="0.0.0.0",
        lb_port=8000,
        lb_fallback_port=8001,
        api_ports=(7100, 7101, 7102),
        dashboard_port=7200,
        traefik_ping_port=7300,
        instance_name="api.7",
        api_processes=3,
        stream_slots=4,
        api_keys=("first-key", "second-key"),
        api_keys_for_reads=True,
        submit_rate=5,
        submit_burst=7,
        lb_procs=2,
        lb_gogc=150,
        max_request_bytes=4096,
        max_wait_seconds=5,
        max_time_limit_seconds=30.5,
        stream_seconds=6,
        workers=4,
        worker_processes=2,
        worker_threads=3,
        worker_shutdown_timeout_ms=1234,
        default_max_retries=7,
        default_min_backoff_ms=12,
        default_time_limit_ms=3456,
        heartbeat_timeout_ms=7890,
        job_modules="actors.jobs,tests.unit.more_jobs",
        job_retention_seconds=99,
        admin_user="boss",
        admin_password="p:ss word",
        log_level="WARNING",
        api_metrics_port=9250,
        worker_metrics_port=9400,
        traefik_metrics_port=8071,
        restart_delay_seconds=0.125,
        restart_max_delay_seconds=4.5,
        redis_server="/opt/valkey/bin/valkey-server",
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
    loaded = load_settings(env)
    assert loaded == settings
    # Equal is not enough: 1 == 1.0 == True.
    for f in dataclasses.fields(Settings):
        assert type(getattr(loaded, f.name)) is type(getattr(settings, f.name)), f.name


def test_a_setting_gets_the_type_it_declares():
    settings = load_settings(
        {
            "RESTART_DELAY_SECONDS": "0.25",
            "RESTART_MAX_DELAY_SECONDS": "2",
            "API_KEYS_FOR_READS": "true",
            "API_KEYS": " one, two ,",
        }
    )

    assert settings.restart_delay_seconds == 0.25
    assert settings.api_keys_for_reads is True
    assert settings.api_keys == ("one", "two")
    assert load_settings({"API_KEYS_FOR_READS": "false"}).api_keys_for_reads is False
    with pytest.raises(SettingsError, match="API_KEYS_FOR_READS must be true or false"):
        load_settings({"API_KEYS_FOR_READS": "maybe"})
    assert type(settings.restart_max_delay_seconds) is float
    assert type(settings.workers) is int
    with pytest.raises(SettingsError, match="RESTART_DELAY_SECONDS must be more than 0"):
        load_settings({"RESTART_DELAY_SECONDS": "0"})


def test_settings_built_in_code_are_checked_as_the_environment_is():
    assert Settings(api_ports=[4000, 4001]).api_ports == (4000, 4001)
    assert dataclasses.replace(Settings(), log_level="debug").log_level == "DEBUG"
    with pytest.raises(ValueError, match="stream_slots"):
        Settings(stream_slots=0)
    with pytest.raises(ValueError, match="port number"):
        Settings(lb_port=0)


def test_the_environment_is_read_only_by_load_settings(monkeypatch):
    monkeypatch.setenv("WORKERS", "5")

    assert Settings().workers == 1
    assert load_settings().workers == 5


def _example_variables() -> list[tuple[str, str]]:
    text = (PROJECT_DIR / ".env.example").read_text()
    return re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, flags=re.MULTILINE)


def test_env_example_and_the_readme_table_are_written_from_the_declaration():
    # If this fails, run `make docs` and commit what it writes.
    assert (PROJECT_DIR / ".env.example").read_text() == settings_docs.env_example()
    readme = (PROJECT_DIR / "README.md").read_text()
    assert settings_docs.readme_with_table(readme) == readme
    for name in env_names():
        assert f"| `{name}` |" in readme
    assert set(SECTIONS) <= {name.lower() for name in env_names()}


def test_env_example_documents_exactly_the_variables_read():
    names = [name for name, _ in _example_variables()]

    assert len(names) == len(set(names)), "a variable is listed twice"
    assert sorted(names) == sorted(env_names())


def test_env_example_shows_the_defaults():
    # The file says "the value shown is the default": copying it to .env
    # must change nothing.
    assert load_settings(dict(_example_variables())) == load_settings({})
