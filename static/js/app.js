// Small keyboard helpers; every page works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Arrow keys move through a result list; Enter follows the link.
    document.querySelectorAll("[data-keyboard-list]").forEach(function (list) {
      var links = Array.prototype.slice.call(list.querySelectorAll("a"));
      var input = document.getElementById("q");
      function focusAt(i) { if (links[i]) { links[i].focus(); } }
      if (input) {
        input.addEventListener("keydown", function (e) {
          if (e.key === "ArrowDown" && links.length) { e.preventDefault(); focusAt(0); }
        });
      }
      links.forEach(function (a, i) {
        a.addEventListener("keydown", function (e) {
          if (e.key === "ArrowDown") { e.preventDefault(); focusAt(i + 1); }
          if (e.key === "ArrowUp") { e.preventDefault(); if (i === 0 && input) { input.focus(); } else { focusAt(i - 1); } }
          if (e.key === "Home") { e.preventDefault(); focusAt(0); }
          if (e.key === "End") { e.preventDefault(); focusAt(links.length - 1); }
          if (e.key === "Escape" && input) { e.preventDefault(); input.focus(); input.select(); }
        });
      });
    });
    // Ctrl+Enter accepts the intake form from any field, except while the clerk writes
    // in the "not complete / refused" part (its own buttons decide there).
    document.querySelectorAll("form[data-ctrl-enter-submit]").forEach(function (form) {
      form.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          if (e.target.closest && e.target.closest("details")) { return; }
          if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
        }
      });
    });
    // A second Enter or click while a form is being sent would send it twice
    // (two dossiers for one citizen): ignore repeats until the next page arrives.
    document.querySelectorAll("form[method=post]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (form.dataset.sending === "1") { e.preventDefault(); return; }
        form.dataset.sending = "1";
        form.setAttribute("aria-busy", "true");
        window.setTimeout(function () {  // loading stopped with Esc: usable again
          delete form.dataset.sending;
          form.removeAttribute("aria-busy");
        }, 10000);
      });
    });
    window.addEventListener("pageshow", function () {  // back button: the form is usable again
      document.querySelectorAll("form[data-sending]").forEach(function (form) {
        delete form.dataset.sending;
        form.removeAttribute("aria-busy");
      });
    });
    // Mark the menu entry of the current page.
    var best = null;
    document.querySelectorAll(".topbar nav a").forEach(function (a) {
      var path = a.pathname;
      var here = window.location.pathname;
      var match = here === path || (path !== "/" && here.indexOf(path.replace(/\/$/, "") + "/") === 0);
      if (match && (!best || path.length > best.pathname.length)) { best = a; }
    });
    if (!best && /^\/(queues|dossiers|forms)\//.test(window.location.pathname)) {
      best = document.querySelector(".topbar nav a[href='/']");
    }
    if (best) { best.setAttribute("aria-current", "page"); }
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
    if (document.body.dataset.autoPrint === "1") { window.setTimeout(function () { window.print(); }, 300); }
  });
})();
