// The same formatting as console/templatetags/figures.py, for live updates. Unknown is a dash.
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
  return {figure: figure, rate: rate, duration: duration};
})();
