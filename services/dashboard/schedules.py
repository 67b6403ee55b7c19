"""Schedule pages: every schedule, one with its next runs and history, Pause, Resume, Run now.

What ``/schedules`` offers over HTTP, in the dashboard's look and behind its
credentials: the same operations (``actors.schedules.operations``), the
buttons protected by the dashboard's CSRF cookie as the job pages' are.
"""

from __future__ import annotations

from dramatiq_dashboard import DashboardApp
from dramatiq_dashboard.csrf import csrf_protect
from dramatiq_dashboard.http import Request, handler, redirect

from actors.schedules.definition import epoch_ms
from actors.schedules.operations import ScheduleError, Schedules
from actors.schedules.store import Saved
from actors.schedules.triggers import describe
from actors.submission import InvalidJob
from services.api.models import RunOptions

from .guard import BadRequest, only_get, only_post

#: How many next runs and history entries a schedule's page shows.
NEXT_RUNS = 5
HISTORY_SHOWN = 100


class SchedulePages:
    """Schedule pages.

    ``/schedules``: every schedule. ``/schedules/<name>``: one, with its
    history. ``/schedules/<name>/pause``, ``/resume`` and ``/run``: POST does
    it, then shows the schedule (or, for a run, its job).
    """

    #: They run no inline script: the Content-Security-Policy forbids any.
    policy = True

    def __init__(self, dashboard: DashboardApp, schedules: Schedules):
        self.schedules = schedules
        self.templates = dashboard.templates
        self.templates.filters.update(describe=describe, epoch_ms=epoch_ms)
        self.make_uri = dashboard.make_uri
        self.routes = [
            ("/schedules", self.index),
            (r"/schedules/(?P<name>[^/]+)", self.schedule),
            (r"/schedules/(?P<name>[^/]+)/(?P<action>pause|resume|run)", self.act),
        ]

    @handler
    def index(self, req: Request):
        only_get(req)
        return self.templates.get_template("schedules.html").render(
            request=req, schedules=self.schedules.store.list()
        )

    @handler
    @csrf_protect
    def schedule(self, req: Request, *, name: str):
        only_get(req)
        schedule = self._find(name)
        definition = schedule.definition
        return self.templates.get_template("schedule.html").render(
            request=req,
            schedule=schedule,
            options=RunOptions.requested(
                definition.actor, definition.options, self.schedules.queue
            ),
            next_runs=schedule.next_runs(NEXT_RUNS),
            history=self.schedules.store.history(name, HISTORY_SHOWN),
        )

    @handler
    @csrf_protect
    def act(self, req: Request, *, name: str, action: str):
        only_post(req)
        try:
            if action == "run":
                record = self.schedules.run_now(name)
                return redirect(self.make_uri("jobs", record.id))
            if action == "pause":
                self.schedules.pause(name)
            else:
                self.schedules.resume(name)
        except ScheduleError:
            raise BadRequest(f"there is no schedule {name}", "404 Not Found") from None
        except InvalidJob as error:
            raise BadRequest(f"schedule {name} cannot run: {error}", "409 Conflict") from None
        return redirect(self.make_uri("schedules", name))

    def _find(self, name: str):
        try:
            return self.schedules.get(name)
        except ScheduleError as error:
            assert error.saved is Saved.MISSING
            raise BadRequest(f"there is no schedule {name}", "404 Not Found") from None
