"""What ``dramatiq services.worker`` loads: the broker with every actor declared on it.

Each worker process also fires the schedules (``actors.schedules``).
"""

import dramatiq

import actors
from actors.schedules.middleware import Firing
from actors.schedules.operations import Schedules

from .collector import collect_rarely
from .settings import load_settings

queue = actors.connect(load_settings().queue_config())
broker = queue.broker
broker.add_middleware(Firing(Schedules(queue)))
dramatiq.set_broker(broker)

collect_rarely()
