"""The admin's job pages, through the dashboard's WSGI app, against a real Redis."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import falcon.testing
import pytest
from dramatiq import Message

from actors import lifecycle
from actors.job_request import JobRequest
from actors.record import JobRecord
from actors.states import State
from actors.submission import submit, submit_many
from services.dashboard.app import create_app
from services.dashboard.jobs import PAGE_SIZE
from services.dashboard.streams import STREAM_SLOTS

from ..support import basic


def job(queue, actor: str = "add", *args) -> JobRecord:
    return submit(queue, JobRequest(actor=actor, args=list(args or (1, 2))))[1]


def listed(page: falcon.testing.Result) -> list[str]:
    """The job ids the list shows, in order."""
    return re.findall(r'<a href="/admin/jobs/([^"]+)">', page.text)


def waiting_message(queue) -> Message:
    """The one message waiting on the default queue, as the broker stored it."""
    (data,) = queue.broker.client.hvals("dramatiq:default.msgs")
    return Message.decode(data)


def dead(queue, record: JobRecord, error: Exception) -> None:
    """Run ``record``'s job as a worker would, and let it die of ``error``."""
    queue.store.write(record.id, lifecycle.start_unrecorded(waiting_message(queue)))
    queue.broker.client.delete("dramatiq:default", "dramatiq:default.msgs")
    queue.store.write(record.id, lifecycle.finish(exception=error, retried=False, permanent=False))


def post(admin, page: falcon.testing.Result, path: str, with_token: bool = True):
    """Press a button of ``page`` as a browser does, with the CSRF cookie the page set."""
    token = page.cookies["__dd_csrf"].value
    return admin.simulate_post(
        path,
        body=urlencode({"__dd_csrf": token} if with_token else {}),
        headers={
            "Cookie": f"__dd_csrf={token}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )


def test_the_list_shows_records_newest_first(admin, queue):
    first, second, third = (job(queue, "add", n, 1) for n in range(3))

    page = admin.simulate_get("/admin/jobs")

    assert page.status_code == 200
    assert listed(page) == [third.id, second.id, first.id]
    assert 'id="next-page"' not in page.text


def test_the_list_filters_by_state_and_actor(admin, queue):
    added = job(queue, "add", 1, 2)
    counting = job(queue, "count_slowly", 3)
    cancelled = job(queue, "count_slowly", 4)
    queue.store.write(cancelled.id, lifecycle.cancel())

    assert listed(admin.simulate_get("/admin/jobs", params={"actor": "count_slowly"})) == [
        cancelled.id,
        counting.id,
    ]
    assert listed(admin.simulate_get("/admin/jobs", params={"state": State.CANCELLED})) == [
        cancelled.id
    ]
    both = admin.simulate_get("/admin/jobs", params={"state": State.QUEUED, "actor": "add"})
    assert listed(both) == [added.id]
    # The form shows what is filtered; an empty field filters nothing.
    assert f'<option value="{State.QUEUED}" selected>' in both.text
    assert len(listed(admin.simulate_get("/admin/jobs?state=&actor="))) == 3


def test_the_list_pages_with_the_stores_cursor_keeping_the_filter(admin, queue):
    _created, records = submit_many(
        queue, [JobRequest(actor="add", args=[n, 1]) for n in range(PAGE_SIZE + 3)]
    )
    job(queue, "count_slowly", 2)
    newest_first = [record.id for record in reversed(records)]

    first = admin.simulate_get("/admin/jobs", params={"actor": "add"})
    assert listed(first) == newest_first[:PAGE_SIZE]
    next_link = re.search(r'id="next-page" href="([^"]+)"', first.text)[1]
    path, _, query = html.unescape(next_link).partition("?")
    second = admin.simulate_get(path, query_string=query)

    assert "actor=add" in query
    assert listed(second) == newest_first[PAGE_SIZE:]
    assert 'id="next-page"' not in second.text


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("state=asleep", "state"),
        ("cursor=yesterday", "cursor"),
        ("cursor=99999999999999999999-0", "cursor"),
        ("colour=red", "colour"),
    ],
)
def test_a_bad_query_is_a_400_naming_it(admin, query, named):
    result = admin.simulate_get("/admin/jobs", query_string=query)

    assert result.status_code == 400
    assert result.headers["Content-Type"] == "application/problem+json"
    assert named in result.json["detail"]


def test_a_jobs_page_shows_its_record(admin, queue):
    record = submit(queue, JobRequest(actor="count_slowly", kwargs={"to": 7, "interval": 0.01}))[1]

    page = admin.simulate_get(f"/admin/jobs/{record.id}")

    assert page.status_code == 200
    assert f'id="job-id">{record.id}<' in page.text
    assert f'data-state="{State.QUEUED}"' in page.text
    assert '"to": 7' in html.unescape(page.text)
    assert 'id="job-attempts">0<' in page.text
    # It follows the job over the event stream, after the event it shows, with a
    # script loaded as a file.
    ((last_event, _),) = queue.store.events(record.id)
    assert f'data-events="/admin/jobs/{record.id}/events?after={last_event}"' in page.text
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/admin/jobs/jobs.js" defer>']
    assert ">Cancel</button>" in page.text
    assert ">Retry</button>" not in page.text
    # No script but that file may run in the page.
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_what_a_user_submitted_is_shown_as_text(admin, queue):
    markup = "</pre><script>alert('x')</script><img src=x onerror=alert(1)>"
    record = submit(queue, JobRequest(actor="render_document", kwargs={"title": markup}))[1]

    page = admin.simulate_get(f"/admin/jobs/{record.id}")

    assert "<script>alert" not in page.text
    assert "<img" not in page.text
    assert markup in html.unescape(page.text)


def test_an_unknown_job_is_404(admin):
    result = admin.simulate_get("/admin/jobs/no-such-job")

    assert result.status_code == 404
    assert "no-such-job" in result.json["detail"]


def test_cancel_cancels_the_job_as_the_api_does(admin, queue):
    record = job(queue)
    page = admin.simulate_get(f"/admin/jobs/{record.id}")

    result = post(admin, page, f"/admin/jobs/{record.id}/cancel")

    assert result.status_code == 302
    assert result.headers["Location"] == f"/admin/jobs/{record.id}"
    assert queue.store.get(record.id).state is State.CANCELLED
    after = admin.simulate_get(f"/admin/jobs/{record.id}")
    assert ">Cancel</button>" not in after.text
    # The cancel button asks first.
    assert "data-confirm=" in page.text


def test_nothing_is_cancelled_without_the_csrf_token(admin, queue):
    record = job(queue)
    page = admin.simulate_get(f"/admin/jobs/{record.id}")

    result = post(admin, page, f"/admin/jobs/{record.id}/cancel", with_token=False)

    assert result.status_code == 403
    assert queue.store.get(record.id).state is State.QUEUED


def test_cancelling_an_ended_job_is_a_409_that_says_so(admin, queue):
    record = job(queue)
    page = admin.simulate_get(f"/admin/jobs/{record.id}")
    queue.store.write(record.id, lifecycle.cancel())

    result = post(admin, page, f"/admin/jobs/{record.id}/cancel")

    assert result.status_code == 409
    assert State.CANCELLED in result.json["detail"]


def test_a_dead_job_shows_its_error_and_retry_runs_it_again(admin, queue):
    record = job(queue, "fail", "the disk is full")
    dead(queue, record, RuntimeError("the disk is full"))
    page = admin.simulate_get(f"/admin/jobs/{record.id}")
    assert "RuntimeError</strong>: the disk is full" in page.text
    assert ">Cancel</button>" not in page.text

    result = post(admin, page, f"/admin/jobs/{record.id}/retry")

    assert result.status_code == 302
    retried = queue.store.get(record.id)
    assert retried.state is State.QUEUED
    assert retried.error is None
    # Its message is back on the queue, under the same job id.
    assert waiting_message(queue).message_id == record.id


def test_retrying_a_job_that_did_not_fail_is_a_409(admin, queue):
    record = job(queue)
    page = admin.simulate_get(f"/admin/jobs/{record.id}")

    result = post(admin, page, f"/admin/jobs/{record.id}/retry")

    assert result.status_code == 409
    assert queue.store.get(record.id).state is State.QUEUED


def test_a_job_and_its_message_page_link_to_each_other(admin, queue):
    record = job(queue)
    message = waiting_message(queue)
    queue.store.write(record.id, lifecycle.start_unrecorded(message))
    message_page = f"/admin/queues/default/standard/{message.options['redis_message_id']}"

    page = admin.simulate_get(f"/admin/jobs/{record.id}")
    theirs = admin.simulate_get(message_page)

    assert f'id="message-page" href="{message_page}"' in page.text
    assert f'href="/admin/jobs/{record.id}">Job record</a>' in theirs.text


def test_a_job_whose_message_is_gone_has_no_message_link(admin, queue):
    record = job(queue)
    queue.store.write(record.id, lifecycle.start_unrecorded(waiting_message(queue)))
    queue.broker.client.delete("dramatiq:default.msgs")

    page = admin.simulate_get(f"/admin/jobs/{record.id}")

    assert page.status_code == 200
    assert 'id="message-page"' not in page.text


def test_the_dashboards_pages_link_to_the_jobs(admin):
    for path in ("/admin/", "/admin/queues/default"):
        assert 'href="/admin/jobs"' in admin.simulate_get(path).text
    # And the job pages lead back to the dashboard, through its navigation.
    assert 'href="/admin/"' in admin.simulate_get("/admin/jobs").text


def test_the_event_stream_is_the_apis_and_behind_the_credentials(settings, admin, queue):
    record = job(queue)
    queue.store.write(record.id, lifecycle.cancel())

    stream = admin.simulate_get(f"/admin/jobs/{record.id}/events")
    refused = falcon.testing.simulate_get(
        create_app(settings, queue=queue), f"/admin/jobs/{record.id}/events"
    )

    assert stream.status_code == 200
    assert stream.headers["Content-Type"] == "text/event-stream"
    # An ended job's stream replays its outcome.
    states = re.findall(r'^data: \{"state":"(\w+)"', stream.text, re.M)
    assert states == [State.CANCELLED]
    assert refused.status_code == 401
    assert admin.simulate_get("/admin/jobs/no-such-job/events").status_code == 404


def test_a_page_follows_the_events_after_those_it_shows(admin, queue):
    record = job(queue)
    page = admin.simulate_get(f"/admin/jobs/{record.id}")
    queue.store.write(record.id, lifecycle.cancel())
    stream = re.search(r'data-events="([^"]+)"', page.text)[1]
    path, _, query = html.unescape(stream).partition("?")

    later = admin.simulate_get(path, query_string=query)
    assert re.findall(r'^data: \{"state":"(\w+)"', later.text, re.M) == [State.CANCELLED]
    # A browser reconnecting says where it is itself: that wins. It has seen the
    # end, so there is nothing more to send.
    last_seen = re.search(r"^id: (\S+)", later.text, re.M)[1]
    resumed = admin.simulate_get(path, query_string=query, headers={"Last-Event-ID": last_seen})
    assert resumed.status_code == 204
    assert admin.simulate_get(path, query_string="after=soon").status_code == 400


def test_the_page_script_is_served_and_spells_no_state(admin):
    script = admin.simulate_get("/admin/jobs/jobs.js")

    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert "EventSource" in script.text
    assert {state.value for state in State}.isdisjoint(
        re.findall(r"""["'](\w+)["']""", script.text)
    )


def test_redis_down_is_503_with_retry_after(unreachable_settings):
    admin = falcon.testing.TestClient(
        create_app(unreachable_settings), headers=basic("admin", "test-password")
    )

    result = admin.simulate_get("/admin/jobs")

    assert result.status_code == 503
    assert result.headers["Retry-After"] == "5"


def test_streams_beyond_the_dashboards_slots_are_refused_and_pages_still_served(settings, queue):
    app = create_app(settings, queue=queue)
    record = job(queue)
    path = f"/admin/jobs/{record.id}/events"
    headers = basic("admin", "test-password")
    statuses: list[str] = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    held = [
        app(falcon.testing.create_environ(path, headers=headers), start_response)
        for _ in range(STREAM_SLOTS + 1)
    ]
    try:
        page = falcon.testing.simulate_get(app, f"/admin/jobs/{record.id}", headers=headers)
    finally:
        for body in held:
            # As a WSGI server does when a client leaves; a refusal has nothing to close.
            if hasattr(body, "close"):
                body.close()

    assert statuses == ["200 OK"] * STREAM_SLOTS + ["503 Service Unavailable"]
    assert page.status_code == 200


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/admin/jobs/<script>", "job id"),
        ("/admin/jobs/x/events?after=1-99999999999999999999", "after"),
    ],
)
def test_a_bad_job_path_is_a_400_naming_it(admin, path, named):
    result = admin.simulate_get(path)

    assert result.status_code == 400
    assert named in result.json["detail"]
