// Shared by every faultline page, loaded before the page's own script: collects script errors into
// #js-errors and marks the body data-status="error" (data-errors = how many), which the browser test
// reads. A page script reports errors it catches with FaultlineErrors.record(msg) and calls
// FaultlineErrors.done() when it has drawn everything, which sets data-status="drawn" if all went well.
var FaultlineErrors = (function () {
  'use strict';
  var errors = [];
  function record(msg) {
    errors.push(String(msg));
    var pre = document.getElementById('js-errors');
    if (pre) { pre.hidden = false; pre.textContent = errors.join('\n'); }
    document.body.setAttribute('data-status', 'error');
    document.body.setAttribute('data-errors', String(errors.length));
  }
  window.addEventListener('error', function (e) { record('error: ' + e.message + ' (line ' + e.lineno + ')'); });
  window.addEventListener('unhandledrejection', function (e) { record('unhandled rejection: ' + e.reason); });
  var consoleError = console.error;
  console.error = function () {
    record('console.error: ' + Array.prototype.join.call(arguments, ' '));
    consoleError.apply(console, arguments);
  };
  function done() {
    if (!errors.length) document.body.setAttribute('data-status', 'drawn');
  }
  return { record: record, done: done };
})();
