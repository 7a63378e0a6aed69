// The same formatting as console/templatetags/figures.py, for live updates. Unknown is a dash.
// Times have one format everywhere, in the browser's time zone: 24-hour HH:MM:SS for today,
// YYYY-MM-DD HH:MM:SS for other days (with milliseconds where they matter: data-ms), the full
// ISO 8601 time (UTC) on hover. The server renders
// <time data-clock datetime="ISO">…UTC</time> and this script rewrites it with clock(), the same
// function live updates use.
"use strict";
window.SwitchyardFormat = (function () {
  function figure(v) {
    if (v === null || v === undefined) return "—";
    if (!Number.isInteger(v)) return v < 100 ? v.toLocaleString("en-US", {minimumFractionDigits: 1, maximumFractionDigits: 1}) : Math.round(v).toLocaleString("en-US");
    return v.toLocaleString("en-US");
  }
  function rate(v) {
    if (v === null || v === undefined) return "—";
    return (v < 100 ? v.toLocaleString("en-US", {minimumFractionDigits: 1, maximumFractionDigits: 1}) : Math.round(v).toLocaleString("en-US")) + "/s";
  }
  function duration(s) {
    if (s === null || s === undefined) return "—";
    if (s < 1) return s > 0 ? "<1s" : "0s";
    let secs = Math.floor(s), minutes = Math.floor(secs / 60); secs %= 60;
    let hours = Math.floor(minutes / 60); minutes %= 60;
    const days = Math.floor(hours / 24); hours %= 24;
    if (days) return days + "d " + hours + "h";
    if (hours) return hours + "h " + minutes + "m";
    if (minutes) return minutes + "m " + secs + "s";
    return secs + "s";
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function clock(date, withMs, now) {
    if (!(date instanceof Date) || isNaN(date.getTime())) return "—";
    now = now || new Date();
    let hms = pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
    if (withMs) hms += "." + String(date.getMilliseconds()).padStart(3, "0");
    if (date.toDateString() === now.toDateString()) return hms;
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " + hms;
  }
  // Show ``date`` in a <time> element: the clock text, the ISO time in datetime and title.
  function setTime(el, date) {
    if (!el || !(date instanceof Date) || isNaN(date.getTime())) return;
    const iso = date.toISOString();
    el.setAttribute("datetime", iso);
    el.title = iso;
    el.textContent = clock(date, el.hasAttribute("data-ms"));
  }
  function stampTimes(root) {
    root = root || document;
    const times = Array.from(root.querySelectorAll("time[data-clock]"));
    if (root.matches && root.matches("time[data-clock]")) times.push(root);
    times.forEach(function (el) {
      const at = el.getAttribute("datetime");
      if (at) setTime(el, new Date(at));
    });
  }
  // Times in content swapped in later (htmx) are formatted as they arrive: a mutation observer
  // runs before the next paint, so the server's UTC text never shows.
  document.addEventListener("DOMContentLoaded", function () {
    stampTimes(document);
    new MutationObserver(function (mutations) {
      mutations.forEach(function (m) {
        m.addedNodes.forEach(function (node) { if (node.nodeType === 1) stampTimes(node); });
      });
    }).observe(document.body, {childList: true, subtree: true});
  });
  return {figure: figure, rate: rate, duration: duration, clock: clock, setTime: setTime, stampTimes: stampTimes};
})();
