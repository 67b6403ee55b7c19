"""Workflows on a real Redis with an in-process worker: results flow, and every workflow ends."""

from __future__ import annotations

import pytest

from actors import jobs
from actors.canvas import chain, group
from actors.states import State
from actors.workflow_store import WorkflowRecord, WorkflowState
from actors.workflows import InvalidWorkflow, Workflows
from tests.support import wait_for

add, total, fail, count_slowly = jobs.add, jobs.total, jobs.fail, jobs.count_slowly


@pytest.fixture
def workflows(queue) -> Workflows:
    return Workflows.of(queue)


def finished(workflows: Workflows, workflow_id: str) -> WorkflowRecord:
    def record():
        found = workflows.store.get(workflow_id)
        return found if found.ended else None

    return wait_for(record, timeout=30, what=f"workflow {workflow_id} to end")


def job_states(workflows: Workflows, record: WorkflowRecord) -> list[State]:
    return [workflows.queue.store.get(step.job_id).state for step in record.steps]


def test_a_chain_hands_each_result_to_the_next_step(workflows, request):
    submitted = workflows.submit(chain(add.s(1, 2), add.s(10), add.s(100)))
    # Read back before any worker runs: a running one may have queued the second step by then.
    assert [step.state for step in submitted.steps][1:] == [State.WAITING, State.WAITING]
    request.getfixturevalue("worker")

    record = finished(workflows, submitted.id)

    assert record.state == WorkflowState.SUCCEEDED
    assert record.result == 113
    jobs_run = [workflows.queue.store.get(step.job_id) for step in record.steps]
    assert [job.args for job in jobs_run] == [[1, 2], [3, 10], [13, 100]]
    assert all(job.workflow.id == record.id for job in jobs_run)


def test_a_step_after_a_group_receives_the_list_of_its_results_in_order(workflows, worker):
    fan_out = group(*(add.si(n, 0) for n in range(100)))
    record = finished(workflows, workflows.submit(chain(fan_out, total.s())).id)

    assert record.state == WorkflowState.SUCCEEDED
    assert record.result == sum(range(100))
    gathering = workflows.queue.store.get(record.steps[-1].job_id)
    assert gathering.args == [list(range(100))]
    assert gathering.attempts == 1


def test_a_failing_step_fails_its_workflow_and_stops_every_other_step(workflows, worker):
    slow = count_slowly.si(to=100, interval=0.1)
    submitted = workflows.submit(chain(group(fail.si(permanent=True), slow), total.s(), add.s(1)))
    record = finished(workflows, submitted.id)

    assert record.state == WorkflowState.FAILED
    assert record.error == {"step": 0, "job": record.steps[0].job_id, "state": "failed"}
    assert job_states(workflows, record) == [
        State.FAILED,
        State.CANCELLED,
        State.CANCELLED,
        State.CANCELLED,
    ]


def test_a_step_that_dies_after_its_retries_fails_its_workflow(workflows, worker):
    dying = fail.si().using(max_retries=0)
    record = finished(workflows, workflows.submit(chain(dying, add.s(1))).id)

    assert record.state == WorkflowState.FAILED
    assert job_states(workflows, record) == [State.DEAD, State.CANCELLED]


def test_an_ignored_failure_hands_on_null_and_the_workflow_succeeds(workflows, worker):
    workflow = group(add.si(1, 1), fail.si(permanent=True).on("ignore"), add.si(2, 2))
    record = finished(workflows, workflows.submit(workflow).id)

    assert record.state == WorkflowState.SUCCEEDED
    assert record.result == [2, None, 4]


def test_a_failure_under_continue_is_left_out_of_the_results(workflows, worker):
    workflow = chain(
        group(add.si(1, 1), fail.si(permanent=True).on("continue"), add.si(2, 2)), total.s()
    )
    record = finished(workflows, workflows.submit(workflow).id)

    assert record.state == WorkflowState.SUCCEEDED
    assert record.result == 6
    assert workflows.queue.store.get(record.steps[-1].job_id).args == [[2, 4]]


def test_cancelling_a_workflow_cancels_its_running_and_waiting_steps(workflows, worker):
    slow = count_slowly.si(to=100, interval=0.1)
    submitted = workflows.submit(chain(group(slow, slow), add.si(1, 2)))
    wait_for(
        lambda: job_states(workflows, submitted) == [State.RUNNING, State.RUNNING, State.WAITING],
        what="both slow steps to run",
    )

    assert workflows.cancel(submitted.id) == (True, WorkflowState.RUNNING)

    record = workflows.store.get(submitted.id)
    assert record.state == WorkflowState.CANCELLED
    assert job_states(workflows, record) == [State.CANCELLED] * 3
    # The running steps were interrupted, not left to finish.
    for step in record.steps[:2]:
        progress = workflows.queue.store.get(step.job_id).progress
        assert progress is None or progress.value < 0.5
    assert workflows.cancel(submitted.id) == (False, WorkflowState.CANCELLED)


def test_a_retried_workflow_runs_again_only_the_steps_that_did_not_succeed(workflows, worker):
    submitted = workflows.submit(chain(add.s(1, 2), fail.si(permanent=True), add.s(10)))
    failed = finished(workflows, submitted.id)
    assert failed.state == WorkflowState.FAILED

    assert workflows.retry(submitted.id) == (True, WorkflowState.FAILED)

    # The step that failed fails again, the first keeps its job and is not run again.
    again = finished(workflows, submitted.id)
    assert again.state == WorkflowState.FAILED
    assert again.steps[0].job_id == failed.steps[0].job_id
    assert workflows.queue.store.get(again.steps[0].job_id).attempts == 1
    assert [again.steps[n].job_id != failed.steps[n].job_id for n in (1, 2)] == [True, True]
    assert job_states(workflows, again) == [State.SUCCEEDED, State.FAILED, State.CANCELLED]


def test_only_a_failed_or_cancelled_workflow_is_retried(workflows, worker):
    submitted = workflows.submit(count_slowly.si(to=5, interval=0.1))
    assert workflows.retry(submitted.id) == (False, WorkflowState.RUNNING)
    finished(workflows, submitted.id)
    assert workflows.retry(submitted.id) == (False, WorkflowState.SUCCEEDED)
    assert workflows.retry("no-such-workflow") == (False, None)


def test_results_too_large_to_hand_on_fail_the_step_that_would_receive_them(queue, worker):
    workflows = Workflows.of(queue, max_input_bytes=100)
    fan_out = group(*(add.si(1_000_000, n) for n in range(20)))
    record = finished(workflows, workflows.submit(chain(fan_out, total.s())).id)

    assert record.state == WorkflowState.FAILED
    gathering = queue.store.get(record.steps[-1].job_id)
    assert gathering.state == State.FAILED
    assert gathering.attempts == 0
    assert gathering.error.type == "InputTooLarge"


@pytest.mark.parametrize(
    ("workflow", "problem"),
    [
        (chain(add.s(1, 2), group(add.s(1), add.s("x"))), "workflow/chain/1/group/1: argument"),
        (chain(add.s(1, 2), add.s(1, 2)), "workflow/chain/1: arguments do not fit add"),
        (group(add.si(1, 2), total.si()), "workflow/group/1: arguments do not fit total"),
        (add.s(1, 2).model_copy(update={"actor": "nope"}), "workflow: no public job"),
    ],
)
def test_a_workflow_is_checked_whole_before_anything_is_written(queue, workflow, problem):
    with pytest.raises(InvalidWorkflow, match=problem):
        Workflows.of(queue).submit(workflow)
    assert queue.store.client.dbsize() == 0
