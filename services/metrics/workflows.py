"""Workflows as Redis counts them, at the dashboard's ``/metrics`` beside the queues.

The scripts that start and end workflows count them in Redis
(``lua/workflow.lua``), in the same call that moves them: the counts hold
for every API instance and worker, whichever process died.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from actors.workflow_store import ENDED, WorkflowState, WorkflowStore


class WorkflowCollector(Collector):
    """Workflows running now, and those ended, by outcome: one round trip a scrape."""

    def __init__(self, store: WorkflowStore):
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        tally = self.store.tally()
        yield GaugeMetricFamily(
            "jobqueue_workflows_running",
            "Workflows that have not ended.",
            tally.get(WorkflowState.RUNNING, 0),
        )
        ended = CounterMetricFamily(
            "jobqueue_workflows_ended", "Workflows that ended, by outcome.", labels=["outcome"]
        )
        for outcome in sorted(ENDED):
            ended.add_metric([outcome], tally.get(outcome, 0))
        yield ended
