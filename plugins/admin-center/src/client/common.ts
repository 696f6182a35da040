/**
 * Browser script shared by every admin page, served as /admin/assets/common.js. Kept as a string so the
 * build ships it without an asset step; it avoids backticks and template placeholders for that reason.
 * Forms marked data-api send JSON to the admin API and show its validation issues next to the fields.
 */
export const COMMON_JS = String.raw`'use strict';
(function () {
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : null;

  function api(method, path, body, extraHeaders) {
    var headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (csrf && method !== 'GET') headers['x-csrf-token'] = csrf;
    for (var key in extraHeaders || {}) headers[key] = extraHeaders[key];
    return fetch(path, {
      method: method,
      headers: headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        return { ok: response.ok, status: response.status, body: parsed };
      });
    });
  }

  function setPath(target, path, value) {
    var parts = path.split('.');
    var node = target;
    for (var i = 0; i < parts.length - 1; i++) {
      if (typeof node[parts[i]] !== 'object' || node[parts[i]] === null) node[parts[i]] = {};
      node = node[parts[i]];
    }
    node[parts[parts.length - 1]] = value;
  }

  function fieldValue(field) {
    var type = field.getAttribute('data-type') || 'string';
    if (type === 'bool') return field.checked;
    var raw = field.value;
    if (type === 'number') return raw.trim() === '' ? undefined : Number(raw);
    if (type === 'nullable') return raw.trim() === '' ? null : raw.trim();
    if (type === 'lines') return raw.split('\n').map(function (l) { return l.trim(); }).filter(Boolean);
    if (type === 'json') {
      try { return JSON.parse(raw); } catch (e) { throw { field: field, message: 'is not valid JSON: ' + e.message }; }
    }
    if (raw === '' && !field.hasAttribute('data-keep-empty')) return undefined;
    return raw;
  }

  function formJson(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.disabled || field.hasAttribute('data-skip')) return;
      if (field.type === 'radio' && !field.checked) return;
      if (field.type === 'submit' || field.type === 'button') return;
      var value = fieldValue(field);
      if (value === undefined) return;
      if (field.hasAttribute('data-root')) Object.assign(out, value);
      else setPath(out, field.name, value);
    });
    return out;
  }

  function clearErrors(form) {
    form.querySelectorAll('[data-error-for]').forEach(function (el) { el.textContent = ''; });
    form.querySelectorAll('[aria-invalid]').forEach(function (el) { el.removeAttribute('aria-invalid'); });
    var alert = form.querySelector('[data-form-alert]');
    if (alert) alert.textContent = '';
  }

  function errorTarget(form, path) {
    var parts = path ? path.split('.') : [];
    for (var n = parts.length; n > 0; n--) {
      var key = parts.slice(0, n).join('.');
      var el = form.querySelector('[data-error-for="' + CSS.escape(key) + '"]');
      if (el) return { container: el, key: key };
    }
    return null;
  }

  function showProblem(form, status, problem) {
    var alert = form.querySelector('[data-form-alert]');
    var issues = (problem && problem.issues) || [];
    var unplaced = [];
    var first = null;
    issues.forEach(function (issue) {
      var target = errorTarget(form, issue.path);
      if (!target) { unplaced.push((issue.path ? issue.path + ': ' : '') + issue.message); return; }
      target.container.textContent = (target.container.textContent ? target.container.textContent + ' ' : '') + issue.message;
      var field = form.querySelector('[name="' + CSS.escape(target.key) + '"]');
      if (field) { field.setAttribute('aria-invalid', 'true'); first = first || field; }
      first = first || target.container;
    });
    var text;
    var stale = status === 409;
    if (stale) {
      // A stale version says it all; any other conflict keeps the API's own words in front.
      var versioned = problem && typeof problem.currentVersion === 'number';
      text = (!versioned && problem && problem.detail ? problem.detail + ' ' : '') + 'Someone changed this since you opened the page, so nothing was saved.';
    } else if (issues.length === 0 || unplaced.length > 0) text = unplaced.length > 0 ? unplaced.join('; ') : (problem && (problem.detail || problem.title)) || ('The request failed (HTTP ' + status + ').');
    else text = 'Some fields need your attention.';
    if (alert) {
      alert.textContent = text;
      if (stale) {
        var reload = document.createElement('a');
        reload.href = window.location.pathname + window.location.search;
        reload.textContent = 'Reload the page';
        reload.setAttribute('data-reload', '');
        alert.appendChild(document.createTextNode(' '));
        alert.appendChild(reload);
        alert.appendChild(document.createTextNode(' to see the latest version, then make your change again.'));
      }
    }
    form.dispatchEvent(new CustomEvent('api-errors', { detail: { first: first } }));
    if (first && first.focus) first.focus();
  }

  function succeed(form, result) {
    var success = form.getAttribute('data-success') || 'reload';
    form.dispatchEvent(new CustomEvent('api-success', { detail: result }));
    if (success === 'event') return;
    if (success.indexOf('show:') === 0) {
      // Something shown once (an invite link): put it in the form's output and leave the page as it is.
      var output = form.querySelector('[data-result]');
      if (output) output.textContent = result.body ? String(result.body[success.slice(5)]) : '';
      return;
    }
    if (success.indexOf('redirect:') === 0) { window.location.assign(success.slice(9)); return; }
    window.location.reload();
  }

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute('data-api')) return;
    event.preventDefault();
    if (form.getAttribute('aria-busy') === 'true') return;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    clearErrors(form);
    var body;
    try {
      body = form.hasAttribute('data-no-body') ? undefined : formJson(form);
    } catch (problem) {
      showProblem(form, 400, { issues: [{ path: problem.field.name, message: problem.message }] });
      return;
    }
    var headers = {};
    if (form.dataset.idempotencyKey) headers['idempotency-key'] = form.dataset.idempotencyKey;
    if (form.dataset.ifMatch) headers['if-match'] = '"' + form.dataset.ifMatch + '"';
    var buttons = form.querySelectorAll('button[type="submit"]');
    form.setAttribute('aria-busy', 'true');
    buttons.forEach(function (b) { b.disabled = true; });
    api(form.getAttribute('data-method') || 'POST', form.getAttribute('data-api'), body, headers)
      .then(function (result) {
        if (result.ok) succeed(form, result);
        else showProblem(form, result.status, result.body);
      })
      .catch(function (error) { showProblem(form, 0, { detail: 'The gateway did not answer: ' + error.message }); })
      .finally(function () {
        form.removeAttribute('aria-busy');
        buttons.forEach(function (b) { b.disabled = false; });
      });
  });

  window.adminCenter = { api: api, showProblem: showProblem, clearErrors: clearErrors };
})();
`;
