"""The actors' own logic, called as plain functions, and the checks run before one is enqueued."""

from __future__ import annotations

import dataclasses

import dramatiq
import pytest

import actors
from actors import JobCancelled, job, progress, report_progress
from actors.job_request import JobRequest
from actors.jobs import PermanentError, add, count_slowly, fail, render_document
from actors.lanes import PRIORITIES, job_name, lane
from actors.limits import Limit
from actors.registry import JobSpec, specs
from actors.submission import InvalidJob, check, prepare_message


@pytest.fixture
def reported():
    """Progress reports of the job run in this thread, as (value, note) pairs."""
    calls: list[tuple[float, str]] = []
    progress.install(lambda value, note: calls.append((value, note)))
    yield calls
    progress.install(None)


# render_document -----------------------------------------------------------


def test_render_document_fills_in_the_fields():
    result = render_document(title="Invoice 7", name="Ada", message="Thanks for your order.")

    html = result["html"]
    assert "<title>Invoice 7</title>" in html
    assert "Dear Ada," in html
    assert "Thanks for your order." in html
    assert result["bytes"] == len(html.encode())


def test_render_document_escapes_the_fields():
    result = render_document(
        title="</title><script>alert(1)</script>", name="<b>Ada</b>", message="Tom & Jerry"
    )

    html = result["html"]
    assert "<script>" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Ada&lt;/b&gt;" in html
    assert "Tom &amp; Jerry" in html


def test_render_document_counts_bytes_not_characters():
    result = render_document(name="Zoë 😀")

    assert result["bytes"] == len(result["html"].encode("utf-8"))
    assert result["bytes"] > len(result["html"])


# add, count_slowly, fail ---------------------------------------------------


def test_add_adds():
    assert add(2, 3) == 5
    assert add(0.5, 0.25) == 0.75


def test_count_slowly_reports_each_step(reported):
    assert count_slowly(to=4, interval=0) == 4

    assert reported == [
        (0.25, "counted 1 of 4"),
        (0.5, "counted 2 of 4"),
        (0.75, "counted 3 of 4"),
        (1.0, "counted 4 of 4"),
    ]


def test_count_slowly_stops_when_its_progress_report_says_cancelled(built_queue):
    # The job-state middleware's reporter raises JobCancelled when the job
    # was cancelled; the actor (as bound to the broker) then ends quietly.
    steps = []

    def reporter(value, note):
        steps.append(value)
        if len(steps) == 2:
            raise JobCancelled()

    progress.install(reporter)
    try:
        assert built_queue.actors["count_slowly"].fn(to=10, interval=0) is None
    finally:
        progress.install(None)
    assert steps == [0.1, 0.2]


def test_report_progress_outside_a_worker_does_nothing():
    progress.install(None)
    report_progress(0.5, "half way")  # no reporter: no error, nothing to see


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_report_progress_refuses_values_outside_0_to_1(reported, value):
    with pytest.raises(ValueError, match="between 0 and 1"):
        report_progress(value)
    assert reported == []


def test_fail_raises_a_retryable_error_by_default():
    with pytest.raises(RuntimeError, match="boom") as raised:
        fail(message="boom")
    assert not isinstance(raised.value, PermanentError)


def test_fail_raises_a_permanent_error_when_asked():
    with pytest.raises(PermanentError, match="no use retrying"):
        fail(message="no use retrying", permanent=True)


# Registry and the actors bound to a real broker ------------------------------


def test_every_job_is_declared_on_the_default_queue():
    # The service's own jobs; other test modules declare jobs of their own.
    declared = {name: spec for name, spec in specs().items() if spec.fn.__module__ == "actors.jobs"}

    assert {"render_document", "add", "count_slowly", "fail"} <= set(declared)
    assert declared["render_document"].public
    assert all(spec.queue == "default" for spec in declared.values())


def test_bound_actors_carry_their_retry_policy(built_queue):
    queue = built_queue
    fail_actor = queue.actors["fail"]
    count_actor = queue.actors["count_slowly"]

    assert fail_actor.options["max_retries"] == 2
    # A permanent error, and a cancellation, end the job without retries.
    assert PermanentError in fail_actor.options["throws"]
    assert JobCancelled in fail_actor.options["throws"]
    assert count_actor.options["max_retries"] == 0
    # Every job in every priority lane, each lane a queue of its own.
    assert set(queue.actors) == {
        lane(name, priority) for name in queue.specs for priority in PRIORITIES
    }
    assert queue.actors["add-high"].queue_name == "default-high"
    assert queue.actors["add-high"].priority < queue.actors["add"].priority
    assert queue.actors["add"].priority < queue.actors["add-low"].priority
    assert {actor.queue_name for actor in queue.actors.values()} == {
        "default",
        "default-high",
        "default-low",
    }


@pytest.mark.parametrize("encoder", [dramatiq.JSONEncoder(), dramatiq.PickleEncoder()])
def test_a_prepared_message_is_what_dramatiqs_encoder_makes_of_it(built_queue, encoder):
    request = JobRequest(actor="add", args=["Grüße ✓", 2], options={"delay": 5})
    previous = dramatiq.get_encoder()
    dramatiq.set_encoder(encoder)
    try:
        sent = prepare_message(built_queue, request)
        assert sent.data == sent.message.encode()
        assert dramatiq.Message.decode(sent.data) == sent.message
    finally:
        dramatiq.set_encoder(previous)


# submission.check ----------------------------------------------------------


def test_check_accepts_valid_calls():
    declared = specs()

    check(declared["add"], JobRequest(actor="add", args=[1, 2.5]))
    check(declared["add"], JobRequest(actor="add", kwargs={"a": 1, "b": 2}))
    check(declared["render_document"], JobRequest(actor="render_document"))
    check(
        declared["count_slowly"], JobRequest(actor="count_slowly", kwargs={"to": 3, "interval": 1})
    )
    check(declared["fail"], JobRequest(actor="fail", kwargs={"permanent": True}))


def test_check_refuses_an_unknown_job():
    with pytest.raises(InvalidJob, match="no public job is named 'nope'"):
        check(None, JobRequest(actor="nope"))


def test_check_refuses_a_job_that_is_not_public():
    secret = JobSpec(fn=lambda: None, name="secret", queue="default", public=False)

    with pytest.raises(InvalidJob, match="no public job is named 'secret'"):
        check(secret, JobRequest(actor="secret"))


@pytest.mark.parametrize(
    ("request_", "complaint"),
    [
        (JobRequest(actor="add", kwargs={"a": 1}), "arguments do not fit add"),
        (JobRequest(actor="add", args=[1, 2, 3]), "arguments do not fit add"),
        (JobRequest(actor="add", kwargs={"a": 1, "b": 2, "c": 3}), "arguments do not fit add"),
        (
            JobRequest(actor="add", kwargs={"a": "1", "b": 2}),
            "'a' of add: Input should be a valid number",
        ),
        (
            JobRequest(actor="count_slowly", kwargs={"to": 2.5}),
            "'to' of count_slowly: Input should be a valid integer",
        ),
        (
            JobRequest(actor="count_slowly", kwargs={"to": True}),
            "'to' of count_slowly: Input should be a valid integer",
        ),
        (
            JobRequest(actor="render_document", kwargs={"name": 7}),
            "'name' of render_document: Input should be a valid string",
        ),
        (
            JobRequest(actor="fail", kwargs={"permanent": "yes"}),
            "'permanent' of fail: Input should be a valid boolean",
        ),
    ],
)
def test_check_refuses_arguments_that_do_not_fit(request_, complaint):
    with pytest.raises(InvalidJob, match=complaint):
        check(specs()[request_.actor], request_)


def _job(a, b, c=3, d=4):
    """Parameters that may all come by position or by name, two with defaults."""


def _named_only(a, *, b):
    """A parameter that must come by name."""


@pytest.mark.parametrize(
    ("fn", "args", "kwargs"),
    [
        (_named_only, [], {}),
        (_named_only, [1], {}),
        (_named_only, [1], {"b": 2}),
        (_named_only, [], {"a": 1, "b": 2}),
        (_job, [1, 2], {}),
        (_job, [1, 2, 5, 6], {}),
        (_job, [], {"a": 1, "b": 2}),
        (_job, [], {"b": 2, "a": 1, "d": 6}),
        (_job, [1], {"b": 2, "c": 5}),
        (_job, [1, 2, 5], {"d": 6}),
        # What does not fit.
        (_job, [1], {}),
        (_job, [1, 2, 3, 4, 5], {}),
        (_job, [], {"a": 1}),
        (_job, [1], {"a": 1, "b": 2}),
        (_job, [1, 2], {"e": 5}),
        (_job, [1], {"c": 5}),
    ],
)
def test_arguments_are_bound_as_the_signature_binds_them(fn, args, kwargs):
    spec = JobSpec(fn=fn, name="job", queue="default", public=True)
    try:
        expected = dict(spec.signature.bind(*args, **kwargs).arguments)
    except TypeError:
        with pytest.raises(TypeError):
            spec.bind(args, kwargs)
    else:
        assert spec.bind(args, kwargs) == expected


def test_lane_actors_run_the_job_they_name():
    assert lane("add", "normal") == "add"
    assert lane("add", "high") == "add-high"
    assert job_name("add-high") == "add"
    assert job_name("add-low") == "add"
    assert job_name("add") == "add"
    # Job names are identifiers: only a lane's suffix holds a dash.
    assert job_name("count_slowly-high") == "count_slowly"


# Declaring jobs ---------------------------------------------------------------


@pytest.mark.parametrize("typo", ["max_retry", "timeout", "retries"])
def test_an_option_no_middleware_reads_is_refused_when_the_job_is_declared(typo):
    with pytest.raises(ValueError, match=f"unknown job options: {typo}"):

        @job(**{typo: 3})
        def misconfigured() -> None:
            """Never declared."""

    assert "misconfigured" not in specs()


def test_options_of_dramatiq_middleware_are_accepted():
    @job(max_age=1000, notify_shutdown=True, retry_when=None, on_success=None)
    def well_configured() -> None:
        """Declared with options of AgeLimit, ShutdownNotifications, Retries, Callbacks."""

    assert specs()["well_configured"].options["max_age"] == 1000


def test_the_queue_has_the_jobs_of_the_modules_it_is_told_of(unreachable_settings):
    settings = unreachable_settings
    default = actors.connect(settings.queue_config())
    both = actors.connect(
        dataclasses.replace(
            settings, job_modules="actors.jobs, tests.unit.more_jobs"
        ).queue_config()
    )

    assert "tally" not in default.specs and "tally" not in default.actors
    assert {"add", "tally"} <= set(both.specs)
    assert both.actors["tally-high"].queue_name == "reports-high"


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"concurrency": 2}, {"concurrency": 2, "rate": None}),
        ({"rate": "100/s"}, {"concurrency": None, "rate": "100/s"}),
        ({"rate": " 5 / m "}, {"concurrency": None, "rate": "5/m"}),
        ({"rate": "10/30s", "concurrency": 1}, {"concurrency": 1, "rate": "10/30s"}),
        ({"rate": "60/60s"}, {"concurrency": None, "rate": "60/m"}),
    ],
)
def test_limits_read_as_declared(options, shown):
    assert Limit.of(options).describe() == shown


def test_a_job_declares_its_limits():
    @job(concurrency=3, rate="100/s", max_retries=0)
    def limited() -> None:
        """Declared with limits."""

    assert specs()["limited"].limit == Limit(concurrency=3, count=100, period_ms=1000)
    assert specs()["add"].limit is None


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"concurrency": 0}, "concurrency must be a whole number of at least 1"),
        ({"concurrency": "2"}, "concurrency must be a whole number of at least 1"),
        ({"rate": "100"}, "rate must be starts per period"),
        ({"rate": "0/s"}, "rate must be starts per period"),
        ({"rate": "5/0s"}, "rate must be starts per period"),
        ({"rate": "5/week"}, "rate must be starts per period"),
        ({"rate": 100}, "rate must be starts per period"),
    ],
)
def test_a_limit_that_is_not_valid_is_refused_when_the_job_is_declared(options, complaint):
    with pytest.raises(ValueError, match=complaint):

        @job(**options)
        def misconfigured() -> None:
            """Never declared."""

    assert "misconfigured" not in specs()
