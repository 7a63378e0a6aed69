// Live updates: the htmx ws extension holds the socket to /ws/stream (reconnecting with backoff);
// this file subscribes, applies JSON events to the page with textContent (never innerHTML), asks
// htmx to re-fetch a fragment when the page's structure changed, and polls while the socket is down.
"use strict";
(function () {
  const POLL_EVERY_MS = 5000;
  const REFRESH_AT_MOST_EVERY_MS = 1000;
  let pollTimer = null;
  let staleSince = null;
  const lastRefresh = new WeakMap();

  function topics() {
    return (document.body.dataset.topics || "").split(/\s+/).filter(Boolean);
  }

  function badge(live) {
    const el = document.getElementById("live-badge");
    if (!el) return;
    if (live) {
      el.textContent = "live";
      el.className = "badge live";
      el.title = "Receiving updates over the WebSocket";
    } else {
      staleSince = staleSince || new Date();
      el.textContent = "stale since " + staleSince.toLocaleTimeString();
      el.className = "badge stale";
      el.title = "WebSocket down: polling every " + POLL_EVERY_MS / 1000 + " s";
    }
  }

  function refresh(el, force) {
    const now = Date.now();
    if (!force && now - (lastRefresh.get(el) || 0) < REFRESH_AT_MOST_EVERY_MS) return;
    lastRefresh.set(el, now);
    htmx.trigger(el, "sy:refresh");
  }

  // Re-fetch element ``id`` once, at most every ``throttleMs``: calls inside the window are folded
  // into one trailing refresh (a burst of events costs a handful of reloads, not one each).
  const timers = {};
  const lastScheduled = {};
  function refreshSoon(id, throttleMs) {
    if (timers[id]) return;
    const wait = Math.max(0, (lastScheduled[id] || 0) + throttleMs - Date.now());
    timers[id] = setTimeout(function () {
      timers[id] = null;
      lastScheduled[id] = Date.now();
      const el = document.getElementById(id);
      if (el) htmx.trigger(el, "sy:refresh");
    }, wait);
  }
  window.SwitchyardLive = {refreshSoon: refreshSoon};

  function refreshAll() {
    document.querySelectorAll("[hx-trigger~='sy:refresh']").forEach(function (el) { refresh(el, true); });
  }

  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(refreshAll, POLL_EVERY_MS);
  }

  function stopPolling() {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
  }

  const F = window.SwitchyardFormat;
  const FORMAT = {
    depth: F.figure, unacked: F.figure, consumers: F.figure,
    publish_rate: F.rate, consume_rate: F.rate,
    oldest_age_s: F.duration, time_to_drain_s: F.duration,
    trend: function (v) { return v || ""; },
  };

  function applyFields(container, data) {
    Object.keys(FORMAT).forEach(function (field) {
      const cell = container.querySelector("[data-field='" + field + "']");
      if (cell && field in data) {
        const text = FORMAT[field](data[field]);
        if (cell.textContent !== text) {
          cell.textContent = text;
          cell.classList.remove("changed");
          void cell.offsetWidth;
          cell.classList.add("changed");
        }
      }
    });
  }

  // A queue with no row appears in the table only if it passes the table's filters.
  function matchesFilters(filters, data) {
    if (filters.filterName && data.name.toLowerCase().indexOf(filters.filterName.toLowerCase()) < 0) return false;
    if (filters.filterBroker && data.broker !== filters.filterBroker) return false;
    if (filters.filterDlq === "true" && !data.is_dlq) return false;
    if (filters.filterSystem !== "1" && data.system) return false;
    return true;
  }

  function onQueueSample(data) {
    const row = document.querySelector("tr[data-queue-id='" + CSS.escape(String(data.id)) + "']");
    if (row) {
      applyFields(row, data);
      row.className = row.className.replace(/trend-\S+/, "trend-" + (data.trend || "none"));
    } else {
      const table = document.getElementById("queue-table");
      if (table && data.present && matchesFilters(table.dataset, data)) refresh(table, false);
    }
    const figures = document.querySelector("#queue-figures[data-queue-id='" + CSS.escape(String(data.id)) + "']");
    if (figures) applyFields(figures, data);
  }

  function onBrokerStatus(data) {
    const card = document.querySelector(".broker-card[data-broker='" + CSS.escape(data.name) + "']");
    const brokers = document.getElementById("brokers");
    if (!card || card.querySelector("[data-field='status']").textContent !== data.status) {
      if (brokers) refresh(brokers, false);
    }
  }

  document.addEventListener("htmx:wsOpen", function (evt) {
    evt.detail.socketWrapper.send(JSON.stringify({subscribe: topics()}));
    const wasStale = staleSince !== null;
    staleSince = null;
    badge(true);
    stopPolling();
    if (wasStale) refreshAll();
  });

  document.addEventListener("htmx:wsClose", function () { badge(false); startPolling(); });
  document.addEventListener("htmx:wsError", function () { badge(false); startPolling(); });

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    evt.preventDefault();
    let event;
    try { event = JSON.parse(evt.detail.message); } catch (e) { return; }
    if (event.type === "queue.sample") onQueueSample(event.data);
    else if (event.type === "broker.status") onBrokerStatus(event.data);
    document.dispatchEvent(new CustomEvent("sy:event", {detail: event}));
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (topics().length && document.body.hasAttribute("ws-connect")) {
      badge(false);
      document.getElementById("live-badge").textContent = "connecting…";
      // Until the socket opens, the page polls.
      setTimeout(function () { if (staleSince !== null) startPolling(); }, 3000);
    }
  });
})();
