// The queue page's history chart (uPlot): loads history from the API, then appends live samples.
"use strict";
(function () {
  let chart = null;
  let data = [[], [], []];
  let windowS = 3600;

  function box() { return document.getElementById("queue-chart"); }

  function cssVar(name, fallback) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  }
  function axisColour() { return cssVar("--muted", "#5b6472"); }
  function gridColour() { return cssVar("--line", "#e5e7eb"); }

  function build(el) {
    const opts = {
      width: Math.max(el.clientWidth, 320),
      height: 260,
      scales: {x: {time: true}},
      series: [
        {},
        {label: "ready", stroke: "#2563eb", width: 2, spanGaps: false},
        {label: "in flight", stroke: "#d97706", width: 2, spanGaps: false},
      ],
      // Ticks at least 90 px apart (uPlot's default packs the time labels too tight to read at
      // 1280 px); axis text in the page's muted colour so it reads in the dark theme too.
      axes: [
        {space: 90, stroke: axisColour(), grid: {stroke: gridColour()}, ticks: {stroke: gridColour()}},
        {label: "messages", space: 40, size: 60, stroke: axisColour(), grid: {stroke: gridColour()}, ticks: {stroke: gridColour()}},
      ],
    };
    return new uPlot(opts, data, el);
  }

  function load() {
    const el = box();
    if (!el) return;
    fetch(el.dataset.historyUrl + "?since=" + windowS, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error("history: HTTP " + r.status); return r.json(); })
      .then(function (q) {
        data = [[], [], []];
        q.history.forEach(function (p) {
          data[0].push(Date.parse(p.at) / 1000);
          data[1].push(p.depth);
          data[2].push(p.unacked);
        });
        if (!chart) chart = build(el); else chart.setData(data);
        el.dataset.points = String(data[0].length);
      })
      .catch(function (err) { el.textContent = "History unavailable: " + err.message; });
  }

  document.addEventListener("sy:event", function (evt) {
    const event = evt.detail;
    const el = box();
    if (!el || !chart || event.type !== "queue.sample" || String(event.data.id) !== el.dataset.queueId) return;
    if (event.data.sampled_at === null) return;
    data[0].push(event.data.sampled_at);
    data[1].push(event.data.depth);
    data[2].push(event.data.unacked);
    const cutoff = event.data.sampled_at - windowS;
    while (data[0].length && data[0][0] < cutoff) { data[0].shift(); data[1].shift(); data[2].shift(); }
    chart.setData(data);
    el.dataset.points = String(data[0].length);
  });

  document.addEventListener("DOMContentLoaded", function () {
    const select = document.getElementById("chart-window");
    if (select) select.addEventListener("change", function () { windowS = Number(select.value); load(); });
    load();
    window.addEventListener("resize", function () {
      const el = box();
      if (chart && el) chart.setSize({width: Math.max(el.clientWidth, 320), height: 260});
    });
  });
})();
