// The dashboard's one entry module: wires htmx to the CSRF header and to readable error
// messages, then starts what the current page needs.

import { startAlertsPage } from "./alerts.js";
import { csrfToken, describe, ApiError } from "./api.js";
import { startBillingPage } from "./billing.js";
import { startDevicePage } from "./device.js";
import { startDeviceList } from "./devices.js";
import { startForms } from "./forms.js";
import { startLive } from "./live.js";
import { startLocalTime } from "./localtime.js";
import { startOverview } from "./overview.js";
import { startPrivacyPage } from "./privacy.js";
import { toast } from "./toast.js";
import { startWidgets } from "./widgets.js";

function startHtmxGlue() {
  document.body.addEventListener("htmx:configRequest", (e) => {
    e.detail.headers["X-CSRF-Token"] = csrfToken();
  });
  document.body.addEventListener("htmx:responseError", (e) => {
    let problem = null;
    try {
      problem = JSON.parse(e.detail.xhr.responseText);
    } catch {
      problem = null;
    }
    toast(describe(new ApiError(e.detail.xhr.status, problem)), "error");
  });
  document.body.addEventListener("htmx:sendError", () => {
    toast("Sentinel could not be reached. Check your connection.", "error");
  });
}

startHtmxGlue();
startForms();
startLocalTime();
startWidgets();

const orgId = document.body.dataset.orgId;
const page = document.body.dataset.page;
if (orgId) startLive(orgId);
if (page === "overview") startOverview(orgId);
if (page === "devices") startDeviceList();
if (page === "device") startDevicePage(document.getElementById("device"));
if (page === "alerts") startAlertsPage();
if (page === "billing") startBillingPage();
if (page === "privacy") startPrivacyPage(orgId);
