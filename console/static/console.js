// The console works without this script; it only helps. A refused form
// takes the focus, so that keyboard and screen reader users land on the
// message; destructive actions ask first; a form is not posted twice.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const failed = document.querySelector("form[data-focus]");
  if (failed) {
    failed.scrollIntoView({ block: "center" });
    const field = failed.querySelector("[aria-invalid=true]") || failed.querySelector("input:not([type=hidden]), select, textarea");
    if (field) field.focus();
  }
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", (ev) => {
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
        ev.preventDefault();
        return;
      }
      if (form.dataset.sent) {
        ev.preventDefault();
        return;
      }
      form.dataset.sent = "1";
    });
  }
});
// A page restored from the back-forward cache may be posted again.
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-sent]")) delete form.dataset.sent;
});
