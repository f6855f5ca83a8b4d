// The consoles' only script: Copy buttons, dialogs, confirmations and the issue form's plan defaults. Pages work without it.
(function () {
  "use strict";
  function copy(id, status) {
    var el = document.getElementById(id);
    if (!el) return;
    var text = el.value !== undefined ? el.value : el.textContent;
    var done = function () { if (status) { status.textContent = "Copied"; } };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { el.select(); document.execCommand("copy"); done(); });
    } else {
      el.focus(); el.select(); document.execCommand("copy"); done();
    }
  }
  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("[data-copy], [data-dialog-open], [data-dialog-close], [data-confirm]");
    if (!t) return;
    if (t.hasAttribute("data-copy")) {
      copy(t.getAttribute("data-copy"), t.parentNode.querySelector(".copied"));
    } else if (t.hasAttribute("data-dialog-open")) {
      var d = document.getElementById(t.getAttribute("data-dialog-open"));
      if (d && d.showModal) { ev.preventDefault(); d.showModal(); var f = d.querySelector("input, textarea, select"); if (f) f.focus(); }
    } else if (t.hasAttribute("data-dialog-close")) {
      var dlg = t.closest("dialog");
      if (dlg) { ev.preventDefault(); dlg.close(); }
    } else if (t.hasAttribute("data-confirm") && !window.confirm(t.getAttribute("data-confirm"))) {
      ev.preventDefault();
    }
  });
  // The issuer's issue form: choosing a plan sets the type and the term defaults the server computed for each plan
  // (data-* on its options); a field the clerk changed from the old plan's default is left as it is.
  function planChanged(sel, before) {
    var now = sel.options[sel.selectedIndex], form = sel.form;
    if (!now || !form) return;
    if (now.value) { var typ = form.querySelector("[name=type]"); if (typ) typ.value = now.getAttribute("data-type"); }
    ["nodes", "months", "remote_clusters", "features", "grace_days"].forEach(function (name) {
      var f = form.querySelector("[name=" + name + "]");
      if (f && (!before || f.value === before.getAttribute("data-" + name))) f.value = now.getAttribute("data-" + name);
    });
  }
  document.addEventListener("change", function (ev) {
    var sel = ev.target;
    if (!sel.matches || !sel.matches("select[data-plan-defaults]")) return;
    var was = sel.dataset.was !== undefined ? sel.options[+sel.dataset.was] : null;
    planChanged(sel, was);
    sel.dataset.was = sel.selectedIndex;
  });
  document.addEventListener("DOMContentLoaded", function () {
    // On a phone the navigation scrolls sideways: bring the current page's entry into view.
    var cur = document.querySelector(".top nav [aria-current=page]"), nav = cur && cur.closest("nav");
    if (nav && nav.scrollWidth > nav.clientWidth) {
      nav.scrollLeft += cur.getBoundingClientRect().left - nav.getBoundingClientRect().left - (nav.clientWidth - cur.offsetWidth) / 2;
    }
    document.querySelectorAll("select[data-plan-defaults]").forEach(function (s) { s.dataset.was = s.selectedIndex; });
    document.querySelectorAll("dialog[data-show]").forEach(function (d) {
      if (d.showModal && !d.open) { d.showModal(); }
    });
  });
})();
