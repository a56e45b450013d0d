// The device list: live state and metrics patched into the rendered rows, a refresh of the
// table when devices enroll or leave, row selection for bulk actions, and the viewer's choice
// of columns (kept in this browser).

import { FormProblem, registerShape } from "./forms.js";
import { coalesce } from "./live.js";
import { setMoment } from "./localtime.js";
import { percent, setBadge, stateAfter } from "./presence.js";

const COLUMNS_KEY = "sentinel.deviceColumns";
const METRICS = ["cpu_pct", "mem_pct", "disk_pct", "battery_pct"];

function table() {
  return document.getElementById("device-table");
}

function row(deviceId) {
  return document.querySelector(`#device-table tr[data-device-id="${CSS.escape(deviceId)}"]`);
}

function applyPresence(tr, event) {
  const badge = tr.querySelector('[data-live="presence"]');
  if (badge) setBadge(badge, stateAfter(badge, event), event.status);
}

function applyTelemetry(tr, event) {
  for (const key of METRICS) {
    const cell = tr.querySelector(`[data-live="${key}"]`);
    if (cell && event.metrics && event.metrics[key] !== undefined) cell.textContent = percent(event.metrics[key]);
  }
  const seen = tr.querySelector('[data-live="last_seen"]');
  if (seen && event.ts) setMoment(seen, new Date(event.ts * 1000));
}

// Live events that arrive while the table is being re-rendered would be lost when the new
// table replaces the old one: remember them and apply them again after the swap.
const recent = [];
let requestedAt = 0;

function remember(kind, event) {
  recent.push({ kind, event, at: performance.now() });
  while (recent.length > 500) recent.shift();
}

function replay() {
  for (const { kind, event, at } of recent) {
    if (at < requestedAt) continue;
    const tr = row(event.device_id);
    if (tr) (kind === "presence" ? applyPresence : applyTelemetry)(tr, event);
  }
}

function startLiveRows() {
  const refresh = coalesce(() => {
    const current = table();
    if (current && window.htmx) window.htmx.trigger(current, "refresh");
  }, 700);
  const firstPage = () => table() && table().dataset.firstPage === "true";
  const filtered = () => table() && table().dataset.filtered === "true";

  document.body.addEventListener("live-presence", (e) => {
    remember("presence", e.detail);
    const tr = row(e.detail.device_id);
    if (tr) applyPresence(tr, e.detail);
    else if (filtered()) refresh();  // it may now match the state filter
  });
  document.body.addEventListener("live-telemetry", (e) => {
    remember("telemetry", e.detail);
    const tr = row(e.detail.device_id);
    if (tr) applyTelemetry(tr, e.detail);
  });
  document.body.addEventListener("live-device-enrolled", () => { if (firstPage()) refresh(); });
  for (const name of ["live-device-updated", "live-device-deleted"]) {
    document.body.addEventListener(name, (e) => { if (row(e.detail.device_id)) refresh(); });
  }
  document.body.addEventListener("htmx:beforeRequest", (e) => {
    if (e.detail.target && e.detail.target.id === "device-table") requestedAt = performance.now();
  });
}

function startSelection() {
  const bulk = document.getElementById("bulk-form");
  if (!bulk) return;
  const count = document.getElementById("bulk-count");
  const apply = bulk.querySelector("button[type=submit]");
  const boxes = () => [...document.querySelectorAll('#device-table input[name="device_ids"]')];
  const update = () => {
    const chosen = boxes().filter((b) => b.checked).length;
    count.textContent = chosen ? `${chosen} selected` : "No devices selected";
    apply.disabled = chosen === 0;
    const all = document.getElementById("select-all");
    if (all) {
      all.checked = chosen > 0 && chosen === boxes().length;
      all.indeterminate = chosen > 0 && chosen < boxes().length;
    }
  };
  document.addEventListener("change", (e) => {
    if (e.target.id === "select-all") boxes().forEach((b) => { b.checked = e.target.checked; });
    if (e.target.id === "select-all" || e.target.name === "device_ids") update();
  });
  document.body.addEventListener("htmx:afterSettle", update);
  bulk.addEventListener("api-done", (e) => {
    const n = e.detail && e.detail.updated;
    const ok = bulk.querySelector("[data-form-ok]");
    if (ok) ok.textContent = `${n} device${n === 1 ? "" : "s"} updated.`;
    bulk.reset();
  });
  registerShape("bulk", (body) => {
    const ids = body.device_ids || [];
    if (!ids.length) throw new FormProblem("Select at least one device first.");
    const tags = (body.add_tags || "").split(",").map((t) => t.trim()).filter(Boolean);
    const move = body.group !== "keep";
    if (!move && !tags.length) throw new FormProblem("Choose a group to move to or tags to add.");
    return {
      device_ids: ids,
      move_to_group: move,
      group_id: move && body.group !== "none" ? body.group : null,
      add_tags: tags,
    };
  });
  update();
}

function startColumns() {
  const chooser = document.getElementById("column-chooser");
  const list = document.getElementById("device-list");
  if (!chooser || !list) return;
  let hidden;
  try {
    hidden = new Set(JSON.parse(localStorage.getItem(COLUMNS_KEY) || "[]"));
  } catch {
    hidden = new Set();
  }
  const apply = () => {
    for (const box of chooser.querySelectorAll("input[data-column]")) {
      const key = box.dataset.column;
      box.checked = !hidden.has(key);
      list.classList.toggle(`hide-${key}`, hidden.has(key));
    }
  };
  chooser.addEventListener("change", (e) => {
    const key = e.target.dataset.column;
    if (!key) return;
    if (e.target.checked) hidden.delete(key);
    else hidden.add(key);
    localStorage.setItem(COLUMNS_KEY, JSON.stringify([...hidden]));
    apply();
  });
  apply();
}

// Keep the export link and the form's sort field in step with the table shown.
function startSync() {
  document.body.addEventListener("htmx:afterSettle", () => {
    const current = table();
    if (!current) return;
    const org = document.body.dataset.orgId;
    const link = document.getElementById("csv-export");
    if (link) link.href = `/orgs/${org}/devices.csv?${current.dataset.query}`;
    const sort = document.querySelector('#device-filters input[name="sort"]');
    if (sort) sort.value = current.dataset.sort;
    replay();
  });
}

export function startDeviceList() {
  startLiveRows();
  startSelection();
  startColumns();
  startSync();
}
