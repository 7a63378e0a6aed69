// The topbar's menu button on narrow screens: toggles aria-expanded, which the CSS reads to show
// the menu. Escape closes it and gives focus back to the button.
"use strict";
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    const button = document.querySelector(".nav-toggle");
    if (!button) return;
    function set(open) { button.setAttribute("aria-expanded", open ? "true" : "false"); }
    button.addEventListener("click", function () { set(button.getAttribute("aria-expanded") !== "true"); });
    document.addEventListener("keydown", function (evt) {
      if (evt.key === "Escape" && button.getAttribute("aria-expanded") === "true") { set(false); button.focus(); }
    });
  });
})();
