// The device's history charts (uPlot): one range at a time from the telemetry API (bucketed on
// the server), and in "live" the device's samples from the live feed appended as they come.
// Each <figure data-chart> reports how many points it shows in data-points (tests read it).

import uPlot from "/static/vendor/uPlot.esm.js";
import { api, describe } from "./api.js";

const RANGES = {
  live: { seconds: 15 * 60, step: 5, text: "the last 15 minutes, updated live" },
  "1h": { seconds: 3600, step: 30, text: "the last hour" },
  "24h": { seconds: 86400, step: 300, text: "the last 24 hours" },
  "7d": { seconds: 7 * 86400, step: 1800, text: "the last 7 days" },
  "30d": { seconds: 30 * 86400, step: 7200, text: "the last 30 days" },
};
const CHARTS = {
  cpu: { series: [["cpu_pct", "CPU", "#1f5fbf"]], percent: true },
  memory: { series: [["mem_pct", "Memory", "#7a3db8"]], percent: true },
  disk: { series: [["disk_pct", "Disk", "#9a5800"]], percent: true },
  battery: { series: [["battery_pct", "Battery", "#1b7a3a"]], percent: true },
  network: { series: [["net_rx_bps", "Received", "#0b6e79"], ["net_tx_bps", "Sent", "#b3261e"]], percent: false },
};
const METRICS = Object.values(CHARTS).flatMap((chart) => chart.series.map(([metric]) => metric));

function rate(value) {
  if (value === null || value === undefined) return "—";
  const units = ["B/s", "KiB/s", "MiB/s", "GiB/s"];
  let amount = value;
  let unit = 0;
  while (amount >= 1024 && unit < units.length - 1) {
    amount /= 1024;
    unit += 1;
  }
  return `${amount.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

function pct(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value)}\u00a0%`;
}

export function startCharts(section, deviceId) {
  const url = section.dataset.telemetryUrl;
  const status = section.querySelector("[data-chart-status]");
  const figures = [...section.querySelectorAll("figure[data-chart]")];
  let range = "live";
  let times = [];
  let values = Object.fromEntries(METRICS.map((m) => [m, []]));
  let loading = null;
  let early = [];  // live samples that arrive while a range is loading
  const charts = new Map();

  function widthOf(figure) {
    return Math.max(240, figure.querySelector(".chart-canvas").clientWidth || 300);
  }

  function draw() {
    for (const figure of figures) {
      const def = CHARTS[figure.dataset.chart];
      const format = def.percent ? pct : rate;
      const data = [times, ...def.series.map(([metric]) => values[metric])];
      let chart = charts.get(figure);
      if (!chart) {
        chart = new uPlot({
          width: widthOf(figure),
          height: 170,
          series: [
            {},
            ...def.series.map(([, label, stroke]) => ({ label, stroke, width: 2, value: (_, v) => format(v) })),
          ],
          scales: def.percent ? { y: { range: [0, 100] } } : {},
          axes: [{ space: 70 }, { size: def.percent ? 60 : 90, values: (_, ticks) => ticks.map(format) }],
          legend: { show: def.series.length > 1 },
        }, data, figure.querySelector(".chart-canvas"));
        charts.set(figure, chart);
      } else {
        chart.setData(data);
      }
      const first = values[def.series[0][0]];
      const points = first.filter((v) => v !== null && v !== undefined).length;
      figure.dataset.points = String(points);
      const latest = [...first].reverse().find((v) => v !== null && v !== undefined);
      figure.querySelector("[data-chart-summary]").textContent =
        points ? `${points} points; latest ${format(latest)}.` : "No samples in this range.";
    }
    const any = times.length > 0;
    status.textContent = any
      ? `Showing ${RANGES[range].text}.`
      : `No samples in ${RANGES[range].text}. Charts fill in as the device reports.`;
  }

  function append(event) {
    const t = event.ts;
    if (times.length && t <= times[times.length - 1]) return;
    times.push(t);
    for (const metric of METRICS) {
      const value = event.metrics ? event.metrics[metric] : undefined;
      values[metric].push(value === undefined ? null : value);
    }
    const oldest = Date.now() / 1000 - RANGES.live.seconds;
    while (times.length && times[0] < oldest) {
      times.shift();
      for (const metric of METRICS) values[metric].shift();
    }
  }

  async function load(chosen) {
    range = chosen;
    for (const button of section.querySelectorAll("button[data-range]")) {
      button.setAttribute("aria-pressed", String(button.dataset.range === chosen));
    }
    status.textContent = "Loading…";
    const { seconds, step } = RANGES[chosen];
    const to = new Date();
    const from = new Date(to.getTime() - seconds * 1000);
    const query = new URLSearchParams({
      from: from.toISOString(), to: to.toISOString(), step: String(step), metrics: METRICS.join(","),
    });
    const request = api("GET", `${url}?${query}`);
    loading = request;
    early = [];
    let answer;
    try {
      answer = await request;
    } catch (error) {
      if (loading === request) status.textContent = describe(error);
      return;
    }
    if (loading !== request) return;  // a newer range was chosen meanwhile
    loading = null;
    times = answer.points.map((p) => Date.parse(p.t) / 1000);
    values = Object.fromEntries(METRICS.map((m) => [m, answer.points.map((p) => p[m] ?? null)]));
    if (range === "live") early.forEach(append);
    early = [];
    draw();
  }

  document.body.addEventListener("live-telemetry", (e) => {
    if (e.detail.device_id !== deviceId || range !== "live") return;
    if (loading) {
      early.push(e.detail);
      return;
    }
    append(e.detail);
    draw();
  });
  section.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-range]");
    if (button) load(button.dataset.range);
  });
  new ResizeObserver(() => {
    for (const [figure, chart] of charts) chart.setSize({ width: widthOf(figure), height: 170 });
  }).observe(section);
  load("live");
}
