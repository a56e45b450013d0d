// The overview: tiles re-render when devices come, go or change state; "Happening now" lists
// live events as they arrive.

import { coalesce } from "./live.js";
import { formatMoment } from "./localtime.js";

const MAX_EVENTS = 25;

function describe(event) {
  switch (event.type) {
    case "presence":
      if (event.status && event.status !== "active") return `was ${event.status}`;
      return event.online ? "came online" : "went offline";
    case "device.enrolled":
      return "enrolled";
    case "command":
      return `answered a command (${event.status})`;
    default:
      return null;
  }
}

export function startOverview(orgId) {
  const list = document.getElementById("live-events");
  const hint = document.getElementById("live-empty");
  const names = new Map();
  const refreshTiles = coalesce(() => {
    const summary = document.getElementById("summary");
    if (summary && window.htmx) window.htmx.trigger(summary, "refresh");
  }, 1000);

  function add(event) {
    const what = describe(event);
    if (!what || !list) return;
    const item = document.createElement("li");
    const time = document.createElement("time");
    const now = new Date();
    time.setAttribute("datetime", now.toISOString());
    time.textContent = formatMoment(now);
    const link = document.createElement("a");
    link.href = `/orgs/${orgId}/devices/${event.device_id}`;
    link.textContent = event.name || names.get(event.device_id) || "A device";
    if (event.name) names.set(event.device_id, event.name);
    item.append(time, " ", link, ` ${what}`);
    list.prepend(item);
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
    if (hint) hint.hidden = true;
  }

  for (const name of ["live-presence", "live-device-enrolled", "live-command"]) {
    document.body.addEventListener(name, (e) => {
      add(e.detail);
      if (name !== "live-command") refreshTiles();
    });
  }
}
