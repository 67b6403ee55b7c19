"""What ``dramatiq services.worker`` loads: the broker with every actor declared on it.

Each worker process also fires the schedules (``actors.schedules``).
"""

import dramatiq

from actors.schedules.middleware import Firing
from actors.schedules.operations import Schedules

from .queue import connect
from .settings import load_settings

queue = connect(load_settings())
broker = queue.broker
broker.add_middleware(Firing(Schedules(queue)))
dramatiq.set_broker(broker)
