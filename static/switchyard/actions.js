// Operator actions: progress bars follow action.progress / action.finished events; new actions and
// audit entries refresh their server-rendered fragment. Only textContent and attributes are set.
"use strict";
(function () {
  document.addEventListener("sy:event", function (evt) {
    const event = evt.detail;
    if (event.type === "audit.entry") {
      const rows = document.getElementById("audit-rows");
      if (rows) htmx.trigger(rows, "sy:refresh");
      return;
    }
    if (event.type !== "action.progress" && event.type !== "action.finished") return;
    const a = event.data;
    const list = document.getElementById("action-list");
    if (!list || String(a.queue_id) !== list.dataset.queueId) return;
    const row = list.querySelector("tr[data-action-id='" + CSS.escape(String(a.id)) + "']");
    if (!row) { htmx.trigger(list, "sy:refresh"); return; }
    const bar = row.querySelector("[data-field='progress']");
    bar.max = Math.max(a.requested, 1);
    bar.value = a.done;
    // The progress line is built once, by the server (action_dict's summary).
    row.querySelector("[data-field='counts']").textContent = a.summary;
    const state = row.querySelector("[data-field='state']");
    state.textContent = a.state;
    state.className = "state-" + a.state;
    if (event.type === "action.finished") {
      const browser = document.getElementById("message-browser");
      // Only a browse that reads for free is redone by itself; elsewhere browsing is the operator's call.
      if (browser && browser.dataset.refresh === "on-action") htmx.trigger(browser, "sy:browse");
    }
  });
})();
