/**
 * /admin/assets/profiles.js: reorder the priority list by drag and drop, by Alt+Arrow keys on a row's
 * handle, or with the Move buttons. Each change saves the whole order with the version the page read,
 * so a stale page gets 409 and says so instead of overwriting someone else's order.
 */
export const PROFILES_JS = `'use strict';
(function () {
  var list = document.getElementById('profile-order');
  if (!list) return;
  var status = document.getElementById('order-status');
  var dragged = null;

  function rows() { return Array.prototype.slice.call(list.querySelectorAll('li[data-id]')); }
  function say(text) { status.textContent = text; }
  function nameOf(row) { return row.getAttribute('data-name'); }

  function renumber() {
    var all = rows();
    all.forEach(function (row, i) {
      row.querySelector('.priority').textContent = String(i + 1);
      row.querySelector('.handle').setAttribute('aria-label', 'Reorder ' + nameOf(row) + ', priority ' + (i + 1) + ' of ' + all.length);
    });
  }

  function save(movedRow, before) {
    var order = rows().map(function (row) { return row.getAttribute('data-id'); });
    var version = Number(list.getAttribute('data-order-version'));
    list.setAttribute('aria-busy', 'true');
    return window.adminCenter.api('PUT', '/api/enrollment-profiles/order', { order: order, version: version }).then(function (result) {
      list.removeAttribute('aria-busy');
      if (result.ok) {
        list.setAttribute('data-order-version', String(result.body.version));
        renumber();
        say(nameOf(movedRow) + ' now has priority ' + (order.indexOf(movedRow.getAttribute('data-id')) + 1) + '. Saved.');
        return;
      }
      // Put the rows back as the server still has them.
      before.forEach(function (row) { list.appendChild(row); });
      renumber();
      if (result.status === 409) say('Not saved: someone else changed the order since this page was loaded. Reload the page and try again.');
      else say('Not saved: ' + ((result.body && (result.body.detail || result.body.title)) || 'HTTP ' + result.status));
    });
  }

  function move(row, delta) {
    var before = rows();
    var index = before.indexOf(row);
    var target = index + delta;
    if (target < 0 || target >= before.length) return;
    if (delta < 0) list.insertBefore(row, before[target]);
    else list.insertBefore(row, before[target].nextSibling);
    row.querySelector('.handle').focus();
    save(row, before);
  }

  list.addEventListener('click', function (event) {
    var button = event.target.closest('button[data-move]');
    if (!button) return;
    move(button.closest('li[data-id]'), button.getAttribute('data-move') === 'up' ? -1 : 1);
    button.focus();
  });

  list.addEventListener('keydown', function (event) {
    var handle = event.target.closest('.handle');
    if (!handle || !event.altKey) return;
    if (event.key === 'ArrowUp' || event.key === 'ArrowDown') {
      event.preventDefault();
      move(handle.closest('li[data-id]'), event.key === 'ArrowUp' ? -1 : 1);
    }
  });

  list.addEventListener('dragstart', function (event) {
    dragged = event.target.closest('li[data-id]');
    if (!dragged) return;
    dragged.classList.add('dragging');
    event.dataTransfer.effectAllowed = 'move';
    event.dataTransfer.setData('text/plain', dragged.getAttribute('data-id'));
    dragged.before = rows();
  });
  list.addEventListener('dragover', function (event) {
    if (!dragged) return;
    event.preventDefault();
    var over = event.target.closest('li[data-id]');
    if (!over || over === dragged) return;
    var box = over.getBoundingClientRect();
    var after = event.clientY > box.top + box.height / 2;
    list.insertBefore(dragged, after ? over.nextSibling : over);
  });
  list.addEventListener('drop', function (event) { event.preventDefault(); });
  list.addEventListener('dragend', function () {
    if (!dragged) return;
    var row = dragged;
    var before = row.before;
    dragged = null;
    row.classList.remove('dragging');
    var changed = rows().some(function (r, i) { return r !== before[i]; });
    if (changed) save(row, before);
  });
})();
`;
