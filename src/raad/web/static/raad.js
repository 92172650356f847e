// Keeps what was typed in a form across an expired login: every form sent by htmx is kept in
// this tab's sessionStorage (passwords and one-time codes excepted) until its answer comes
// back; when the answer is the login page, the copy stays, and after logging in the page puts
// it back into the same form, for the user to check and send again.
(function () {
  "use strict";
  var PREFIX = "raad:form:";
  var SKIP = { password: true };
  var NEVER = { sign_password: true, sign_otp: true, otp: true, current_password: true,
                new_password: true, new_password_again: true, code: true };

  function keyOf(form) {
    return PREFIX + location.pathname + "|" + (form.getAttribute("hx-post") || form.id || "");
  }

  function keep(form) {
    var fields = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || SKIP[el.type] || NEVER[el.name]) { return; }
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) { return; }
      fields.push([el.name, el.value]);
    });
    try { sessionStorage.setItem(keyOf(form), JSON.stringify(fields)); } catch (e) { /* full */ }
  }

  function restore(form) {
    var raw = sessionStorage.getItem(keyOf(form));
    if (!raw) { return false; }
    sessionStorage.removeItem(keyOf(form));
    var fields = JSON.parse(raw);
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || SKIP[el.type] || NEVER[el.name]) { return; }
      var values = fields.filter(function (f) { return f[0] === el.name; })
                         .map(function (f) { return f[1]; });
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = values.indexOf(el.value) !== -1;
      } else if (values.length && el.type !== "hidden") {
        el.value = values[0];
      }
    });
    return true;
  }

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var form = evt.detail.elt && evt.detail.elt.closest && evt.detail.elt.closest("form");
    if (form && (evt.detail.requestConfig || {}).verb !== "get") { keep(form); }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var xhr = evt.detail.xhr;
    var form = evt.detail.elt && evt.detail.elt.closest && evt.detail.elt.closest("form");
    var redirect = xhr && xhr.getResponseHeader("HX-Redirect");
    if (form && !(redirect && redirect.indexOf("/ui/login") === 0)) {
      sessionStorage.removeItem(keyOf(form));  // answered: nothing to keep
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var restored = false;
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
      if (restore(form)) { restored = true; }
    });
    if (restored) {
      var note = document.createElement("p");
      note.setAttribute("role", "status");
      note.className = "restored";
      note.textContent = "What you typed before your session ended was put back: check it and send again.";
      var main = document.getElementById("main");
      if (main) { main.insertBefore(note, main.firstChild); }
    }
  });
})();
