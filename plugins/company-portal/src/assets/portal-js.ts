import { TOUCH_HINT_NAME } from 'enrollment-gateway/sdk';

/**
 * The portal's only script, loaded with `defer` from the portal's own origin (CSP script-src 'self'). Pages work
 * without it; it adds two things:
 * - iPadOS Safari asks for desktop sites with a Macintosh User-Agent: a touch screen gives it away, so the script
 *   leaves the touch hint cookie and reloads a page the server could not place (data-recheck="touch") once;
 * - live regions (data-live="<event stream URL>") are replaced by the HTML the server sends over server-sent events;
 *   elements with data-while="<states>" stay visible only while the page's state is one of them.
 */
export const PORTAL_JS = `(function () {
  'use strict';
  var body = document.body;
  if (navigator.maxTouchPoints > 1 && /Macintosh/.test(navigator.userAgent)) {
    var hinted = /(?:^|; )${TOUCH_HINT_NAME}=1(?:;|$)/.test(document.cookie);
    document.cookie = '${TOUCH_HINT_NAME}=1; path=/; SameSite=Lax; Secure';
    if (!hinted && body.getAttribute('data-recheck') === 'touch') {
      location.reload();
      return;
    }
  }
  var region = document.querySelector('[data-live]');
  if (!region || !window.EventSource) return;
  var source = new EventSource(region.getAttribute('data-live'));
  source.addEventListener('update', function (event) {
    var update = JSON.parse(event.data);
    region.innerHTML = update.html;
    if (!update.state) return;
    var parts = document.querySelectorAll('[data-while]');
    for (var i = 0; i < parts.length; i++) {
      parts[i].hidden = parts[i].getAttribute('data-while').split(' ').indexOf(update.state) < 0;
    }
  });
  source.addEventListener('signin', function (event) {
    source.close();
    location.assign(JSON.parse(event.data).location);
  });
  source.addEventListener('done', function () {
    source.close();
  });
})();
`;
