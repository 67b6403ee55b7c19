"""The one owner of how the service keeps things in Redis.

Where to look:

* ``keys.py``: the key layout, the only code that spells a key.
* ``record.py``: a job's record as its hash holds it (a new field of the
  record is a field of :class:`~actors.record.JobRecord`; nothing else).
* ``lua/``: the scripts, each naming the shared files it needs by
  ``--!include`` lines, which ``lua.py`` resolves.
* ``codecs.py``: one codec per script, the only Python that knows its KEYS
  and ARGV by position, and what its reply holds. A new script is a file of
  ``lua/`` and a codec here.
* ``queues.py``: what the broker's queues hold, as the dashboard and the
  metrics read it.
* ``events.py``: the event streams of jobs and workflows, as the stores and
  the API's followers read and hear them.

``tests/unit/test_storage_owner.py`` fails when a module outside this
package spells a key or lays out a script's arguments, or when the API, the
dashboard or the metrics call a Redis command themselves.
"""

from .keys import Keys

__all__ = ["Keys"]
