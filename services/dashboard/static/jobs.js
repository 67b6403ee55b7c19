// The job page: follow the job over its event stream while it runs, and ask
// before cancelling it. Loaded as a file, so pages need no inline script.
"use strict";

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

const job = document.getElementById("job");
if (job && job.dataset.ended === "false") follow(job);

function follow(job) {
  // The states a job ends in: the server's, not a copy.
  const ended = JSON.parse(job.dataset.terminalStates);
  const state = document.getElementById("job-state");
  const live = document.getElementById("job-live");
  const events = new EventSource(job.dataset.events);
  let last = state.dataset.state;
  const show = (event) => {
    const data = JSON.parse(event.data);
    last = data.state;
    state.textContent = data.state;
    state.dataset.state = data.state;
    if (data.attempts !== undefined) {
      document.getElementById("job-attempts").textContent = data.attempts;
    }
    if (data.progress) {
      document.getElementById("job-progress").value = data.progress.value;
      document.getElementById("job-note").textContent = data.progress.message;
    }
  };
  events.addEventListener("open", () => { live.hidden = false; });
  events.addEventListener("state", show);
  events.addEventListener("progress", show);
  events.addEventListener("error", () => {
    if (ended.includes(last)) {
      // The stream is over because the job is: show its result, error and buttons.
      events.close();
      window.location.reload();
    } else if (events.readyState === EventSource.CLOSED) {
      live.textContent = "(live updates stopped: reload the page)";
    }
  });
}
