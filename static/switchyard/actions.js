// Operator actions: progress bars follow action.progress / action.finished events; new actions and
// audit entries refresh their server-rendered fragment. Only textContent and attributes are set.
"use strict";
(function () {
  function closePanel() {
    const panel = document.getElementById("action-panel");
    if (panel) panel.replaceChildren();
  }

  // Only a browse that reads for free is redone by itself; elsewhere browsing is the operator's
  // call. Through SwitchyardLive.reload: a browse asked while the last is on its way comes after it.
  function rebrowse() {
    const browser = document.getElementById("message-browser");
    if (browser && browser.dataset.refresh === "on-action") window.SwitchyardLive.reload(browser, "sy:browse");
  }

  // After a confirmed action: the answer (the result line) has replaced the confirmation panel;
  // nothing on the page offers the same action again. Ticks, typed names and options are cleared,
  // and the action list and the message list are redone.
  document.body.addEventListener("sy:action-accepted", function () {
    document.querySelectorAll("#actions form.action-form").forEach(function (form) { form.reset(); });
    const list = document.getElementById("action-list");
    if (list) window.SwitchyardLive.reload(list);
    const browser = document.getElementById("message-browser");
    if (!browser) return;
    if (browser.dataset.refresh === "on-action") {
      rebrowse();
    } else {
      // Where browsing changes the broker the list is not redone by itself: the stale rows go, and
      // a GET (which changes nothing) brings back the offer to browse again.
      htmx.ajax("GET", browser.dataset.url, {target: browser, swap: "outerHTML"});
    }
  });

  document.addEventListener("click", function (evt) {
    if (evt.target.closest && evt.target.closest("[data-close-panel]")) closePanel();
  });

  // Ticking a message means "these": the selection follows, so the panel never offers to act on
  // every message of the queue while some are ticked (unticking all leaves "selected below", which
  // the server refuses as empty rather than widening it to the whole queue).
  document.addEventListener("change", function (evt) {
    const box = evt.target;
    if (!box.matches || !box.matches("input[type=checkbox][name=ids]") || !box.checked) return;
    const form = box.form || document.getElementById(box.getAttribute("form"));
    const selected = form && form.querySelector("input[name=selection][value=ids]");
    if (selected) selected.checked = true;
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape" && document.querySelector("#action-panel .confirm-panel")) closePanel();
  });

  document.addEventListener("sy:event", function (evt) {
    const event = evt.detail;
    if (event.type === "audit.entry") {
      const rows = document.getElementById("audit-rows");
      if (rows) window.SwitchyardLive.reload(rows);
      return;
    }
    if (event.type !== "action.progress" && event.type !== "action.finished") return;
    const a = event.data;
    const list = document.getElementById("action-list");
    if (!list || String(a.queue_id) !== list.dataset.queueId) return;
    // The messages it took are gone, also when its row is not on the page yet (a fast action can
    // end before the list redone at its acceptance arrives).
    if (event.type === "action.finished") rebrowse();
    const row = list.querySelector("tr[data-action-id='" + CSS.escape(String(a.id)) + "']");
    if (!row) { window.SwitchyardLive.reload(list); return; }
    const bar = row.querySelector("[data-field='progress']");
    bar.max = Math.max(a.requested, 1);
    bar.value = a.done;
    // The progress line is built once, by the server (action_dict's summary).
    row.querySelector("[data-field='counts']").textContent = a.summary;
    const state = row.querySelector("[data-field='state']");
    state.textContent = a.state;
    state.className = "state-" + a.state;
    if (event.type === "action.finished") {
      // A finished action has nothing left to cancel.
      const cancel = row.querySelector("form.cancel-action");
      if (cancel) cancel.remove();
    }
  });
})();
