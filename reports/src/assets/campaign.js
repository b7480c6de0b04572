// faultline campaign index: sortable run table. Sets body data-status="drawn" (or "error" with the
// messages in #js-errors), which the browser test reads.
(function () {
  'use strict';
  var recordError = FaultlineErrors.record;

  function key(td) {
    var s = td.getAttribute('data-sort');
    if (s === null) s = td.textContent.trim();
    var num = Number(s);
    return s !== '' && !isNaN(num) ? num : s.toLowerCase();
  }
  function sortable(table) {
    var heads = table.querySelectorAll('thead th');
    heads.forEach(function (th, col) {
      th.addEventListener('click', function () {
        var asc = !th.classList.contains('sorted-asc');
        heads.forEach(function (h) { h.classList.remove('sorted-asc', 'sorted-desc'); });
        th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          var c = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === 'number' ? -1 : 1);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }
  try {
    document.querySelectorAll('table.sortable').forEach(sortable);
    var runs = document.querySelectorAll('table.runs tbody tr').length;
    document.body.setAttribute('data-runs', String(runs));
    FaultlineErrors.done();
  } catch (e) {
    recordError((e && e.stack) || e);
  }
})();
