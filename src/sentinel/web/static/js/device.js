// The device page: its state, last contact and current metrics follow the live feed; the
// command list refreshes when a result comes back.

import { coalesce } from "./live.js";
import { setMoment } from "./localtime.js";
import { percent, setBadge, stateAfter } from "./presence.js";

export function startDevicePage(root) {
  const deviceId = root.dataset.deviceId;
  const live = (name) => root.querySelectorAll(`[data-live="${name}"]`);

  document.body.addEventListener("live-presence", (e) => {
    if (e.detail.device_id !== deviceId) return;
    for (const badge of live("presence")) {
      const state = stateAfter(badge, e.detail);
      setBadge(badge, state, e.detail.status);
      for (const cell of live("connection")) cell.textContent = state === "online" ? "Online" : "Offline";
      if (e.detail.status) {
        for (const cell of live("status")) cell.textContent = e.detail.status[0].toUpperCase() + e.detail.status.slice(1);
      }
    }
  });
  document.body.addEventListener("live-telemetry", (e) => {
    if (e.detail.device_id !== deviceId) return;
    for (const [key, value] of Object.entries(e.detail.metrics || {})) {
      for (const cell of live(key)) cell.textContent = percent(value);
    }
    for (const cell of live("last_seen")) setMoment(cell, new Date(e.detail.ts * 1000));
  });
  const commands = () => document.getElementById("commands");
  const refreshCommands = coalesce(() => window.htmx && commands() && window.htmx.trigger(commands(), "refresh"), 500);
  document.body.addEventListener("live-command", (e) => {
    if (e.detail.device_id === deviceId) refreshCommands();
  });

  // uPlot is loaded only on the page that draws charts.
  const charts = document.getElementById("charts");
  if (charts) import("./charts.js").then(({ startCharts }) => startCharts(charts, deviceId));
}
