// The overview's charts: the last hour of /admin/overview.json, drawn as SVG
// and asked for again every few seconds. Loaded as a file, so the page needs
// no inline script.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 150;
const REFRESH_MS = 5000;

const overview = document.getElementById("overview");
if (overview) {
  refresh();
  setInterval(refresh, REFRESH_MS);
}

async function refresh() {
  let figures;
  try {
    const response = await fetch(overview.dataset.figures, { cache: "no-store" });
    if (!response.ok) throw new Error(`${response.status}`);
    figures = await response.json();
  } catch (error) {
    overview.dataset.state = "stale";
    return;
  }
  for (const chart of overview.querySelectorAll("figure[data-series]")) {
    const source = chart.dataset.source ? figures[chart.dataset.source] : figures;
    draw(chart, source.times, chart.dataset.series.split(" ").map((name) => [name, source[name]]));
  }
  for (const name of ["succeeded", "failed"]) {
    const total = figures[name].reduce((sum, perSecond) => sum + perSecond * figures.span, 0);
    document.getElementById(`hour-${name}`).textContent = String(Math.round(total));
  }
  for (const [name, value] of Object.entries(figures.now)) {
    const shown = document.getElementById(`now-${name}`);
    if (shown) shown.textContent = name === "oldest" ? seconds(value) : value;
  }
  overview.dataset.state = "live";
  overview.dataset.updated = String(Date.now());
}

function draw(chart, times, series) {
  const svg = chart.querySelector("svg");
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  const values = series.flatMap(([, points]) => points.filter((v) => v !== null));
  const top = Math.max(...values, 0) || 1;
  const first = times[0];
  const span = times[times.length - 1] - first || 1;
  const x = (time) => ((time - first) / span) * WIDTH;
  const y = (value) => HEIGHT - 4 - (value / top) * (HEIGHT - 20);
  for (const [name, points] of series) {
    let d = "";
    let drawing = false;
    points.forEach((value, i) => {
      if (value === null) {
        drawing = false;
        return;
      }
      // A point with no neighbour is drawn as a dot (a round cap on a short line).
      d += `${drawing ? "L" : "M"}${x(times[i]).toFixed(1)},${y(value).toFixed(1)} `;
      if (!drawing && (points[i + 1] ?? null) === null) d += "l 0.1,0 ";
      drawing = true;
    });
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d.trim());
    path.setAttribute("class", `line line--${name}`);
    path.dataset.series = name;
    svg.append(path);
    const latest = [...points].reverse().find((v) => v !== null);
    const legend = chart.querySelector(`[data-legend="${name}"]`);
    if (legend) legend.textContent = latest === undefined ? "–" : format(chart, latest);
  }
  const label = document.createElementNS(SVG, "text");
  label.setAttribute("x", "4");
  label.setAttribute("y", "12");
  label.setAttribute("class", "axis");
  label.textContent = format(chart, top);
  svg.append(label);
}

function format(chart, value) {
  return chart.dataset.unit === "s" ? seconds(value) : String(Math.round(value * 10) / 10);
}

function seconds(value) {
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${Math.round(value * 10) / 10} s`;
  return `${Math.round(value / 60)} min`;
}
