// The alerts page: the list re-renders (htmx) when the live feed reports an alert opening or
// resolving, and a channel's "Send test" says whether the message was delivered.

import { coalesce } from "./live.js";

export function startAlertsPage() {
  const refreshList = coalesce(() => {
    const list = document.getElementById("alert-list");
    if (list && window.htmx) window.htmx.trigger(list, "refresh");
  }, 1000);
  document.body.addEventListener("live-alert", refreshList);

  document.addEventListener("api-done", (e) => {
    const form = e.target.closest("form[data-channel-test]");
    if (!form) return;
    const result = e.detail || {};
    const ok = form.querySelector("[data-form-ok]");
    const error = form.querySelector("[data-form-error]");
    if (result.delivered) {
      ok.textContent = "Delivered.";
      ok.hidden = false;
      error.hidden = true;
    } else {
      error.textContent = `Not delivered: ${result.error || "unknown error"}`;
      error.hidden = false;
      ok.hidden = true;
    }
  });
}
