"""Retry-all and delete-all of a queue's dead letters, against a real Redis."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import falcon.testing
import pytest
from dramatiq import Message

from services.dashboard.dead_letters import DeadLetters


def dead_letter(queue, count: int) -> list[Message]:
    """Send ``count`` jobs to the default queue and dead-letter them as a failing worker does."""
    sent = [queue.actors["add"].send(number, 1) for number in range(count)]
    consumer = queue.broker.consume("default", prefetch=count, timeout=100)
    try:
        for _ in sent:
            message = next(message for message in consumer if message is not None)
            message.options["retries"] = 3
            consumer.nack(message)
    finally:
        consumer.close()
    return sent


def dead(queue) -> dict[str, Message]:
    """The dead letters of the default queue, by job id."""
    messages = queue.broker.client.hvals("dramatiq:default.XQ.msgs")
    return {m.message_id: m for m in map(Message.decode, messages)}


def waiting(queue) -> list[Message]:
    """The messages waiting on the default queue, in order."""
    client = queue.broker.client
    ids = client.lrange("dramatiq:default", 0, -1)
    return [Message.decode(client.hget("dramatiq:default.msgs", i)) for i in ids]


def confirm_form(page: str) -> tuple[str, dict[str, str]]:
    form = re.search(r'<form action="([^"]+)" method="POST">(.*?)</form>', page, re.S)
    assert form, "the page asks for no confirmation"
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[2])
    return form[1], dict(fields)


def submit(admin, page: falcon.testing.Result, path: str, fields: dict[str, str]):
    """Post a form of ``page`` with the CSRF cookie that page set, as a browser does."""
    headers = {
        "Cookie": f"__dd_csrf={page.cookies['__dd_csrf'].value}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return admin.simulate_post(path, body=urlencode(fields), headers=headers)


def confirm(admin, queue_name: str, action: str) -> falcon.testing.Result:
    """Open the confirmation page and press its button."""
    page = admin.simulate_get(f"/admin/dead-letters/{queue_name}/{action}")
    assert page.status_code == 200
    return submit(admin, page, *confirm_form(page.text))


def test_the_failed_tab_links_to_retry_all_and_delete_all(admin, queue):
    empty = admin.simulate_get("/admin/queues/default/failed")
    assert "Retry all" not in empty.text

    dead_letter(queue, 2)

    failed_tab = admin.simulate_get("/admin/queues/default/failed")
    assert 'href="/admin/dead-letters/default/retry">Retry all</a>' in failed_tab.text
    assert 'href="/admin/dead-letters/default/delete">Delete all</a>' in failed_tab.text
    # The page is dramatiq-dashboard's still, with its own buttons, in the console's words.
    assert failed_tab.text.count(">Retry</button>") == 2
    assert "Retry all" not in admin.simulate_get("/admin/queues/default").text


@pytest.mark.parametrize("action", ["retry", "delete"])
def test_the_confirmation_page_counts_and_changes_nothing(admin, queue, action):
    dead_letter(queue, 2)

    page = admin.simulate_get(f"/admin/dead-letters/default/{action}")

    assert page.status_code == 200
    assert re.search(r'<strong id="dead-count">2</strong> dead\s+letters', page.text)
    path, fields = confirm_form(page.text)
    assert path == f"/admin/dead-letters/default/{action}"
    assert fields["__dd_csrf"] == page.cookies["__dd_csrf"].value
    assert len(dead(queue)) == 2
    assert waiting(queue) == []


def test_retry_all_puts_every_dead_letter_back_as_requeue_does(admin, queue):
    sent = dead_letter(queue, 3)
    queue.broker.client.delete("dramatiq:default.wake")

    result = confirm(admin, "default", "retry")

    assert result.status_code == 302
    assert result.headers["Location"] == "/admin/queues/default/failed"
    assert dead(queue) == {}
    requeued = waiting(queue)
    # The same jobs (same ids and arguments), with their retries reset.
    assert sorted((m.message_id, m.args) for m in requeued) == sorted(
        (m.message_id, m.args) for m in sent
    )
    assert {m.options["retries"] for m in requeued} == {0}
    assert {m.queue_name for m in requeued} == {"default"}
    # An idle worker is woken for them, as by any enqueue.
    assert queue.broker.client.llen("dramatiq:default.wake") == 1
    # Each under a new Redis id: one that a worker fetches like any other message.
    consumer = queue.broker.consume("default", prefetch=3, timeout=100)
    fetched = [next(m for m in consumer if m is not None) for _ in requeued]
    consumer.close()
    assert {m.message_id for m in fetched} == {m.message_id for m in sent}


def test_delete_all_empties_the_dead_letters_and_queues_nothing(admin, queue):
    dead_letter(queue, 3)

    result = confirm(admin, "default", "delete")

    assert result.status_code == 302
    assert dead(queue) == {}
    assert waiting(queue) == []
    failed_tab = admin.simulate_get("/admin/queues/default/failed")
    assert "There are no jobs in this queue." in failed_tab.text


@pytest.mark.parametrize("action", ["retry", "delete"])
def test_letters_that_die_after_the_confirmation_are_left_alone(admin, queue, action):
    dead_letter(queue, 2)
    page = admin.simulate_get(f"/admin/dead-letters/default/{action}")
    path, fields = confirm_form(page.text)
    (later,) = dead_letter(queue, 1)
    # Dead-letter times are milliseconds: make sure the later one is later.
    queue.broker.client.zincrby("dramatiq:default.XQ", 1, later.options["redis_message_id"])

    submit(admin, page, path, fields)

    assert list(dead(queue)) == [later.message_id]


def test_letters_requeued_meanwhile_are_not_requeued_again(queue):
    """Two admins confirming at once: each letter goes back once, not twice."""
    dead_letter(queue, 2)
    letters = DeadLetters(queue)
    _, dead_before = letters.newest("default")
    seen_ids = letters.ids("default", dead_before)
    seen_messages = letters.messages("default", seen_ids)

    class SecondAdmin(DeadLetters):
        """Read the letters before the first admin requeued them; moves after."""

        def ids(self, queue_name, dead_before):
            return seen_ids

        def messages(self, queue_name, ids):
            return seen_messages

    assert letters.retry_all("default", dead_before) == 2
    assert SecondAdmin(queue).retry_all("default", dead_before) == 0
    assert len(waiting(queue)) == 2


def test_a_letter_that_is_not_a_message_stays_dead(queue):
    dead_letter(queue, 1)
    client = queue.broker.client
    client.zadd("dramatiq:default.XQ", {"garbage": 1})
    client.hset("dramatiq:default.XQ.msgs", "garbage", b"not json")
    letters = DeadLetters(queue)

    assert letters.retry_all("default", letters.newest("default")[1]) == 1
    assert client.hget("dramatiq:default.XQ.msgs", "garbage") == b"not json"


def test_nothing_happens_without_the_csrf_token(admin, queue):
    dead_letter(queue, 2)
    page = admin.simulate_get("/admin/dead-letters/default/retry")
    path, fields = confirm_form(page.text)
    del fields["__dd_csrf"]

    result = submit(admin, page, path, fields)

    assert result.status_code == 403
    assert len(dead(queue)) == 2


def test_a_queue_without_dead_letters_has_nothing_to_confirm(admin):
    page = admin.simulate_get("/admin/dead-letters/default/delete")

    assert page.status_code == 200
    assert "has no dead letters" in html.unescape(page.text)
    assert "<form" not in page.text


# The Retry button of one dead letter --------------------------------------------


def requeue_form(page: str) -> tuple[str, dict[str, str]]:
    form = re.search(
        r'<form action="([^"]*requeue-message)" method="POST">(.*?)</form>', page, re.S
    )
    assert form, "the page has no Retry button"
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[2])
    return form[1], dict(fields)


def test_requeue_puts_the_letter_back_and_shows_it(admin, queue):
    (sent,) = dead_letter(queue, 1)
    failed_tab = admin.simulate_get("/admin/queues/default/failed")

    result = submit(admin, failed_tab, *requeue_form(failed_tab.text))

    assert result.status_code == 302
    (requeued,) = waiting(queue)
    assert requeued.message_id == sent.message_id
    assert requeued.options["retries"] == 0
    new_id = requeued.options["redis_message_id"]
    assert result.headers["Location"] == f"/admin/queues/default/standard/{new_id}"
    assert dead(queue) == {}


def test_requeue_clicked_twice_queues_the_job_once(admin, queue):
    dead_letter(queue, 1)
    failed_tab = admin.simulate_get("/admin/queues/default/failed")
    path, fields = requeue_form(failed_tab.text)

    assert submit(admin, failed_tab, path, fields).status_code == 302
    second = submit(admin, failed_tab, path, fields)

    assert second.status_code == 410
    assert len(waiting(queue)) == 1
