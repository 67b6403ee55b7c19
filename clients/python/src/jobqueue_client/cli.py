"""``jobqueue``: submit, follow and manage jobs from a shell.

Exit codes, for scripts:

====  ==========================================================================
0     done; with ``--wait`` or ``watch``, the job succeeded
1     the job ended without succeeding (failed, dead or cancelled)
2     the command or the request was refused (bad arguments, unknown job kind, no key)
3     no such job
4     the job's state does not allow it (cancelling an ended job, retrying a live one)
5     the service could not be reached, or cannot answer now
6     ``--timeout`` passed before the job ended
====  ==========================================================================
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from pydantic import BaseModel

from .client import Client
from .errors import (
    Conflict,
    ConnectionFailed,
    InvalidRequest,
    JobQueueError,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)
from .models import Event, Job, State

OK, NOT_SUCCEEDED, REFUSED, NOT_FOUND, CONFLICT, UNAVAILABLE, TIMED_OUT = range(7)

_EXIT_CODES: list[tuple[type[JobQueueError], int]] = [
    (InvalidRequest, REFUSED),
    (Unauthorized, REFUSED),
    (NotFound, NOT_FOUND),
    (Conflict, CONFLICT),
    (Unavailable, UNAVAILABLE),
    (RateLimited, UNAVAILABLE),
    (ConnectionFailed, UNAVAILABLE),
    (WaitTimeout, TIMED_OUT),
]

#: Width of the progress bar, in characters.
BAR_WIDTH = 30


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    out = Output(sys.stdout, as_json=options.json)
    client = Client(options.url, api_key=options.api_key)
    try:
        with client:
            return options.command(client, options, out)
    except WaitTimeout as error:
        out.job(error.job)
        print(f"jobqueue: {error}", file=sys.stderr)
        return TIMED_OUT
    except ConnectionFailed as error:
        where = str(client.http.base_url).rstrip("/")
        print(f"jobqueue: cannot reach the service at {where}: {error}", file=sys.stderr)
        return UNAVAILABLE
    except JobQueueError as error:
        print(f"jobqueue: {error}", file=sys.stderr)
        return next((code for kind, code in _EXIT_CODES if isinstance(error, kind)), REFUSED)
    except KeyboardInterrupt:
        return 130


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobqueue",
        description="Submit, follow and manage jobs of a jobqueue service.",
        epilog="Exit codes: 0 done (with --wait or watch: succeeded), 1 the job failed, died "
        "or was cancelled, 2 refused, 3 no such job, 4 not in a state that allows it, "
        "5 service unreachable or unavailable, 6 --timeout passed.",
    )
    _common(parser, None)
    # The same options after the command (jobqueue list --json), without
    # overriding those given before it.
    common = argparse.ArgumentParser(add_help=False)
    _common(common, argparse.SUPPRESS)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    add = functools.partial(commands.add_parser, parents=[common])

    submit = add("submit", help="submit a job")
    submit.add_argument("actor", help="the job's name (see: jobqueue actors)")
    submit.add_argument("args", nargs="*", help="arguments, each JSON if it reads as JSON")
    submit.add_argument(
        "-k",
        "--kwarg",
        action="append",
        default=[],
        type=_named,
        metavar="NAME=VALUE",
        help="a named argument, its value JSON if it reads as JSON",
    )
    submit.add_argument("--delay", type=float, help="seconds before it may start")
    submit.add_argument("--max-retries", type=int)
    submit.add_argument("--time-limit", type=float, help="seconds one attempt may run")
    submit.add_argument("--priority", choices=["high", "normal", "low"])
    submit.add_argument("--key", help="idempotency key: the same key submits once")
    submit.add_argument("-q", "--quiet", action="store_true", help="print the job's id only")
    _waiting(submit)
    submit.set_defaults(command=_submit)

    status = add("status", help="show a job")
    status.add_argument("job_id")
    _waiting(status)
    status.set_defaults(command=_status)

    watch = add("watch", help="follow a job until it ends, with its progress")
    watch.add_argument("job_id")
    watch.set_defaults(command=_watch)

    listing = add("list", help="list jobs, newest first")
    listing.add_argument("--state", choices=[state.value for state in State])
    listing.add_argument("--actor")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--cursor", help="the next_cursor of a previous page")
    listing.set_defaults(command=_list)

    cancel = add("cancel", help="cancel a job")
    cancel.add_argument("job_id")
    cancel.set_defaults(command=_cancel)

    retry = add("retry", help="run a failed or dead job again")
    retry.add_argument("job_id")
    _waiting(retry)
    retry.set_defaults(command=_retry)

    actors = add("actors", help="the jobs you may submit")
    actors.set_defaults(command=_actors)
    return parser


def _common(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--url",
        default=default,
        help="the service (default: $JOBQUEUE_URL, else http://localhost)",
    )
    parser.add_argument(
        "--api-key", default=default, help="an API key (default: $JOBQUEUE_API_KEY)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default or False,
        help="print JSON (events: one a line)",
    )


def _waiting(command: argparse.ArgumentParser) -> None:
    command.add_argument("--wait", action="store_true", help="wait until the job ends")
    command.add_argument("--timeout", type=float, help="with --wait: give up after this long")


# Commands ---------------------------------------------------------------------


def _submit(client: Client, options: argparse.Namespace, out: Output) -> int:
    job = client.submit(
        options.actor,
        [_value(arg) for arg in options.args],
        dict(options.kwarg),
        idempotency_key=options.key,
        delay=options.delay,
        max_retries=options.max_retries,
        time_limit=options.time_limit,
        priority=options.priority,
    )
    if options.quiet and not options.wait:
        out.line(job.id)
        return OK
    return _show(client, job, options, out)


def _status(client: Client, options: argparse.Namespace, out: Output) -> int:
    return _show(client, client.get(options.job_id), options, out)


def _retry(client: Client, options: argparse.Namespace, out: Output) -> int:
    return _show(client, client.retry(options.job_id), options, out)


def _cancel(client: Client, options: argparse.Namespace, out: Output) -> int:
    out.job(client.cancel(options.job_id))
    return OK


def _show(client: Client, job: Job, options: argparse.Namespace, out: Output) -> int:
    if options.wait:
        job = client.wait(job.id, timeout=options.timeout)
        out.job(job)
        return _outcome(job)
    out.job(job)
    return OK


def _watch(client: Client, options: argparse.Namespace, out: Output) -> int:
    job = client.get(options.job_id)
    if not job.ended:
        for event in client.events(job.id):
            out.event(event)
        out.end_progress()
        job = client.get(job.id)
    out.job(job)
    return _outcome(job)


def _list(client: Client, options: argparse.Namespace, out: Output) -> int:
    page = client.list(
        state=options.state, actor=options.actor, limit=options.limit, cursor=options.cursor
    )
    if out.as_json:
        out.model(page)
        return OK
    rows = [
        (job.id, job.state, job.actor, _time(job.enqueued_at), str(job.attempts))
        for job in page.jobs
    ]
    out.table(("ID", "STATE", "ACTOR", "ENQUEUED", "ATTEMPTS"), rows)
    if page.next_cursor:
        print(f"more: jobqueue list --cursor {page.next_cursor}", file=sys.stderr)
    return OK


def _actors(client: Client, options: argparse.Namespace, out: Output) -> int:
    actors = client.actors()
    if out.as_json:
        out.line(json.dumps([actor.model_dump(mode="json") for actor in actors]))
        return OK
    for actor in actors:
        parameters = ", ".join(
            p.name + ("" if p.required else f"={json.dumps(p.default)}") for p in actor.parameters
        )
        out.line(f"{actor.name}({parameters})")
        out.line(f"    {actor.description}")
    return OK


def _outcome(job: Job) -> int:
    return OK if job.state is State.SUCCEEDED else NOT_SUCCEEDED


# Arguments --------------------------------------------------------------------


def _value(text: str) -> Any:
    """An argument as typed: JSON when it reads as JSON (1, 2.5, true, [1]), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _named(pair: str) -> tuple[str, Any]:
    name, sep, value = pair.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{pair!r}: write NAME=VALUE")
    return name, _value(value)


def _time(moment: Any) -> str:
    return "" if moment is None else moment.isoformat(timespec="seconds")


# Output -----------------------------------------------------------------------


class Output:
    """What the commands print: text for people, or JSON for scripts (``--json``)."""

    def __init__(self, stream: TextIO, *, as_json: bool):
        self.stream = stream
        self.as_json = as_json
        #: A progress bar is drawn over itself on a terminal, a line each elsewhere.
        self.redraw = stream.isatty()
        self._bar_shown = False

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def model(self, value: BaseModel) -> None:
        self.line(value.model_dump_json(exclude_none=False))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        columns = zip(header, *rows, strict=True)
        widths = [max(len(str(cell)) for cell in column) for column in columns]
        for row in (header, *rows):
            cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
            self.line("  ".join(cells).rstrip())

    def job(self, job: Job) -> None:
        if self.as_json:
            self.model(job)
            return
        arguments = [json.dumps(arg) for arg in job.args]
        arguments += [f"{name}={json.dumps(value)}" for name, value in job.kwargs.items()]
        fields = [
            ("id", job.id),
            ("state", job.state),
            ("job", f"{job.actor}({', '.join(arguments)})"),
            ("attempts", job.attempts),
            ("worker", job.worker_name),
            ("enqueued", _time(job.enqueued_at)),
            ("duration", _duration(job)),
            ("progress", job.progress and f"{job.progress.value:.0%} {job.progress.message}"),
            ("result", None if job.result is None else json.dumps(job.result)),
            ("error", job.error and f"{job.error.type}: {job.error.message}"),
        ]
        for name, value in fields:
            if value not in (None, ""):
                self.line(f"{name:<9} {value}")
        if job.error and job.error.traceback:
            self.line(job.error.traceback.rstrip())

    def event(self, event: Event) -> None:
        if self.as_json:
            self.line(event.model_dump_json())
            return
        progress = event.data.progress
        if progress is None:
            self.end_progress()
            self.line(f"{event.data.at.time().isoformat(timespec='seconds')}  {event.data.state}")
            return
        filled = round(progress.value * BAR_WIDTH)
        bar = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {progress.value:4.0%}"
        bar += f"  {progress.message}"
        if self.redraw:
            self.stream.write(f"\r\x1b[K{bar}")
            self.stream.flush()
            self._bar_shown = True
        else:
            self.line(bar)

    def end_progress(self) -> None:
        if self._bar_shown:
            self.stream.write("\n")
            self._bar_shown = False


def _duration(job: Job) -> str | None:
    if job.started_at is None or job.finished_at is None:
        return None
    return f"{(job.finished_at - job.started_at).total_seconds():.3f} s"


if __name__ == "__main__":
    sys.exit(main())
