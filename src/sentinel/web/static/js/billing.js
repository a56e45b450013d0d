// The billing page: Stripe's checkout and portal answer with an address to go to.

export function startBillingPage() {
  document.addEventListener("api-done", (e) => {
    const form = e.target.closest("form[data-go-to-url]");
    const url = e.detail && e.detail.url;
    if (!form || typeof url !== "string" || !/^https:\/\//.test(url)) return;
    window.location.assign(url);
  });
}
