// Live updates: holds the WebSocket to /ws/stream (docs/websocket.md), subscribes to the page's
// topics, applies JSON events to the page with textContent (never innerHTML), asks htmx to
// re-fetch a part when the page's structure changed, and polls while the socket is down.
// The socket carries JSON for scripts and pages alike, never HTML to swap: a plain WebSocket, not
// htmx's ws extension (which would only have held the socket).
"use strict";
(function () {
  const POLL_EVERY_MS = 5000;
  const REFRESH_AT_MOST_EVERY_MS = 1000;
  // Closes worth retrying: abnormal closure, server error, service restart, try again later. A
  // refusal (4401 signed out, 4403 no role, 4429 too many sockets) stays closed; the page polls.
  const RECONNECT_ON = [1006, 1011, 1012, 1013];
  const RECONNECT_MAX_MS = 64000;
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
      el.textContent = "stale since " + window.SwitchyardFormat.clock(staleSince);
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
    // Kafka consumer groups: ok, growing, stalled, stopped, no members.
    status: function (v) { return v || "—"; },
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
      // A paged table (more queues than one page) shows only its page: a sample of a queue on
      // another page changes nothing here (at 10,000 queues that was a reload every few seconds).
      const table = document.getElementById("queue-table");
      if (table && table.dataset.paged !== "true" && data.present && matchesFilters(table.dataset, data)) refresh(table, false);
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

  function onOpen(socket) {
    // Each flush as one message (a JSON array): a fleet's round is a few messages, not thousands.
    socket.send(JSON.stringify({subscribe: topics(), batch: true}));
    const wasStale = staleSince !== null;
    staleSince = null;
    badge(true);
    stopPolling();
    if (wasStale) refreshAll();
  }

  function onMessage(text) {
    let frame;
    try { frame = JSON.parse(text); } catch (e) { return; }
    (Array.isArray(frame) ? frame : [frame]).forEach(onEvent);
  }

  function onEvent(event) {
    if (event.type === "queue.sample") onQueueSample(event.data);
    else if (event.type === "broker.status") onBrokerStatus(event.data);
    document.dispatchEvent(new CustomEvent("sy:event", {detail: event}));
  }

  // Full jitter: a random wait up to 1 s, 2 s, 4 s ... 64 s, so a restarted console is not hit by
  // every page at once.
  function reconnectDelayMs(retries) {
    return Math.min(1000 * Math.pow(2, retries), RECONNECT_MAX_MS) * Math.random();
  }

  function connect(url, retries) {
    const socket = new WebSocket(url);
    socket.addEventListener("open", function () {
      retries = 0;
      onOpen(socket);
    });
    socket.addEventListener("message", function (evt) { onMessage(evt.data); });
    socket.addEventListener("close", function (evt) {
      badge(false);
      startPolling();
      if (RECONNECT_ON.indexOf(evt.code) >= 0) {
        setTimeout(function () { connect(url, retries + 1); }, reconnectDelayMs(retries));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const path = document.body.dataset.stream;
    if (!path || !topics().length) return;
    badge(false);
    document.getElementById("live-badge").textContent = "connecting…";
    // Until the socket opens, the page polls.
    setTimeout(function () { if (staleSince !== null) startPolling(); }, 3000);
    connect((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path, 0);
  });
})();
