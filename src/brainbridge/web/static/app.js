// brainbridge serve: click a header of a table.sortable to sort it (the pages work without it).
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.sortable")) {
    const headers = table.querySelectorAll("thead th");
    headers.forEach((th, column) => {
      th.addEventListener("click", () => {
        const body = table.tBodies[0];
        const ascending = th.dataset.order !== "asc";
        headers.forEach((h) => delete h.dataset.order);
        th.dataset.order = ascending ? "asc" : "desc";
        const key = (row) => {
          const cell = row.cells[column];
          const text = cell ? (cell.dataset.sort ?? cell.textContent.trim()) : "";
          const number = Number(text);
          return text !== "" && !Number.isNaN(number) ? number : text.toLowerCase();
        };
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          const order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
          return ascending ? order : -order;
        });
        rows.forEach((row) => body.appendChild(row));
      });
    });
  }
});
