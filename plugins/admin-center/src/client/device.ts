/**
 * /admin/assets/device.js: follows the device's server-sent events (command results, retirement steps)
 * and re-renders the live section from the server's own page, so the script holds no templates.
 */
export const DEVICE_JS = `'use strict';
(function () {
  var live = document.getElementById('live');
  if (!live || !window.EventSource) return;
  var status = document.getElementById('live-status');
  var refreshing = false;

  function refresh(message) {
    if (refreshing) return;
    refreshing = true;
    fetch(live.getAttribute('data-live-src'), { credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (response) { return response.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, 'text/html');
        var fresh = doc.getElementById('live');
        if (fresh) live.replaceChildren.apply(live, Array.prototype.map.call(fresh.childNodes, function (node) { return document.importNode(node, true); }));
        if (message) status.textContent = message;
      })
      .finally(function () { refreshing = false; });
  }

  var source = new EventSource(live.getAttribute('data-events'));
  source.addEventListener('command', function (event) {
    var data = JSON.parse(event.data);
    refresh(data.requestType + ': ' + data.status);
  });
  source.addEventListener('unenrollment', function (event) {
    var data = JSON.parse(event.data);
    refresh('Retirement ' + data.state);
  });
  window.addEventListener('beforeunload', function () { source.close(); });
})();
`;
