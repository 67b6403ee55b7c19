// A workflow's page: colour each step as its state changes, over the
// workflow's event stream, until the workflow ends (jobs.js, loaded too,
// asks before cancelling). Loaded as a file, so pages need no inline script.
"use strict";

const workflow = document.getElementById("workflow");
if (workflow && workflow.dataset.ended === "false") follow(workflow);

function follow(workflow) {
  // The states a workflow ends in: the server's, not a copy.
  const ended = JSON.parse(workflow.dataset.endedStates);
  const state = document.getElementById("workflow-state");
  const live = document.getElementById("workflow-live");
  const events = new EventSource(workflow.dataset.events);
  let last = state.dataset.state;
  events.addEventListener("open", () => { live.hidden = false; });
  events.addEventListener("workflow", (event) => {
    const data = JSON.parse(event.data);
    last = data.state;
    state.textContent = data.state;
    state.dataset.state = data.state;
    if (data.step !== undefined) {
      const step = document.getElementById(`step-${data.step}`);
      step.dataset.state = data.step_state;
      step.querySelector(".step-state").textContent = data.step_state;
    }
  });
  events.addEventListener("error", () => {
    if (ended.includes(last)) {
      // The stream is over because the workflow is: show its result and buttons.
      events.close();
      window.location.reload();
    } else if (events.readyState === EventSource.CLOSED) {
      live.textContent = "(live updates stopped: reload the page)";
    }
  });
}
