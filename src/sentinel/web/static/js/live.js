// The organization's live feed over wss (through the same origin, so the CSP's
// connect-src 'self' covers it). Events are re-dispatched on <body> as `live-<type>` DOM events
// (`device.enrolled` → `live-device-enrolled`) for the page's modules and for htmx triggers.

import { refreshSession } from "./api.js";

const MAX_DELAY_MS = 30000;
const SESSION_ENDED = 4401;

export function startLive(orgId) {
  const indicator = document.getElementById("live-status");
  let attempt = 0;
  let leaving = false;

  function show(state, text) {
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.textContent = text;
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${window.location.host}/api/v1/orgs/${encodeURIComponent(orgId)}/live`;
    const socket = new WebSocket(url, ["sentinel.v1"]);
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      attempt = 0;
      show("live", "Live");
    });
    socket.addEventListener("message", (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!event || typeof event.type !== "string" || event.type === "ping" || event.type === "hello") return;
      const name = `live-${event.type.replaceAll(".", "-")}`;
      document.body.dispatchEvent(new CustomEvent(name, { detail: event }));
    });
    socket.addEventListener("close", async (closed) => {
      if (leaving) return;
      if (closed.code === SESSION_ENDED) {
        window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
        return;
      }
      show("down", "Reconnecting…");
      attempt += 1;
      // A refused handshake most often means the access cookie expired: WebSockets do not go
      // through the server's refresh middleware, so refresh the session before trying again.
      if (!opened) await refreshSession();
      const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.min(attempt - 1, 5));
      setTimeout(connect, delay * (0.5 + Math.random() / 2));
    });
  }

  window.addEventListener("pagehide", () => { leaving = true; });
  connect();
}

// Run `action` at most once per `wait` ms, but always after the last call (a trailing run),
// so a burst of events costs one refresh and the final state is never missed.
export function coalesce(action, wait = 1000) {
  let timer = null;
  return () => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      action();
    }, wait);
  };
}
