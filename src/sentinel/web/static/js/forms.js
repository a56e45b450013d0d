// Forms that call the JSON API. A form declares what to call and what to do afterwards:
//   data-api-method / data-api-url    the request (the body is the form's fields as JSON)
//   data-json on a field              int | nullable ("" → null) | csv (list) | list | bool
//   data-shape="name"                 a registered function reshapes the body (registerShape)
//   data-confirm="…"                  ask first
//   data-success-redirect="/x/{id}"   go there ({key} from the JSON answer)
//   data-success-reload               reload the page
//   data-result="#panel"              fill [data-slot=key] in the panel with the answer, show it
//   data-refresh="#el"                tell htmx to refresh that element
//   data-reset, data-ok="message"     reset the form; say what happened
// Errors are shown in the form's [data-form-error] (or as a toast), fields marked aria-invalid.

import { api, describe, invalidFields } from "./api.js";
import { toast } from "./toast.js";

const shapes = new Map();

export function registerShape(name, shape) {
  shapes.set(name, shape);
}

export class FormProblem extends Error {}

function collect(form) {
  const data = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled || field.type === "submit" || field.type === "button") continue;
    const kind = field.dataset.json || "";
    if ((field.type === "checkbox" || field.type === "radio") && kind !== "bool" && !field.checked) continue;
    let value = kind === "bool" ? field.checked : field.value;
    if (kind === "int") value = value === "" ? null : Number.parseInt(value, 10);
    else if (kind === "nullable") value = value === "" ? null : value;
    else if (kind === "csv") value = value.split(",").map((s) => s.trim()).filter(Boolean);
    if (kind === "list") {
      (data[field.name] ||= []).push(value);
    } else {
      data[field.name] = value;
    }
  }
  return data;
}

function box(form, which) {
  return form.querySelector(`[data-form-${which}]`) ||
    (form.parentElement && form.parentElement.querySelector(`:scope > [data-form-${which}]`));
}

function say(form, which, message) {
  const target = box(form, which);
  const other = box(form, which === "error" ? "ok" : "error");
  if (other) other.hidden = true;
  if (!target) {
    if (message) toast(message, which === "error" ? "error" : "info");
    return;
  }
  target.textContent = message || "";
  target.hidden = !message;
}

function fill(panel, result) {
  for (const slot of panel.querySelectorAll("[data-slot]")) {
    const value = result ? result[slot.dataset.slot] : undefined;
    if (value !== undefined && value !== null) slot.textContent = String(value);
  }
  panel.hidden = false;
  panel.focus();
}

function afterSuccess(form, result) {
  const data = form.dataset;
  if (data.successRedirect !== undefined) {
    const target = data.successRedirect.replace(/\{(\w+)\}/g, (_, key) =>
      encodeURIComponent(result && result[key] !== undefined ? result[key] : ""));
    window.location.assign(target);
    return;
  }
  if (data.successReload !== undefined) {
    window.location.reload();
    return;
  }
  if (data.result) fill(document.querySelector(data.result), result);
  if (data.reset !== undefined) form.reset();
  say(form, "ok", data.ok || (data.result ? "" : "Done."));
  if (data.refresh) {
    const target = document.querySelector(data.refresh);
    if (target && window.htmx) window.htmx.trigger(target, "refresh");
  }
  form.dispatchEvent(new CustomEvent("api-done", { bubbles: true, detail: result }));
}

async function submit(form) {
  const data = form.dataset;
  if (data.confirm && !window.confirm(data.confirm)) return;
  for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
  let body;
  try {
    body = collect(form);
    if (data.shape) body = shapes.get(data.shape)(body, form);
  } catch (error) {
    if (!(error instanceof FormProblem)) throw error;
    say(form, "error", error.message);
    return;
  }
  const buttons = form.querySelectorAll("button[type=submit]");
  buttons.forEach((b) => { b.disabled = true; });
  form.setAttribute("aria-busy", "true");
  try {
    const payload = Object.keys(body).length ? body : undefined;
    const result = await api(data.apiMethod, data.apiUrl, payload);
    afterSuccess(form, result);
  } catch (error) {
    say(form, "error", describe(error, form));
    for (const name of invalidFields(error)) {
      const field = form.elements.namedItem(name);
      if (field && field.setAttribute) field.setAttribute("aria-invalid", "true");
    }
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    form.removeAttribute("aria-busy");
  }
}

export function startForms() {
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-api-method]");
    if (!form) return;
    event.preventDefault();
    submit(form);
  });
}
