// Toasts: an action's answer carries a "toast" event in its HX-Trigger header (console/pages/toasts.py),
// which htmx dispatches as a DOM event; this shows it in base.html's #toasts area for a while. Text
// only (textContent): the message may quote names anyone could have chosen.
"use strict";
(function () {
  const SHOW_FOR_MS = {success: 6000, error: 12000};
  const MAX_SHOWN = 5;

  function show(message, level) {
    const area = document.getElementById("toasts");
    if (!area || typeof message !== "string" || !message) return;
    level = level === "error" ? "error" : "success";
    const toast = document.createElement("div");
    toast.className = "toast toast-" + level;
    const text = document.createElement("span");
    text.textContent = message;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "link";
    dismiss.setAttribute("aria-label", "dismiss");
    dismiss.textContent = "×";
    dismiss.addEventListener("click", function () { toast.remove(); });
    toast.append(text, dismiss);
    area.append(toast);
    while (area.children.length > MAX_SHOWN) area.firstElementChild.remove();
    setTimeout(function () { toast.remove(); }, SHOW_FOR_MS[level]);
  }

  document.addEventListener("toast", function (evt) {
    const detail = evt.detail || {};
    show(detail.message, detail.level);
  });
  window.SwitchyardToast = {show: show};
})();
