"""Dead-letter pages: retry-all and delete-all, and a Requeue that cannot run a job twice;
and dramatiq-dashboard's queue pages, for the queues there are.

They are built on dramatiq-dashboard's own machinery: its request handling,
its CSRF protection (the ``__dd_csrf`` cookie and form field), its templates
and look. Its queue page is extended, through its template environment, with
links to them on the failed tab.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from dramatiq.common import q_name
from dramatiq_dashboard import DashboardApp
from dramatiq_dashboard.application import tab_from_q_name
from dramatiq_dashboard.csrf import csrf_protect
from dramatiq_dashboard.http import HTTP_405, HTTP_410, Request, handler, redirect

from actors.storage.queues import QueueReadings

from .dead_letters import DeadLetters
from .guard import declared_queue

_VERBS = {"retry": ("Retry", "button--secondary"), "delete": ("Delete", "button--tertiary")}


#: The console's pages, in the navigation bar of every page, dramatiq-dashboard's
#: included: (label, path below /admin/). Pages of their own add themselves here.
NAVIGATION = [
    ("Overview", ""),
    ("Jobs", "jobs"),
    ("Workflows", "workflows"),
    ("Schedules", "schedules"),
]

#: What is changed in dramatiq-dashboard's own templates: its navigation bar
#: lists the console's pages, and its words are the console's (a dead letter
#: holds a failed or a dead job; Retry, as on the job pages, not Requeue).
PATCHES = {
    "_base.html": [
        (
            '<a href="{{ uri }}">{{ label }}</a>',
            '<a href="{{ uri }}" id="{{ path or \'overview\' }}-link">{{ label }}</a>',
        ),
        (
            '{{ nav_item("Dashboard", "") }}',
            "{% for label, path in navigation %}{{ nav_item(label, path) }}{% endfor %}",
        ),
        (":: Dramatiq Dashboard", ":: jobqueue"),
    ],
    "dashboard.html": [
        ("<th>Failed</th>", "<th>Dead letters</th>"),
        ("{{ worker.name }}", "{{ worker_called(worker.name) }}"),
    ],
    "queue.html": [
        ("Failed (<em", "Dead letters (<em"),
        ('action("Requeue"', 'action("Retry"'),
    ],
}


class PatchedLoader(jinja2.BaseLoader):
    """dramatiq-dashboard's templates, with ``patches`` (old text, new text) applied by name.

    A patch whose text is gone (a new dramatiq-dashboard) fails loudly rather
    than leave a page as it was.
    """

    def __init__(self, loader: jinja2.BaseLoader, patches: dict[str, list[tuple[str, str]]]):
        self.loader = loader
        self.patches = patches

    def get_source(self, environment: jinja2.Environment, template: str):
        source, filename, uptodate = self.loader.get_source(environment, template)
        for old, new in self.patches.get(template, ()):
            if old not in source:
                raise jinja2.TemplateError(f"dramatiq-dashboard's {template} has no {old!r}")
            source = source.replace(old, new)
        return source, filename, uptodate


def extend_templates(dashboard: DashboardApp) -> None:
    """Let our templates override dramatiq-dashboard's, and extend them by name.

    ``templates/queue.html`` extends ``dramatiq_dashboard/queue.html``; every
    page has the console's navigation (:data:`NAVIGATION`).
    """
    theirs = PatchedLoader(dashboard.templates.loader, PATCHES)
    dashboard.templates.loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
            jinja2.PrefixLoader({"dramatiq_dashboard": theirs}),
            theirs,
        ]
    )
    dashboard.templates.globals["navigation"] = NAVIGATION
    readings = QueueReadings(dashboard.broker.client, dashboard.broker.keys)
    dashboard.templates.globals["worker_called"] = readings.worker_name


class DeadLetterPages:
    """Dead-letter pages, routed ahead of dramatiq-dashboard's own.

    ``/dead-letters/<queue>/retry`` and ``.../delete``: GET asks, POST does
    it. The POST carries ``dead_before``, the time of the newest dead letter
    the confirmation page counted, so only the letters the admin saw are
    touched. ``/requeue-message``, the Requeue button, replaces
    dramatiq-dashboard's own, which deletes the letter before enqueueing it
    (lost if Redis fails in between) and enqueues it twice on a double click.
    ``/delete-message``, the Delete button of any message, replaces its own
    too, which left the message's job waiting for good (see ``deletions.py``).
    """

    #: dramatiq-dashboard's pages run inline scripts: these, in its look, may too.
    policy = False

    def __init__(self, dashboard: DashboardApp, dead_letters: DeadLetters):
        self.dead_letters = dead_letters
        self.templates = dashboard.templates
        self.make_uri = dashboard.make_uri
        self.routes = [
            (r"/dead-letters/(?P<name>[^/]+)/(?P<action>retry|delete)", self.bulk),
            ("/requeue-message", self.requeue),
            ("/delete-message", self.delete),
        ]

    @handler
    @csrf_protect
    def bulk(self, req: Request, *, name: str, action: str):
        declared_queue(self.dead_letters.broker, name)
        if req.method == "POST":
            dead_before = int(req.post_data["dead_before"])
            if action == "retry":
                self.dead_letters.retry_all(name, dead_before)
            else:
                self.dead_letters.delete_all(name, dead_before)
            return redirect(self.make_uri("queues", name, "failed"))
        if req.method not in ("GET", "HEAD"):
            return HTTP_405, "Expected GET or POST."
        count, dead_before = self.dead_letters.newest(name)
        verb, button_class = _VERBS[action]
        return self.templates.get_template("dead_letters.html").render(
            request=req,
            queue_name=name,
            action=action,
            verb=verb,
            button_class=button_class,
            count=count,
            dead_before=dead_before,
        )

    @handler
    @csrf_protect
    def requeue(self, req: Request):
        if req.method != "POST":
            return HTTP_405, "Expected a POST request."
        name = q_name(req.post_data["queue"])
        moved = self.dead_letters.retry(name, [req.post_data["id"].encode()])
        if not moved:
            return HTTP_410, "The requested message is no longer a dead letter."
        return redirect(self.make_uri("queues", name, "standard", moved[0]))

    @handler
    @csrf_protect
    def delete(self, req: Request):
        if req.method != "POST":
            return HTTP_405, "Expected a POST request."
        name = req.post_data["queue"]
        self.dead_letters.deletions.delete(name, [req.post_data["id"].encode()])
        return redirect(self.make_uri("queues", q_name(name), tab_from_q_name(name)))


class QueuePages:
    """dramatiq-dashboard's pages of a queue and of its messages, for the queues there are.

    Its own show a queue no job is declared on (a mistyped link) as an
    empty queue; these answer 404 for it, and serve the others as it does.
    """

    #: dramatiq-dashboard's pages run inline scripts.
    policy = False

    def __init__(self, dashboard: DashboardApp):
        self.dashboard = dashboard
        queue, tab = r"/queues/(?P<name>[^/]+)", "(?P<current_tab>standard|delayed|failed)"
        self.routes = [
            (queue, self.queue),
            (f"{queue}/{tab}", self.queue),
            (f"{queue}/{tab}/(?P<message_id>[^/]+)", self.message),
        ]

    def queue(self, req: Request, start_response, **params: str):
        declared_queue(self.dashboard.broker, params["name"])
        return self.dashboard.queue(req, start_response, **params)

    def message(self, req: Request, start_response, **params: str):
        declared_queue(self.dashboard.broker, params["name"])
        return self.dashboard.job(req, start_response, **params)
