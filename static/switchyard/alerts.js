// Alerts: keeps the navigation's firing-count badge live from alert events (each carries the
// current firing_count), and refreshes the alerts table when an alert changes.
"use strict";
(function () {
  function setBadge(count) {
    const badge = document.getElementById("alerts-badge");
    if (!badge || typeof count !== "number") return;
    badge.textContent = String(count);
    badge.dataset.count = String(count);
    badge.classList.toggle("zero", count === 0);
  }

  document.addEventListener("sy:event", function (evt) {
    const event = evt.detail;
    if (!event || typeof event.type !== "string" || event.type.indexOf("alert.") !== 0) return;
    if (event.data && "firing_count" in event.data) setBadge(event.data.firing_count);
    const table = document.getElementById("alert-table");
    if (table) window.SwitchyardLive.reload(table);
  });
})();
