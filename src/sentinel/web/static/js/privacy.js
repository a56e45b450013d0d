// The privacy page: after an export is requested, follow its status until the archive is
// ready, then offer the one-time download link.

import { api } from "./api.js";

const POLL_MS = 1000;
const DONE = new Set(["ready", "failed", "expired", "downloaded"]);

export function startPrivacyPage(orgId) {
  document.addEventListener("api-done", (e) => {
    const form = e.target.closest("#export-form");
    const result = e.detail;
    if (!form || !result || !result.id) return;
    const panel = document.getElementById("export-result");
    const status = panel.querySelector("[data-export-status]");
    const link = panel.querySelector("[data-export-link]");
    link.hidden = true;
    link.href = result.download_url;
    const url = `/api/v1/orgs/${encodeURIComponent(orgId)}/exports/${encodeURIComponent(result.id)}`;

    async function poll() {
      let state = result.status;
      try {
        state = (await api("GET", url)).status;
      } catch {
        state = "unknown";
      }
      status.textContent = state === "building" ? "being prepared…" : state;
      if (state === "ready") {
        link.hidden = false;
      } else if (!DONE.has(state) && state !== "unknown") {
        setTimeout(poll, POLL_MS);
      }
    }
    poll();
  });

  // Once used, the link is spent: hide it so nobody tries it twice.
  document.addEventListener("click", (e) => {
    const link = e.target.closest("a[data-export-link]");
    if (!link) return;
    setTimeout(() => {
      link.hidden = true;
      const status = document.querySelector("[data-export-status]");
      if (status) status.textContent = "downloaded";
    }, 0);
  });
}
