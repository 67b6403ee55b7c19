"""The local stack's highly available Redis: which node is master, what sentinels are told."""

from __future__ import annotations

from pathlib import Path

from services.settings import Settings
from services.stack import sentinel
from services.stack.stack import with_sentinels

HA = Settings(redis_replicas=2, redis_port=7000, sentinel_ports=(7100, 7101, 7102))


def test_the_sentinels_watch_the_master_with_the_timings_set():
    config = sentinel.sentinel_config(
        Settings(sentinel_down_after_ms=1500, sentinel_failover_timeout_ms=9000),
        data_dir=Path("/data"),
        port=7100,
        master_port=7001,
    )

    assert "sentinel monitor jobqueue 127.0.0.1 7001 2\n" in config
    assert "sentinel down-after-milliseconds jobqueue 1500\n" in config
    assert "sentinel failover-timeout jobqueue 9000\n" in config


def test_the_master_is_the_one_the_sentinels_last_named(tmp_path):
    files = sentinel.config_files(HA, tmp_path)
    assert sentinel.last_master(HA, files) == 7000  # nothing written yet

    files[1].parent.mkdir(parents=True)
    # As a sentinel rewrites its file after a failover.
    files[1].write_text("port 7101\nsentinel monitor jobqueue 127.0.0.1 7002 2\n")
    assert sentinel.last_master(HA, files) == 7002

    # A port that is no node of these settings (they changed) is not followed.
    files[1].write_text("sentinel monitor jobqueue 127.0.0.1 6379 2\n")
    assert sentinel.last_master(HA, files) == 7000


def test_the_services_are_told_where_the_stack_s_sentinels_are():
    assert with_sentinels(HA).redis_sentinels == (
        "127.0.0.1:7100",
        "127.0.0.1:7101",
        "127.0.0.1:7102",
    )
    # A Redis of the user's own is left alone, and so is a single Redis.
    assert with_sentinels(Settings(redis_replicas=2, redis_url="redis://db:6379/0")) == Settings(
        redis_replicas=2, redis_url="redis://db:6379/0"
    )
    assert with_sentinels(Settings()).redis_sentinels == ()
