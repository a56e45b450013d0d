// Small behaviours shared by several pages: copy buttons, filtering table rows, closing menus,
// invitation links, and sending the viewer's time zone with date filters.

import { toast } from "./toast.js";

function startCopy() {
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const original = button.textContent;
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    } catch {
      // No clipboard permission: select the text so Ctrl+C / ⌘C copies it.
      window.getSelection().selectAllChildren(source);
      toast("Selected — press Ctrl+C (⌘C on a Mac) to copy.");
    }
    setTimeout(() => { button.textContent = original; }, 2000);
  });
}

function startRowFilters() {
  document.addEventListener("input", (e) => {
    const selector = e.target.dataset && e.target.dataset.filterRows;
    if (!selector) return;
    const needle = e.target.value.trim().toLowerCase();
    for (const tr of document.querySelectorAll(`${selector} tbody tr`)) {
      tr.hidden = needle !== "" && !tr.textContent.toLowerCase().includes(needle);
    }
  });
}

function startMenus() {
  const menus = () => document.querySelectorAll("details[data-menu][open]");
  document.addEventListener("click", (e) => {
    for (const menu of menus()) if (!menu.contains(e.target)) menu.open = false;
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    for (const menu of menus()) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
}

function startInvitation() {
  const token = decodeURIComponent(window.location.hash.slice(1));
  const field = document.querySelector("[data-invitation-token]");
  if (field) field.value = token;
  for (const link of document.querySelectorAll("a[data-keep-hash]")) {
    const target = new URL(link.href);
    target.searchParams.set("next", `/invitations/accept${window.location.hash}`);
    link.href = target.pathname + target.search;
  }
}

function startTimeZoneFields() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const field of document.querySelectorAll("form[data-local-tz] input[data-tz]")) field.value = zone;
}

export function startWidgets() {
  startCopy();
  startRowFilters();
  startMenus();
  startInvitation();
  startTimeZoneFields();
}
