"""Where the service keeps everything in Redis: the one key layout.

The job store's, the workflows' and the schedules' keys are ours, under a
namespace (``jobqueue`` by default); the broker's follow dramatiq's Redis
broker, under its namespace (``dramatiq`` by default), a layout that
dramatiq-dashboard reads too, so it cannot change.

The job store (``<namespace>:`` left out):

* ``job:<id>`` a hash, the job's record (see ``actors/store.py``).
* ``job:<id>:events`` a stream of the job's events while it runs; its
  name is also the channel each event is published on.
* ``jobs`` a stream indexing every job, newest last.
* ``idempotency:<key>`` the id of the job first submitted with that key.
* ``lingering`` a sorted set of the jobs whose cut stream lingers (``lua/job.lua``).
* ``cancellations`` a channel: the keys of jobs cancelled while running.
* ``stats:<second>`` the console's counts of ``SPAN`` seconds (``actors/stats.py``).
* ``workflow:<id>``, ``workflows``, ``workflows:tally``: a workflow, their
  index, their counts by state; ``workflow:<id>:steps``, ``:outcomes`` and
  ``:events`` its steps' definitions, their ends and its event stream.
* ``schedule:<name>``, ``schedule:<name>:history``, ``schedules``,
  ``schedules:due``: a schedule, its history, every name, the next ticks.

The broker (dramatiq's; ``<broker namespace>:`` left out):

* ``<queue>`` a list of message ids; ``<queue>.msgs`` their messages; a
  delay queue is ``<queue>.DQ``, its dead letters ``<queue>.XQ`` (a sorted
  set by when they died, and ``.msgs``).
* ``<queue>.wake`` at most one token an idle consumer blocks on.
* ``__heartbeats__`` worker ids by their last beat; ``__acks__.<worker>.<queue>``
  the messages a worker holds; ``__worker_names__`` the names of worker ids.
* ``__ackqueues__.<worker>`` the queues a worker holds messages of;
  ``__fetched__.<worker>.<queue>`` the latest of its fetches of the queue
  that ran, so that one whose reply it lost is handed back (``lua/dispatch.lua``).

The Lua scripts are given these keys, or the ones they start from (a job's
key, the prefix ``job:`` for the jobs they find by id, a namespace), and
build the rest with the functions of ``lua/keys.lua``, which say the layout
again for Lua.
"""

from __future__ import annotations

from dataclasses import dataclass

from dramatiq.common import dq_name, xq_name


@dataclass(frozen=True)
class Keys:
    """The keys of the job store's namespace and the broker's."""

    namespace: str = "jobqueue"
    broker_namespace: str = "dramatiq"

    # The job store ------------------------------------------------------

    @property
    def jobs_prefix(self) -> str:
        """What a job's key is before its id: scripts find jobs by id with it."""
        return f"{self.namespace}:job:"

    def job(self, job_id: str) -> str:
        return f"{self.jobs_prefix}{job_id}"

    def job_id(self, job_key: str | bytes) -> str:
        """The id of the job whose key is ``job_key``."""
        if isinstance(job_key, bytes):
            job_key = job_key.decode()
        return job_key.removeprefix(self.jobs_prefix)

    def events(self, job_id: str) -> str:
        """The job's event stream, and the channel its events are published on."""
        return f"{self.jobs_prefix}{job_id}:events"

    @property
    def index(self) -> str:
        return f"{self.namespace}:jobs"

    def idempotency(self, key: str) -> str:
        return f"{self.namespace}:idempotency:{key}"

    @property
    def lingering(self) -> str:
        return f"{self.namespace}:lingering"

    @property
    def cancellations(self) -> str:
        return f"{self.namespace}:cancellations"

    @property
    def writable(self) -> str:
        """A key written only to learn whether Redis takes writes."""
        return f"{self.namespace}:writable"

    def stats(self, span_start: int) -> str:
        """The console's counts of the span starting at ``span_start`` (Unix seconds)."""
        return f"{self.namespace}:stats:{span_start}"

    # Workflows ----------------------------------------------------------

    def workflow(self, workflow_id: str) -> str:
        return f"{self.namespace}:workflow:{workflow_id}"

    def workflow_steps(self, workflow_id: str) -> str:
        """Each step's definition, by number."""
        return f"{self.workflow(workflow_id)}:steps"

    def workflow_outcomes(self, workflow_id: str) -> str:
        """The state each step that was counted ended in, by number."""
        return f"{self.workflow(workflow_id)}:outcomes"

    def workflow_events(self, workflow_id: str) -> str:
        """The workflow's event stream, and the channel its events are published on."""
        return f"{self.workflow(workflow_id)}:events"

    @property
    def workflows(self) -> str:
        return f"{self.namespace}:workflows"

    @property
    def workflows_tally(self) -> str:
        return f"{self.namespace}:workflows:tally"

    # Schedules ----------------------------------------------------------

    def schedule(self, name: str) -> str:
        return f"{self.namespace}:schedule:{name}"

    def schedule_history(self, name: str) -> str:
        return f"{self.namespace}:schedule:{name}:history"

    @property
    def schedules(self) -> str:
        return f"{self.namespace}:schedules"

    @property
    def schedules_due(self) -> str:
        return f"{self.namespace}:schedules:due"

    # The broker (dramatiq's layout) -------------------------------------

    def queue(self, queue_name: str) -> str:
        """The list of a queue's message ids; ``queue_name`` may be a ``.DQ`` or ``.XQ`` too."""
        return f"{self.broker_namespace}:{queue_name}"

    def messages(self, queue_name: str) -> str:
        """The hash of a queue's messages by their Redis id."""
        return f"{self.queue(queue_name)}.msgs"

    def wake(self, queue_name: str) -> str:
        return f"{self.queue(queue_name)}.wake"

    def delayed(self, queue_name: str) -> str:
        return self.queue(dq_name(queue_name))

    def dead_letters(self, queue_name: str) -> str:
        """A queue's dead letters: their ids by when they died (and :meth:`messages` of ``.XQ``)."""
        return self.queue(xq_name(queue_name))

    def dead_letter_messages(self, queue_name: str) -> str:
        return self.messages(xq_name(queue_name))

    @property
    def heartbeats(self) -> str:
        return f"{self.broker_namespace}:__heartbeats__"

    def acks(self, worker_id: str, queue_name: str) -> str:
        """The messages of ``queue_name`` that worker ``worker_id`` holds."""
        return f"{self.broker_namespace}:__acks__.{worker_id}.{queue_name}"

    def fetched(self, worker_id: str, queue_name: str) -> str:
        """The latest fetch of ``queue_name`` by ``worker_id`` that ran, and what it took."""
        return f"{self.broker_namespace}:__fetched__.{worker_id}.{queue_name}"

    @property
    def worker_names(self) -> str:
        """Worker ids by the names the records and the dashboard give them."""
        return f"{self.broker_namespace}:__worker_names__"
