// The job and workflow pages: follow a job, or a workflow's steps, over its
// event stream until it ends, and ask before cancelling. Loaded as a file,
// so pages need no inline script.
"use strict";

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

const job = document.getElementById("job");
if (job && job.dataset.ended === "false") {
  follow(job, ["state", "progress"], "job", (data) => {
    if (data.attempts !== undefined) {
      document.getElementById("job-attempts").textContent = data.attempts;
    }
    if (data.progress) {
      document.getElementById("job-progress").value = data.progress.value;
      document.getElementById("job-note").textContent = data.progress.message;
    }
    // The times an event changed, in ISO 8601 as the record has them; every
    // change updates the record at the event's time.
    const times = { updated_at: data.at, ...data };
    for (const cell of job.querySelectorAll("td[data-time]")) {
      const at = times[cell.dataset.time];
      if (at) showTime(cell, at);
    }
  });
}

const workflow = document.getElementById("workflow");
if (workflow && workflow.dataset.ended === "false") {
  follow(workflow, ["workflow"], "workflow", (data) => {
    if (data.step === undefined) return;
    const step = document.getElementById(`step-${data.step}`);
    step.dataset.state = data.step_state;
    step.querySelector(".step-state").textContent = data.step_state;
  });
}

// Show ``at`` (ISO 8601) in ``cell`` as the page renders a time: when, then the time itself.
function showTime(cell, at) {
  const when = document.createElement("time");
  when.dateTime = at;
  when.textContent = "just now";
  const exact = document.createElement("small");
  exact.textContent = at;
  cell.replaceChildren(when, " ", exact);
}

// Follow ``record`` over its stream (data-events) until it ends: each event of
// ``kinds`` sets the state shown at #<name>-state and is shown by ``show``;
// once the record is in one of its data-ended-states (the server's, not a
// copy), the page reloads to show the outcome and the buttons.
function follow(record, kinds, name, show) {
  const ended = JSON.parse(record.dataset.endedStates);
  const state = document.getElementById(`${name}-state`);
  const live = document.getElementById(`${name}-live`);
  const events = new EventSource(record.dataset.events);
  let last = state.dataset.state;
  const update = (event) => {
    const data = JSON.parse(event.data);
    last = data.state;
    state.textContent = data.state;
    state.dataset.state = data.state;
    show(data);
  };
  events.addEventListener("open", () => { live.hidden = false; });
  for (const kind of kinds) events.addEventListener(kind, update);
  events.addEventListener("error", () => {
    if (ended.includes(last)) {
      // The stream is over because the record's life is: show how it ended.
      events.close();
      window.location.reload();
    } else if (events.readyState === EventSource.CLOSED) {
      live.textContent = "(live updates stopped: reload the page)";
    }
  });
}
