import { html, type SafeHtml } from 'enrollment-gateway/sdk';

/** A labelled field with its error slot, wired by aria-describedby so screen readers read the API's message. */
export function field(options: {
  name: string;
  label: string;
  control: (attrs: { id: string; describedBy: string }) => SafeHtml;
  hint?: string;
}): SafeHtml {
  const id = `f-${options.name.replace(/[^A-Za-z0-9]/g, '-')}`;
  const describedBy = [options.hint ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' ');
  return html`<div class="field">
  <label for="${id}">${options.label}</label>
  ${options.hint ? html`<p class="hint" id="${id}-hint">${options.hint}</p>` : ''}
  ${options.control({ id, describedBy })}
  <p class="field-error" id="${id}-error" data-error-for="${options.name}"></p>
</div>`;
}

/** A checkbox sent as a boolean, with its error slot. */
export function checkboxField(options: { name: string; label: string; checked: boolean; hint?: string }): SafeHtml {
  const id = `f-${options.name.replace(/[^A-Za-z0-9]/g, '-')}`;
  const describedBy = [options.hint ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' ');
  return html`<div class="field">
  <label><input type="checkbox" id="${id}" name="${options.name}" data-type="bool" aria-describedby="${describedBy}"${options.checked ? html` checked` : ''}> ${options.label}</label>
  ${options.hint ? html`<p class="hint" id="${id}-hint">${options.hint}</p>` : ''}
  <p class="field-error" id="${id}-error" data-error-for="${options.name}"></p>
</div>`;
}

/** The form-level message: problems the fields cannot show (409, a missing credential). */
export const formAlert = html`<div class="form-alert" role="alert" data-form-alert></div>`;

export interface ProfileFormValues {
  name?: string;
  description?: string;
  enrollmentType?: 'web-based' | 'app-based' | 'account-driven';
  priority?: number;
  assignments?: { allUsers: boolean; includedGroups: string[]; excludedGroups: string[] };
}

export function basicsFields(values: ProfileFormValues): SafeHtml {
  return html`${field({
    name: 'name',
    label: 'Name',
    control: ({ id, describedBy }) =>
      html`<input id="${id}" name="name" required maxlength="100" autocomplete="off" value="${values.name ?? ''}" aria-describedby="${describedBy}">`,
  })}
${field({
  name: 'description',
  label: 'Description',
  control: ({ id, describedBy }) =>
    html`<textarea id="${id}" name="description" maxlength="1000" rows="3" data-keep-empty aria-describedby="${describedBy}">${values.description ?? ''}</textarea>`,
})}`;
}

export function settingsFields(values: ProfileFormValues, withPriority: boolean): SafeHtml {
  const type = values.enrollmentType ?? 'web-based';
  return html`<div class="field" role="radiogroup" aria-labelledby="type-label" aria-describedby="f-enrollmentType-error">
  <p id="type-label" class="label">Enrollment type</p>
  <label><input type="radio" name="enrollmentType" value="web-based"${type === 'web-based' ? html` checked` : ''}> Web-based (Safari, iOS 15 and later)</label>
  <label><input type="radio" name="enrollmentType" value="app-based"${type === 'app-based' ? html` checked` : ''}> Company Portal app</label>
  <label><input type="radio" name="enrollmentType" value="account-driven"${type === 'account-driven' ? html` checked` : ''}> Account-driven (work account in Settings, User Enrollment, iOS 15 and later)</label>
  <p class="field-error" id="f-enrollmentType-error" data-error-for="enrollmentType"></p>
</div>
${
  withPriority
    ? field({
        name: 'priority',
        label: 'Priority (optional)',
        hint: '1 is the highest; empty puts the profile last.',
        control: ({ id, describedBy }) =>
          html`<input id="${id}" name="priority" type="number" min="1" step="1" data-type="number" aria-describedby="${describedBy}">`,
      })
    : ''
}`;
}

/** A search box whose matches (groups.js, from the directory) add an id to the list `targetId`. */
function groupPicker(targetId: string, label: string): SafeHtml {
  return html`<input type="search" class="group-picker" list="${targetId}-found" data-group-picker-for="${targetId}"
  data-status="${targetId}-picked" aria-label="${label}" placeholder="${label} by name" autocomplete="off">
<datalist id="${targetId}-found"></datalist><span class="hint" id="${targetId}-picked" role="status" aria-live="polite"></span>`;
}

export function assignmentFields(values: ProfileFormValues): SafeHtml {
  const assignments = values.assignments ?? { allUsers: false, includedGroups: [], excludedGroups: [] };
  return html`<div class="field">
  <label><input type="checkbox" name="assignments.allUsers" data-type="bool" aria-describedby="f-assignments-error"${assignments.allUsers ? html` checked` : ''}> All users</label>
  <p class="field-error" id="f-assignments-error" data-error-for="assignments"></p>
</div>
${field({
  name: 'assignments.includedGroups',
  label: 'Included groups',
  hint: 'Group ids, one per line; or find a group by name below.',
  control: ({ id, describedBy }) =>
    html`<textarea id="${id}" name="assignments.includedGroups" rows="3" data-type="lines" aria-describedby="${describedBy}">${assignments.includedGroups.join('\n')}</textarea>${groupPicker(id, 'Find a group to include')}`,
})}
${field({
  name: 'assignments.excludedGroups',
  label: 'Excluded groups',
  hint: 'Group ids, one per line; exclusion wins. Or find a group by name below.',
  control: ({ id, describedBy }) =>
    html`<textarea id="${id}" name="assignments.excludedGroups" rows="3" data-type="lines" aria-describedby="${describedBy}">${assignments.excludedGroups.join('\n')}</textarea>${groupPicker(id, 'Find a group to exclude')}`,
})}`;
}
