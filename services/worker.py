"""What ``dramatiq services.worker`` loads: the broker with every actor declared on it."""

import dramatiq

from .queue import connect
from .settings import load_settings

broker = connect(load_settings()).broker
dramatiq.set_broker(broker)
