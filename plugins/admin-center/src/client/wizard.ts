/**
 * /admin/assets/wizard.js: turns the profile form into the steps Basics → Settings → Assignments →
 * Review + create. Without the script every step shows at once. Errors from the API open the step
 * holding the first field in error.
 */
export const WIZARD_JS = String.raw`'use strict';
(function () {
  var form = document.getElementById('profile-wizard');
  if (!form) return;
  var steps = Array.prototype.slice.call(form.querySelectorAll('fieldset[data-step]'));
  var markers = Array.prototype.slice.call(document.querySelectorAll('.steps [data-step-marker]'));
  var back = form.querySelector('[data-wizard="back"]');
  var next = form.querySelector('[data-wizard="next"]');
  var submit = form.querySelector('button[type="submit"]');
  var current = 0;

  function show(index) {
    current = index;
    steps.forEach(function (step, i) { step.hidden = i !== index; });
    markers.forEach(function (marker, i) {
      if (i === index) marker.setAttribute('aria-current', 'step');
      else marker.removeAttribute('aria-current');
    });
    back.hidden = index === 0;
    next.hidden = index === steps.length - 1;
    submit.hidden = index !== steps.length - 1;
    if (index === steps.length - 1) review();
    var legend = steps[index].querySelector('legend');
    if (legend) { legend.setAttribute('tabindex', '-1'); legend.focus(); }
  }

  function stepValid(index) {
    var fields = steps[index].querySelectorAll('input, textarea, select');
    for (var i = 0; i < fields.length; i++) {
      if (!fields[i].checkValidity()) { fields[i].reportValidity(); return false; }
    }
    return true;
  }

  function value(name) {
    var field = form.querySelector('[name="' + name + '"]:checked') || form.querySelector('[name="' + name + '"]');
    if (!field) return '';
    if (field.type === 'checkbox') return field.checked ? 'Yes' : 'No';
    return field.value.trim();
  }

  function review() {
    form.querySelectorAll('[data-review]').forEach(function (cell) {
      var name = cell.getAttribute('data-review');
      var text = value(name);
      if (cell.hasAttribute('data-lines')) text = text.split('\n').map(function (l) { return l.trim(); }).filter(Boolean).join(', ');
      cell.textContent = text || '—';
    });
  }

  back.addEventListener('click', function () { show(Math.max(0, current - 1)); });
  next.addEventListener('click', function () { if (stepValid(current)) show(Math.min(steps.length - 1, current + 1)); });
  form.addEventListener('api-errors', function (event) {
    var first = event.detail.first;
    var index = first ? steps.findIndex(function (step) { return step.contains(first); }) : -1;
    if (index >= 0 && index !== current) {
      show(index);
      if (first.focus) first.focus();
    }
  });
  form.classList.add('wizard-on');
  show(0);
})();
`;
