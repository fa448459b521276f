// The start page: straight to the signed-in role's home, else to the sign-in page.
import { getJson, token } from "../api.js";
import { homeFor } from "../shell.js";

if (!token()) {
  location.replace("login.html");
} else {
  getJson("auth/me").then((me) => location.replace(homeFor(me.role)));
}
