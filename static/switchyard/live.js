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

  // htmx holds a request asked of an element while its last one is on its way, and drops it when
  // that one's response replaced the element (hx-swap outerHTML): the reload, and what changed,
  // would be lost. Such a reload is asked again of the new element once htmx has processed it
  // (htmx:load), or of the same one when the request failed. Until it settles, a new element
  // wears the old one's classes, htmx-request included, without a request of its own.
  // The event each put-aside reload fires, by element id.
  const reloadAfterResponse = new Map();
  function settling(el) {
    const c = el.classList;
    return c.contains("htmx-swapping") || c.contains("htmx-settling") || c.contains("htmx-added");
  }
  function onItsWay(el) {
    return el.classList.contains("htmx-request") && !settling(el);
  }
  // Only a part that replaces itself loses its queued request; one that swaps another element
  // (#queue-table-refresh) stays, and htmx's own queue (hx-sync) serves it.
  function replacesItself(el) {
    return el.id && el.getAttribute("hx-swap") === "outerHTML" && !el.hasAttribute("hx-target");
  }
  // Fire ``trigger`` (the part's hx-trigger event, sy:refresh unless named) on ``el``, now or,
  // when it would be lost, once the part's response is in.
  function reload(el, trigger) {
    const name = trigger || "sy:refresh";
    if (replacesItself(el) && (onItsWay(el) || settling(el))) {
      reloadAfterResponse.set(el.id, name);
      return;
    }
    htmx.trigger(el, name);
  }
  function reloadWaiting(id) {
    const name = reloadAfterResponse.get(id);
    if (!name) return;
    reloadAfterResponse.delete(id);
    setTimeout(function () {
      const el = document.getElementById(id);
      if (!el) return;
      if (onItsWay(el)) reloadAfterResponse.set(id, name);
      else htmx.trigger(el, name);
    }, 0);
  }
  document.addEventListener("htmx:load", function (evt) {
    const el = evt.detail.elt;
    if (el && el.id) reloadWaiting(el.id);
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (!evt.detail.successful) Array.from(reloadAfterResponse.keys()).forEach(reloadWaiting);
  });

  function refresh(el, force) {
    const now = Date.now();
    if (!force && now - (lastRefresh.get(el) || 0) < REFRESH_AT_MOST_EVERY_MS) return;
    lastRefresh.set(el, now);
    reload(el);
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
      if (el) reload(el);
    }, wait);
  }
  window.SwitchyardLive = {refreshSoon: refreshSoon, reload: reload};

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

  function onQueueSample(data) {
    const row = document.querySelector("tr[data-queue-id='" + CSS.escape(String(data.id)) + "']");
    if (row) {
      applyFields(row, data);
      row.className = row.className.replace(/trend-\S+/, "trend-" + (data.trend || "none"));
    }
    const figures = document.querySelector("#queue-figures[data-queue-id='" + CSS.escape(String(data.id)) + "']");
    if (figures) applyFields(figures, data);
  }

  // The queues whose samples this page shows: the queue table's rows, or the queue page's queue.
  // The server then sends only those (docs/websocket.md, "Watching some queues"): at 10,000 queues
  // a page of rows is a handful of events a round, not the fleet's. Null (every queue) on other
  // pages (the routing map draws the queues of a broker).
  function watchedQueues() {
    const table = document.getElementById("queue-table");
    const figures = document.getElementById("queue-figures");
    if (!table && !(figures && figures.dataset.queueId)) return null;
    const ids = [];
    if (table) table.querySelectorAll("tr[data-queue-id]").forEach(function (row) { ids.push(row.dataset.queueId); });
    if (figures && figures.dataset.queueId) ids.push(figures.dataset.queueId);
    return ids;
  }

  let socketOpen = null;
  let watching = "";
  // After a swap (paging, a filter, a sort, a refresh) the rows changed: watch the new ones.
  function watchRows() {
    if (!socketOpen || socketOpen.readyState !== WebSocket.OPEN || !topics().includes("queues")) return;
    const ids = watchedQueues();
    const now = JSON.stringify(ids);
    if (now === watching) return;
    watching = now;
    socketOpen.send(JSON.stringify({queues: ids}));
  }

  // The fleet's summary: figures over every queue, sent each round they change. A table that shows
  // every (matching) queue reloads when the number of queues changes, and on the first summary
  // after the socket opened: a new queue has no row, and this page does not watch it. A paged
  // table keeps its page.
  const SUMMARY_RELOAD_AT_MOST_EVERY_MS = 10000;
  let summaryQueues = null;
  function onSummary(data) {
    const fields = document.querySelectorAll("[data-summary-field]");
    fields.forEach(function (el) {
      const value = data[el.dataset.summaryField];
      el.textContent = value === null || value === undefined ? "—" : typeof value === "object" ? value.name : F.figure(value);
    });
    // A summary without fields to fill (rendered text only) is re-fetched, at most every 10 s.
    if (!fields.length && document.querySelector("#brokers .fleet-summary")) refreshSoon("brokers", SUMMARY_RELOAD_AT_MOST_EVERY_MS);
    const table = document.getElementById("queue-table");
    const reloader = document.getElementById("queue-table-refresh");
    if (table && reloader && table.dataset.paged !== "true" && summaryQueues !== data.queues) refresh(reloader, false);
    summaryQueues = data.queues;
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
    const hello = {subscribe: topics(), batch: true};
    if (topics().includes("queues")) {
      hello.queues = watchedQueues();
      watching = JSON.stringify(hello.queues);
    }
    socketOpen = socket;
    summaryQueues = null;
    socket.send(JSON.stringify(hello));
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
    else if (event.type === "queues.summary") onSummary(event.data);
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
  document.addEventListener("htmx:afterSettle", watchRows);
})();
