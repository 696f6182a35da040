/**
 * /admin/assets/groups.js: the group pickers beside the assignment lists. Typing searches the directory through
 * GET /api/enrollment-profiles/groups (Microsoft Graph for Entra, groups seen at sign-in otherwise) and fills a
 * datalist; picking a match adds its id to the list. Ids typed straight into the list still work: the API checks
 * them against the directory when the form is saved.
 */
export const GROUPS_JS = `'use strict';
(function () {
  document.querySelectorAll('input[data-group-picker-for]').forEach(function (input) {
    var target = document.getElementById(input.getAttribute('data-group-picker-for'));
    var list = document.getElementById(input.getAttribute('list'));
    var status = document.getElementById(input.getAttribute('data-status'));
    var timer = null;
    var asked = 0;
    var found = {};

    function add(id) {
      var lines = target.value.split('\\n').map(function (l) { return l.trim(); }).filter(Boolean);
      if (lines.indexOf(id) === -1) lines.push(id);
      target.value = lines.join('\\n');
      input.value = '';
      status.textContent = 'Added ' + (found[id] || id) + '.';
    }

    function search(query) {
      var ticket = ++asked;
      window.adminCenter.api('GET', '/api/enrollment-profiles/groups?q=' + encodeURIComponent(query)).then(function (result) {
        if (ticket !== asked) return;
        list.textContent = '';
        found = {};
        if (!result.ok) { status.textContent = (result.body && result.body.detail) || 'The group search failed.'; return; }
        if (!result.body.searchable) { status.textContent = 'No identity provider can search groups; type group ids.'; return; }
        result.body.items.forEach(function (group) {
          var option = document.createElement('option');
          option.value = group.id;
          var name = group.displayName || group.id;
          option.label = name + (group.source === 'sign-ins' ? ' (seen at sign-in)' : '');
          found[group.id] = name;
          list.appendChild(option);
        });
        status.textContent = result.body.items.length + ' group' + (result.body.items.length === 1 ? '' : 's') + ' found.';
      });
    }

    input.addEventListener('input', function () {
      var value = input.value.trim();
      if (found[value]) { add(value); return; }
      clearTimeout(timer);
      if (value.length < 2) return;
      timer = setTimeout(function () { search(value); }, 250);
    });
    input.addEventListener('keydown', function (event) {
      if (event.key === 'Enter') { event.preventDefault(); if (found[input.value.trim()]) add(input.value.trim()); }
    });
  });
})();
`;
