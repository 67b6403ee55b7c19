"""The dashboard on the running stack: at /admin/ on its port and through Traefik,
retry-all and delete-all of dead letters with real workers, clean 400s."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
import requests

from tests.support import wait_for

from .conftest import RunningStack, stack_settings, start_stack


def admin_session(stack: RunningStack) -> requests.Session:
    session = requests.Session()
    session.auth = stack.admin
    return session


def confirm_all(stack: RunningStack, queue: str, action: str) -> requests.Response:
    """Follow the failed tab's link to retry or delete all, and confirm, as a browser does."""
    admin = admin_session(stack)
    failed_tab = admin.get(f"{stack.url}/admin/queues/{queue}/failed", timeout=30)
    assert failed_tab.status_code == 200
    label = {"retry": "Retry all", "delete": "Delete all"}[action]
    link = re.search(rf'href="([^"]+)">{label}</a>', failed_tab.text)
    assert link, f"the failed tab has no {label} link"
    page = admin.get(stack.url + link[1], timeout=30)
    assert page.status_code == 200
    form = re.search(r'<form action="([^"]+)" method="POST">(.*?)</form>', page.text, re.S)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[2]))
    return admin.post(stack.url + form[1], data=fields, allow_redirects=False, timeout=30)


# Where it answers ---------------------------------------------------------------


@pytest.mark.parametrize("where", ["load balancer", "own port"])
def test_the_dashboard_answers_at_admin_with_credentials_only(stack, where):
    base = stack.url if where == "load balancer" else stack.dashboard_url

    assert requests.get(f"{base}/admin/", timeout=30).status_code == 401
    wrong = (stack.admin[0], "not-the-password")
    assert requests.get(f"{base}/admin/", auth=wrong, timeout=30).status_code == 401
    page = requests.get(f"{base}/admin/", auth=stack.admin, timeout=30)
    assert page.status_code == 200
    assert 'href="/admin/queues/default"' in page.text
    # The seed's address, without the slash, leads there too.
    seed = requests.get(f"{base}/admin", auth=stack.admin, timeout=30)
    assert seed.status_code == 200
    assert seed.url == f"{base}/admin/"


def test_the_health_check_of_the_dashboard_port_stays_open(stack):
    response = requests.get(f"{stack.dashboard_url}/healthz", timeout=30)

    assert response.status_code == 200


@pytest.mark.parametrize("where", ["load balancer", "own port"])
@pytest.mark.parametrize(
    "path",
    [
        "/admin/queues/default?cursor=abc",
        "/admin/queues/a%00b",
        "/admin/queues/a%0Ab/failed/x",
        "/admin/queues/caf%C3%A9",
        "/admin/queues/default/failed/%3Cscript%3E",
    ],
)
def test_bad_cursors_and_queue_names_are_400(stack, where, path):
    base = stack.url if where == "load balancer" else stack.dashboard_url

    response = requests.get(base + path, auth=stack.admin, timeout=30)

    assert response.status_code == 400, response.text


@pytest.mark.parametrize("where", ["load balancer", "own port"])
def test_the_basic_scheme_is_accepted_in_lower_case(stack, where):
    base = stack.url if where == "load balancer" else stack.dashboard_url
    prepared = requests.Request("GET", f"{base}/admin/", auth=stack.admin).prepare()
    prepared.headers["Authorization"] = prepared.headers["Authorization"].replace("Basic", "basic")

    assert requests.Session().send(prepared, timeout=30).status_code == 200


# Dead letters -------------------------------------------------------------------


def test_retry_all_runs_the_dead_jobs_again_and_they_succeed(tmp_path):
    # A time limit too tight for the jobs: both are interrupted and die
    # (count_slowly is never retried).
    tight = start_stack(tmp_path, stack_settings(default_time_limit_ms=1000))
    try:
        job_ids = [
            tight.submit("count_slowly", kwargs={"to": 6, "interval": 0.5}) for _ in range(2)
        ]
        dead = [tight.ended(job_id) for job_id in job_ids]
    finally:
        tight.stack.stop()
    assert [job["state"] for job in dead] == ["dead", "dead"]
    assert {job["error"]["type"] for job in dead} == {"TimeLimitExceeded"}

    # The limit raised, the same data: retry-all, and both run to the end.
    settings = dataclasses.replace(tight.stack.settings, default_time_limit_ms=600_000)
    running = start_stack(tmp_path, settings)
    try:
        confirmed = confirm_all(running, "default", "retry")
        assert confirmed.status_code == 302
        assert confirmed.headers["Location"] == "/admin/queues/default/failed"

        def succeeded():
            jobs = [running.job(job_id) for job_id in job_ids]
            return jobs if all(job["state"] == "succeeded" for job in jobs) else None

        again = wait_for(succeeded, timeout=60, interval=0.2, what="the retried jobs to succeed")
        assert [job["result"] for job in again] == [6, 6]
        assert all(job["error"] is None for job in again)
        assert all(
            job["started_at"] > before["finished_at"]
            for job, before in zip(again, dead, strict=True)
        )
        # Their dead letters are gone, not left behind to be retried twice.
        failed_tab = admin_session(running).get(f"{running.url}/admin/queues/default/failed")
        assert "There are no jobs in this queue." in failed_tab.text
    finally:
        running.stack.stop()


def test_delete_all_empties_the_dead_letters(stack):
    # A lane of its own, so that only this test's letters are there.
    options = {"priority": "low", "max_retries": 0}
    job_ids = [
        stack.submit("fail", kwargs={"message": f"delete-me-{n}"}, options=options)
        for n in range(2)
    ]
    assert [stack.ended(job_id)["state"] for job_id in job_ids] == ["dead", "dead"]
    admin = admin_session(stack)
    failed_tab = admin.get(f"{stack.url}/admin/queues/default-low/failed", timeout=30)
    assert html.unescape(failed_tab.text).count("delete-me-") == 2

    confirmed = confirm_all(stack, "default-low", "delete")

    assert confirmed.status_code == 302
    failed_tab = admin.get(f"{stack.url}/admin/queues/default-low/failed", timeout=30)
    assert "There are no jobs in this queue." in failed_tab.text
    assert 'Dead letters (<em class="em em--tertiary">0</em>)' in failed_tab.text
    # The jobs stay dead: deleting a letter runs nothing.
    assert [stack.job(job_id)["state"] for job_id in job_ids] == ["dead", "dead"]


def test_the_dashboard_lists_only_the_worker_processes_as_workers(stack):
    # Both API instances enqueue; neither is a worker.
    for _ in range(4):
        stack.submit("add", kwargs={"a": 1, "b": 2})
    overview = admin_session(stack).get(f"{stack.url}/admin/", timeout=30)
    assert overview.status_code == 200
    workers_table = overview.text.split("<th>Worker</th>", 1)[1].split("</table>", 1)[0]
    listed = re.findall(r'<td class="table__subject table__subject--mono">', workers_table)
    expected = stack.settings.workers * stack.settings.worker_processes
    assert len(listed) == expected
