"""``/schedules``: jobs that run every so long or at cron times, managed over HTTP.

The schedules' operations run on the app's asyncio client, as the jobs' do.
"""

from __future__ import annotations

import falcon

from actors.schedules.definition import ScheduleDefinition
from actors.schedules.operations import ScheduleError, Schedules
from actors.schedules.store import Saved
from actors.schedules.triggers import InvalidTrigger
from actors.submission import InvalidJob

from ..contract import BODY_ERRORS, Access, Operation, Response
from ..errors import unprocessable
from ..models import Job
from ..schedule_models import ScheduleDetail, ScheduleList, ScheduleView, new_schedule, stored

#: How many history entries GET /schedules/{name} shows.
HISTORY_SHOWN = 50
_NOT_FOUND = "No such schedule"
_IN_CODE = "The schedule is declared in code with its job: change it there"


def refused(error: ScheduleError) -> falcon.HTTPError:
    """The problem document of a refused change: 404 for no such schedule, else 409."""
    if error.saved is Saved.MISSING:
        return falcon.HTTPNotFound(description=str(error))
    return falcon.HTTPConflict(description=str(error))


class ScheduleCollection:
    """``/schedules``: create a schedule, or list them all."""

    def __init__(self, schedules: Schedules, body: type[ScheduleDefinition]):
        self.schedules = schedules
        self.operations = {
            "post": Operation(
                "Create a schedule",
                body=new_schedule(body),
                responses={
                    201: Response("The schedule was created", ScheduleView),
                    409: "A schedule has this name already",
                    **BODY_ERRORS,
                },
                access=Access.WRITE,
            ),
            "get": Operation(
                "List schedules, by name",
                responses={200: Response("Every schedule", ScheduleList)},
            ),
        }

    async def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = await self.operations["post"].read_body(req)
        try:
            schedule = await self.schedules.create(body.name, stored(body))
        except (InvalidJob, InvalidTrigger) as error:
            raise unprocessable(str(error)) from None
        except ScheduleError as error:
            raise refused(error) from None
        resp.status = falcon.HTTP_201
        resp.location = f"/schedules/{schedule.name}"
        resp.media = ScheduleView.of(schedule, self.schedules.queue)

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = ScheduleList(
            schedules=[
                ScheduleView.of(schedule, self.schedules.queue)
                for schedule in await self.schedules.store.list()
            ]
        )


class ScheduleItem:
    """``/schedules/{name}``: one schedule with its history; replace or delete it."""

    def __init__(self, schedules: Schedules, body: type[ScheduleDefinition]):
        self.schedules = schedules
        self.operations = {
            "get": Operation(
                "A schedule, its next runs and its history",
                responses={200: Response("The schedule", ScheduleDetail), 404: _NOT_FOUND},
            ),
            "put": Operation(
                "Replace a schedule's definition, keeping its history",
                body=body,
                responses={
                    200: Response("The schedule, replaced", ScheduleView),
                    404: _NOT_FOUND,
                    409: _IN_CODE,
                    **BODY_ERRORS,
                },
                access=Access.WRITE,
            ),
            "delete": Operation(
                "Delete a schedule and its history (its jobs stay)",
                responses={
                    204: Response("The schedule is deleted"),
                    404: _NOT_FOUND,
                    409: _IN_CODE,
                },
                access=Access.WRITE,
            ),
        }

    async def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        try:
            schedule = await self.schedules.get(name)
        except ScheduleError as error:
            raise refused(error) from None
        history = await self.schedules.store.history(name, HISTORY_SHOWN)
        resp.media = ScheduleDetail.of(schedule, self.schedules.queue, history)

    async def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        body = await self.operations["put"].read_body(req)
        try:
            replaced = await self.schedules.replace(name, stored(body))
            resp.media = ScheduleView.of(replaced, self.schedules.queue)
        except (InvalidJob, InvalidTrigger) as error:
            raise unprocessable(str(error)) from None
        except ScheduleError as error:
            raise refused(error) from None

    async def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        try:
            await self.schedules.delete(name)
        except ScheduleError as error:
            raise refused(error) from None
        resp.status = falcon.HTTP_204


class ScheduleAction:
    """``/schedules/{name}/pause``, ``/resume`` and ``/run``."""

    SUMMARIES = {
        "pause": "Pause a schedule: no tick runs until it is resumed",
        "resume": "Resume a schedule from its next tick (ticks while paused never run)",
        "run": "Run a schedule's job now; its ticks stay as they are",
    }

    ANSWERS: dict[str, dict[int, Response | str]] = {
        "pause": {200: Response("The schedule, paused", ScheduleView)},
        "resume": {
            200: Response("The schedule, running (or finished, with no tick to come)", ScheduleView)
        },
        "run": {
            202: Response("The job, accepted", Job),
            422: "Its job can no longer be made (gone, or its arguments no longer fit)",
        },
    }

    def __init__(self, schedules: Schedules, action: str):
        self.schedules = schedules
        self.action = action
        self.operations = {
            "post": Operation(
                self.SUMMARIES[action],
                responses={**self.ANSWERS[action], 404: _NOT_FOUND},
                access=Access.WRITE,
            )
        }

    async def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        try:
            if self.action == "run":
                record = await self.schedules.run_now(name)
                resp.status = falcon.HTTP_202
                resp.location = f"/jobs/{record.id}"
                resp.media = Job.of(record, self.schedules.queue)
                return
            change = self.schedules.pause if self.action == "pause" else self.schedules.resume
            resp.media = ScheduleView.of(await change(name), self.schedules.queue)
        except (InvalidJob, InvalidTrigger) as error:
            raise unprocessable(str(error)) from None
        except ScheduleError as error:
            raise refused(error) from None
