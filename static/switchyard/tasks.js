// Tasks pages: apply task events to visible rows with textContent, and reload the table or the
// task's detail fragment at most every THROTTLE_MS when something new arrives (a burst of 10,000
// events costs a handful of reloads, not 10,000 DOM updates).
"use strict";
(function () {
  const THROTTLE_MS = 1500;
  const STATES = ["PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY", "REVOKED", "REJECTED"];

  function schedule(id) {
    window.SwitchyardLive.refreshSoon(id, THROTTLE_MS);
  }

  function setState(cell, state) {
    if (!cell || STATES.indexOf(state) < 0 || cell.textContent === state) return;
    cell.textContent = state;
    STATES.forEach(function (s) { cell.classList.remove("state-" + s.toLowerCase()); });
    cell.classList.add("state-" + state.toLowerCase());
  }

  document.addEventListener("sy:event", function (evt) {
    const event = evt.detail;
    if (!event || event.topic !== "tasks") return;
    const data = event.data || {};
    const table = document.getElementById("task-table");
    if (table) {
      const row = data.id ? table.querySelector("tr[data-task-id='" + CSS.escape(String(data.id)) + "']") : null;
      if (row) setState(row.querySelector("[data-field='state']"), data.state);
      // Page 1 shows the newest tasks: reload it for new ones; later pages only refresh their rows.
      if (table.dataset.live === "true" || row) schedule("task-table");
    }
    const detail = document.getElementById("task-detail");
    if (detail && (String(data.id) === detail.dataset.taskId || event.type === "tasks.burst")) schedule("task-detail");
  });
})();
