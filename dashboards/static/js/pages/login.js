// Sign-in: OAuth2 password flow, then on to the page asked for or the role's home.
import { ApiError, getJson, login } from "../api.js";
import { startPage, homeFor } from "../shell.js";

// Only a page of this app may follow sign-in (no open redirect to another site).
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return /^[a-z]+\.html(\?[\w.=&%:/-]*)?$/.test(next) && !next.startsWith("login.html") ? next : null;
}

startPage("login", async () => {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  document.getElementById("username").focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await login(form.username.value.trim(), form.password.value);
      const me = await getJson("auth/me");
      location.replace(nextPage() || homeFor(me.role));
    } catch (failure) {
      error.textContent = failure instanceof ApiError && [400, 401, 403, 423, 429].includes(failure.status)
        ? `Sign-in refused: ${failure.detail}`
        : `Sign-in failed: ${failure.message}`;
      error.hidden = false;
      form.password.value = "";
      form.password.focus();
    } finally {
      button.disabled = false;
    }
  });
});
