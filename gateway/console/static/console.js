// Every page: sign out through fetch with the CSRF header (the form's hidden field is the fallback without scripts).
import { api } from "./common.js";

const form = document.querySelector('[data-testid="logout-form"]');
if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await api("/console/logout", { method: "POST" });
    window.location.assign("/console/login");
  });
}
