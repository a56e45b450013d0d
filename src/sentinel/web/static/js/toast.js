// Short messages in the polite live region at the bottom of every page.

export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const item = document.createElement("p");
  item.className = `toast toast-${kind}`;
  item.textContent = message;
  region.append(item);
  setTimeout(() => item.remove(), 7000);
}
