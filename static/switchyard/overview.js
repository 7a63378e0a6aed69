// Sorting the queue table goes through the filter form, so every table request comes from one
// element and htmx's hx-sync keeps only the newest: a slow response can never undo a newer choice.
// Live reloads come from #queue-table-refresh, which sends the form's filters and, here, the page
// the table shows (paging navigates, so a reload must keep the page; a filter change starts over).
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

document.addEventListener("htmx:configRequest", function (evt) {
  if (evt.detail.elt.id !== "queue-table-refresh") return;
  const table = document.getElementById("queue-table");
  if (table && table.dataset.page && table.dataset.page !== "1") evt.detail.parameters.page = table.dataset.page;
});
