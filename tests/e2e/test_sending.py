"""Jobs sent from Python the plain dramatiq way, seen through a real stack's load balancer."""

from __future__ import annotations

import actors
from actors.jobs import add


def test_a_job_sent_with_send_is_listed_with_its_state(stack):
    actors.connect(stack.settings.queue_config())  # this process's jobs now go to the stack's Redis
    waiting = add.send_with_options(args=(1, 2), delay=600_000)
    sent = add.send(20, 22)

    listed = {job["id"]: job["state"] for job in stack.get("/jobs").json()["jobs"]}
    assert listed[waiting.message_id] == "delayed"
    assert stack.ended(sent.message_id)["result"] == 42
    admin_list = stack.get("/admin/jobs", params={"actor": "add"}, auth=stack.admin).text
    assert sent.message_id in admin_list and waiting.message_id in admin_list
    assert stack.delete(f"/jobs/{waiting.message_id}").status_code == 200
