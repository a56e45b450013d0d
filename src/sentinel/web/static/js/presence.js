// What a device's state is called, the same words as the server's (web/devices.py).

export const STATES = {
  online: "Online",
  offline: "Offline",
  never_seen: "Waiting for first contact",
  revoked: "Revoked",
  decommissioned: "Decommissioned",
};

// The state after a presence event; revoked and decommissioned stay what they are.
export function stateAfter(badge, event) {
  const status = event.status || badge.dataset.status || "active";
  if (status !== "active") return status;
  return event.online ? "online" : "offline";
}

export function setBadge(badge, state, status) {
  for (const name of [...badge.classList]) if (name.startsWith("state-")) badge.classList.remove(name);
  badge.classList.add(`state-${state}`);
  badge.textContent = STATES[state] || state;
  if (status) badge.dataset.status = status;
}

export function percent(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value)}\u00a0%`;
}
