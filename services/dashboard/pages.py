"""Pages that dramatiq-dashboard lacks: retry-all and delete-all of dead letters.

They are built on dramatiq-dashboard's own machinery: its request handling,
its CSRF protection (the ``__dd_csrf`` cookie and form field), its templates
and look. Its queue page is extended, through its template environment, with
links to them on the failed tab.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from dramatiq_dashboard import DashboardApp
from dramatiq_dashboard.csrf import csrf_protect
from dramatiq_dashboard.http import HTTP_404, HTTP_405, App, Request, handler, redirect

from .dead_letters import DeadLetters

#: Where these pages live, under the dashboard's prefix.
PATH = "/dead-letters/"

_VERBS = {"retry": ("Retry", "button--secondary"), "delete": ("Delete", "button--tertiary")}


def extend_templates(dashboard: DashboardApp) -> None:
    """Let our templates override dramatiq-dashboard's, and extend them by name.

    ``templates/queue.html`` extends ``dramatiq_dashboard/queue.html``.
    """
    theirs = dashboard.templates.loader
    dashboard.templates.loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
            jinja2.PrefixLoader({"dramatiq_dashboard": theirs}),
            theirs,
        ]
    )


class DeadLetterPages(App):
    """``/dead-letters/<queue>/retry`` and ``.../delete``: GET asks, POST does it.

    The POST carries ``dead_before``, the time of the newest dead letter the
    confirmation page counted, so only the letters the admin saw are touched.
    """

    def __init__(self, dashboard: DashboardApp, dead_letters: DeadLetters):
        super().__init__()
        self.dead_letters = dead_letters
        self.templates = dashboard.templates
        self.make_uri = dashboard.make_uri
        self.add_route(r"/dead-letters/(?P<name>[^/]+)/(?P<action>retry|delete)", self.bulk)
        self.add_route(".*", self.not_found)

    @handler
    @csrf_protect
    def bulk(self, req: Request, *, name: str, action: str):
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
    def not_found(self, req: Request):
        return HTTP_404, "Not Found"
