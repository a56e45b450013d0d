// Times arrive as <time datetime="…UTC…" data-local="datetime|date|relative">; this shows them
// in the viewer's own time zone and language, and keeps "5 minutes ago" current.

const full = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dayOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

function ago(at) {
  const seconds = Math.round((at.getTime() - Date.now()) / 1000);
  const size = Math.abs(seconds);
  if (size < 45) return "just now";
  if (size < 3600) return relative.format(Math.round(seconds / 60), "minute");
  if (size < 86400) return relative.format(Math.round(seconds / 3600), "hour");
  return relative.format(Math.round(seconds / 86400), "day");
}

function show(element) {
  const at = new Date(element.getAttribute("datetime"));
  if (Number.isNaN(at.getTime())) return;
  const style = element.dataset.local;
  if (style === "relative") {
    element.textContent = ago(at);
    element.title = full.format(at);
  } else {
    element.textContent = (style === "date" ? dayOnly : full).format(at);
  }
}

export function localize(root = document) {
  if (root.matches && root.matches("time[data-local]")) show(root);
  for (const element of root.querySelectorAll("time[data-local]")) show(element);
}

// Put a moment (a Date) into `container` as a relative <time>.
export function setMoment(container, at, style = "relative") {
  let element = container.querySelector("time");
  if (!element) {
    container.textContent = "";
    element = document.createElement("time");
    container.append(element);
  }
  element.dataset.local = style;
  element.setAttribute("datetime", at.toISOString());
  show(element);
}

export function formatMoment(at) {
  return full.format(at);
}

export function startLocalTime() {
  localize();
  document.body.addEventListener("htmx:load", (event) => localize(event.detail.elt));
  setInterval(() => {
    for (const element of document.querySelectorAll('time[data-local="relative"]')) show(element);
  }, 30000);
}
