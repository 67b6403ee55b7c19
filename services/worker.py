"""What ``dramatiq services.worker`` loads: the broker with every actor declared on it.

Each worker process also fires the schedules (``actors.schedules``).
"""

import gc

import dramatiq

import actors
from actors.schedules.middleware import Firing
from actors.schedules.operations import Schedules

from .settings import load_settings

#: Allocations between two collections of the youngest generation (Python's default: 700).
GC_THRESHOLD = 100_000

queue = actors.connect(load_settings().queue_config())
broker = queue.broker
broker.add_middleware(Firing(Schedules(queue)))
dramatiq.set_broker(broker)

# A job that succeeds leaves no reference cycles behind, yet at the default
# threshold the collector ran every few hundred jobs, finding nothing, and
# now and then went over every object loaded above, which lives as long as
# the process. Frozen, those are never looked at again; rarer collections
# still free the cycles a failing job's traceback makes.
gc.freeze()
gc.set_threshold(GC_THRESHOLD)
