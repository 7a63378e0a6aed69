// The routing map (templates/pages/routing_map.html): fetches GET /api/v1/brokers/<name>/topology
// and draws it with the vendored cytoscape and its dagre layout, left to right in the direction
// messages travel. Broker names are anyone's text: they reach cytoscape as data (drawn on a canvas
// as text) and the details panel through textContent, never as markup. Depth and rates follow the
// WebSocket's queue.sample events (live.js re-dispatches them as "sy:event"); the topology itself
// is fetched again every REFETCH_MS so new bindings and queues appear.
"use strict";
(function () {
  const REFETCH_MS = 30000;
  const LABEL_MAX = 40;
  const F = window.SwitchyardFormat;
  let cy = null;
  let shapeKey = "";

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function short(text) {
    return text.length > LABEL_MAX ? text.slice(0, LABEL_MAX - 1) + "…" : text;
  }

  function nodeLabel(n) {
    if (n.kind === "exchange") {
      const name = n.label || (n.missing ? n.name + " (missing)" : n.name);
      return short(name) + "\n" + (n.exchange_type || "exchange") +
        (n.implicit_bindings !== undefined ? " · to every queue by name" : "");
    }
    if (n.kind === "consumer-group") return short(n.name) + "\n" + F.figure(n.consumers) + " members";
    if (n.kind === "queue" || n.kind === "topic") {
      let figures = F.figure(n.depth) + " msgs";
      if (n.unacked) figures += " · " + F.figure(n.unacked) + " unacked";
      const tags = [n.queue_type === "quorum" ? "quorum" : "", n.max_priority ? "priority " + n.max_priority : "",
        n.is_dlq ? "DLQ" : ""].filter(Boolean).join(" · ");
      return short(n.name) + "\n" + figures + (tags ? "\n" + tags : "");
    }
    return short(n.name);
  }

  function nodeClasses(n) {
    const classes = [n.kind];
    if (n.is_dlq) classes.push("dlq");
    if (n.is_dlq && n.depth) classes.push("dlq-holding");
    if (n.missing) classes.push("missing");
    if (n.trend === "growing" || n.trend === "stalled") classes.push("trend-" + n.trend);
    return classes.join(" ");
  }

  function keysLabel(keys) {
    // An empty key (fanout bindings, where keys do not count) is not worth a label.
    keys = (keys || []).filter(function (k) { return k !== ""; });
    if (!keys.length) return "";
    const shown = keys.slice(0, 2).map(short);
    return shown.join(", ") + (keys.length > 2 ? " +" + (keys.length - 2) : "");
  }

  function edgeLabel(e, nodesById) {
    if (e.kind === "dead-letter") return "dead letters" + (e.routing_keys.length ? " → " + keysLabel(e.routing_keys) : "");
    if (e.kind === "alternate") return "unroutable";
    if (e.kind === "consumes" && "lag" in e) return "lag " + F.figure(e.lag) + (e.status ? " · " + e.status : "");
    if (e.kind === "consumes") {
      const queue = nodesById[e.source];
      const rate = queue ? queue.consume_rate : null;
      return (e.consumers > 1 ? e.consumers + " consumers" : "") + (rate !== null && rate !== undefined ? " " + F.rate(rate) : "");
    }
    return keysLabel(e.routing_keys);
  }

  // A consumer group whose lag grows, stalls or stopped (Kafka) is worth a look: amber.
  function edgeClasses(e) {
    return e.kind + (e.status && e.status !== "ok" ? " attention" : "");
  }

  function elements(graph) {
    const nodesById = {};
    graph.nodes.forEach(function (n) { nodesById[n.id] = n; });
    const nodes = graph.nodes.map(function (n) {
      return {data: Object.assign({}, n, {label: nodeLabel(n)}), classes: nodeClasses(n)};
    });
    const edges = graph.edges.map(function (e) {
      return {data: Object.assign({}, e, {label: edgeLabel(e, nodesById)}), classes: edgeClasses(e)};
    });
    return nodes.concat(edges);
  }

  function style() {
    const fg = cssVar("--fg", "#111827"), muted = cssVar("--muted", "#5b6472"), line = cssVar("--line", "#e5e7eb");
    const bg = cssVar("--bg", "#fff"), bad = cssVar("--bad", "#b91c1c"), badBg = cssVar("--bad-bg", "#fee2e2");
    const warn = cssVar("--warn-line", "#f59e0b"), accent = cssVar("--accent", "#1d4ed8");
    const accentBg = cssVar("--accent-bg", "#eef2ff"), surface = cssVar("--surface-2", "#f3f4f6");
    return [
      {selector: "node", style: {
        "label": "data(label)", "text-wrap": "wrap", "text-max-width": "220px", "font-size": 11,
        "color": fg, "text-valign": "center", "text-halign": "center", "width": 200, "height": 56,
        "background-color": bg, "border-width": 1, "border-color": muted, "shape": "round-rectangle"}},
      {selector: "node.exchange", style: {"shape": "cut-rectangle", "background-color": accentBg, "border-color": accent}},
      {selector: "node.missing", style: {"border-style": "dashed", "border-color": bad, "background-color": surface}},
      {selector: "node.queue", style: {"shape": "rectangle"}},
      {selector: "node.consumer", style: {"shape": "ellipse", "width": 170, "height": 40, "background-color": surface}},
      {selector: "node.consumer-group", style: {"shape": "ellipse", "background-color": surface}},
      {selector: "node.dlq", style: {"border-width": 2, "border-style": "double", "border-color": muted}},
      {selector: "node.trend-growing, node.trend-stalled", style: {"border-width": 3, "border-color": warn}},
      // After the trend rule: a DLQ holding messages is red whatever its trend.
      {selector: "node.dlq-holding", style: {"border-width": 3, "border-color": bad, "background-color": badBg}},
      {selector: "node:selected", style: {"overlay-opacity": 0.12, "overlay-color": accent}},
      {selector: "edge", style: {
        "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 1.5, "line-color": muted,
        "target-arrow-color": muted, "label": "data(label)", "font-size": 10, "color": fg,
        "text-background-color": bg, "text-background-opacity": 0.85, "text-background-padding": 2,
        "text-rotation": "autorotate"}},
      {selector: "edge.exchange-binding", style: {"line-color": accent, "target-arrow-color": accent}},
      {selector: "edge.alternate", style: {"line-style": "dotted"}},
      {selector: "edge.consumes", style: {"line-color": line, "target-arrow-color": muted}},
      {selector: "edge.attention", style: {"line-color": warn, "target-arrow-color": warn, "width": 2.5}},
      {selector: "edge.dead-letter", style: {
        "line-style": "dashed", "width": 2.5, "line-color": bad, "target-arrow-color": bad, "color": bad}},
    ];
  }

  const ROUTES_LISTED = 500;
  const ROUTE_WORDS = {
    "binding": "routes to", "exchange-binding": "routes to exchange", "alternate": "sends unroutable messages to",
    "dead-letter": "dead-letters to", "consumes": "is consumed by",
  };

  // The same graph as text, for screen readers and for copying names.
  function showRoutes(graph) {
    const names = {};
    graph.nodes.forEach(function (n) { names[n.id] = n.label || n.name; });
    const list = document.getElementById("map-routes-list");
    list.replaceChildren();
    graph.edges.slice(0, ROUTES_LISTED).forEach(function (e) {
      const item = document.createElement("li");
      const keys = e.routing_keys && e.routing_keys.length ? " (" + e.routing_keys.join(", ") + ")" : "";
      item.textContent = names[e.source] + " " + (ROUTE_WORDS[e.kind] || e.kind) + " " + names[e.target] + keys;
      list.appendChild(item);
    });
    if (graph.edges.length > ROUTES_LISTED) {
      const more = document.createElement("li");
      more.textContent = "… and " + (graph.edges.length - ROUTES_LISTED) + " more";
      list.appendChild(more);
    }
  }

  function status(text) { document.getElementById("map-status").textContent = text; }

  function showNotes(graph) {
    const list = document.getElementById("map-notes");
    list.replaceChildren();
    graph.notes.forEach(function (note) {
      const item = document.createElement("li");
      item.textContent = note;
      list.appendChild(item);
    });
  }

  const DETAILS = [
    ["kind", "Kind"], ["exchange_type", "Type"], ["queue_type", "Queue type"], ["depth", "Ready"],
    ["unacked", "Unacked"], ["consumers", "Consumers"], ["publish_rate", "In"], ["consume_rate", "Out"],
    ["max_priority", "Max priority"], ["dead_letter_exchange", "Dead-letter exchange"],
    ["dead_letter_routing_key", "Dead-letter key"], ["dead_letter_via", "Dead-letter set by"],
    ["policy", "Policy"], ["peer_host", "Peer"], ["implicit_bindings", "Queues by name"],
  ];

  function showDetails(data) {
    document.getElementById("map-details-title").textContent = data.label && data.name === "" ? "(default exchange)" : data.name;
    const list = document.getElementById("map-details-list");
    list.replaceChildren();
    DETAILS.forEach(function (pair) {
      let value = data[pair[0]];
      if (value === undefined || value === null || value === "") return;
      if (pair[0].endsWith("_rate")) value = F.rate(value);
      else if (pair[0] === "dead_letter_exchange" && value === "") value = "(default exchange)";
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = pair[1];
      dd.textContent = typeof value === "number" ? F.figure(value) : String(value);
      list.append(dt, dd);
    });
    const link = document.getElementById("map-details-link");
    const base = document.getElementById("routing-map").dataset.queueUrl;
    if (data.queue_id) {
      link.href = base.replace(/\/0\/$/, "/" + encodeURIComponent(data.queue_id) + "/");
      link.hidden = false;
    } else {
      link.hidden = true;
    }
  }

  function draw(container, graph) {
    const key = graph.nodes.map(function (n) { return n.id; }).join("\n") + "\n--\n" +
      graph.edges.map(function (e) { return e.source + ">" + e.target + ":" + e.label; }).join("\n");
    if (cy && key === shapeKey) {
      elements(graph).forEach(function (el) {
        const found = cy.getElementById(el.data.id);
        if (found.nonempty()) { found.data(el.data); found.classes(el.classes); }
      });
      return;
    }
    shapeKey = key;
    if (cy) cy.destroy();
    cy = window.cytoscape({
      container: container, elements: elements(graph), style: style(),
      layout: {name: "dagre", rankDir: "LR", nodeSep: 24, rankSep: 110, edgeSep: 10},
      wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 3,
    });
    cy.on("tap", "node", function (evt) { showDetails(evt.target.data()); });
    window.SwitchyardRoutingMap.cy = cy;
  }

  function load(container) {
    const params = new URLSearchParams();
    ["vhost", "q", "around", "system"].forEach(function (field) {
      if (container.dataset[field]) params.set(field, container.dataset[field]);
    });
    const url = container.dataset.apiUrl + (params.toString() ? "?" + params.toString() : "");
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        return response.json().then(function (body) { return {ok: response.ok, body: body}; });
      })
      .then(function (answer) {
        if (!answer.ok) {
          const detail = answer.body && answer.body.detail;
          status("Could not draw the map: " + (typeof detail === "string" ? detail : JSON.stringify(detail)));
          return;
        }
        const graph = answer.body;
        draw(container, graph);
        showNotes(graph);
        showRoutes(graph);
        const counts = graph.nodes.length + " nodes, " + graph.edges.length + " edges in vhost " + graph.vhost;
        status(graph.nodes.length ? counts + (graph.truncated ? " (truncated: see below)" : "") + "." :
          "Nothing to draw in vhost " + graph.vhost + ": no exchanges or queues match. Clear the filters, or declare a queue and bind it.");
        container.dataset.loaded = "true";
      })
      .catch(function (err) { status("Could not draw the map: " + err); });
  }

  function onQueueSample(data) {
    if (!cy) return;
    cy.edges("[row_id]").forEach(function (edge) {
      if (String(edge.data("row_id")) !== String(data.id)) return;
      const merged = Object.assign({}, edge.data(), {lag: data.depth, consume_rate: data.consume_rate});
      merged.label = edgeLabel(merged, {});
      edge.data(merged);
    });
    cy.nodes("[kind = 'queue'], [kind = 'topic']").forEach(function (node) {
      if (String(node.data("queue_id")) !== String(data.id)) return;
      const merged = Object.assign({}, node.data());
      ["depth", "unacked", "consumers", "publish_rate", "consume_rate", "trend"].forEach(function (field) {
        if (field in data) merged[field] = data[field];
      });
      merged.is_dlq = merged.is_dlq || !!data.is_dlq;
      merged.label = nodeLabel(merged);
      node.data(merged);
      node.classes(nodeClasses(merged));
      node.outgoers("edge.consumes").forEach(function (edge) {
        edge.data("label", edgeLabel(edge.data(), {[node.id()]: merged}));
      });
    });
  }

  window.SwitchyardRoutingMap = {cy: null};
  document.addEventListener("DOMContentLoaded", function () {
    const container = document.getElementById("routing-map");
    if (!container || !window.cytoscape) return;
    if (window.cytoscapeDagre) window.cytoscape.use(window.cytoscapeDagre);
    load(container);
    setInterval(function () { if (!document.hidden) load(container); }, REFETCH_MS);
    document.addEventListener("sy:event", function (evt) {
      if (evt.detail && evt.detail.type === "queue.sample") onQueueSample(evt.detail.data);
    });
  });
})();
