"""What ``dramatiq tests.bench.raw_worker`` loads: the baseline's broker, on the stack's Redis."""

import dramatiq

from services.settings import load_settings

from .raw_dramatiq import declare

broker, actors = declare(load_settings().effective_redis_url)
dramatiq.set_broker(broker)
