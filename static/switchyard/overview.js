// Sorting the queue table goes through the filter form, so every table request comes from one
// element and htmx's hx-sync keeps only the newest: a slow response can never undo a newer choice.
// Without JavaScript the header links still sort by navigating.
"use strict";
document.addEventListener("click", function (evt) {
  const link = evt.target.closest("#queue-table th a[data-sort]");
  const form = document.getElementById("queue-filters");
  if (!link || !form) return;
  evt.preventDefault();
  form.querySelector("input[name=sort]").value = link.dataset.sort;
  htmx.trigger(form, "sy:sort");
});
