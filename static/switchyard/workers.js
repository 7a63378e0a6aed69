// Worker pages: heartbeats update visible cells with textContent; a worker coming or going, or a
// new one, reloads the table (at most every THROTTLE_MS).
"use strict";
(function () {
  const THROTTLE_MS = 2000;

  function schedule(id) {
    window.SwitchyardLive.refreshSoon(id, THROTTLE_MS);
  }

  function fill(container, data) {
    ["active", "processed"].forEach(function (field) {
      const cell = container.querySelector("[data-field='" + field + "']");
      if (cell && data[field] !== null && data[field] !== undefined) cell.textContent = Number(data[field]).toLocaleString();
    });
    const beat = container.querySelector("time[data-field='last_heartbeat']");
    if (data.last_heartbeat) {
      if (beat) window.SwitchyardFormat.setTime(beat, new Date(data.last_heartbeat * 1000));
      else schedule(container.id || "worker-table");  // the first heartbeat: the row gets its <time>
    }
  }

  document.addEventListener("sy:event", function (evt) {
    const event = evt.detail;
    if (!event || event.topic !== "workers") return;
    const data = event.data || {};
    const table = document.getElementById("worker-table");
    if (table) {
      const row = data.hostname ? table.querySelector("tr[data-worker='" + CSS.escape(String(data.hostname)) + "']") : null;
      if (row && event.type === "worker.heartbeat") fill(row, data);
      else schedule("worker-table");
    }
    const detail = document.getElementById("worker-detail");
    if (detail && String(data.hostname) === detail.dataset.worker) {
      if (event.type === "worker.heartbeat") fill(detail, data);
      else schedule("worker-detail");
    }
  });
})();
