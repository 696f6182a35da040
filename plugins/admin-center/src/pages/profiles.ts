import { randomUUID } from 'node:crypto';
import { html, type PluginContext, type PluginRouter } from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { assignmentFields, basicsFields, formAlert, type ProfileFormValues, settingsFields } from './fields.js';

interface ProfileView extends Required<Omit<ProfileFormValues, 'priority'>> {
  id: string;
  priority: number;
  version: number;
  updatedAt: string;
}

function assignedTo(profile: ProfileView): string {
  const { allUsers, includedGroups, excludedGroups } = profile.assignments;
  const to = allUsers ? 'All users' : `${includedGroups.length} group${includedGroups.length === 1 ? '' : 's'}`;
  return excludedGroups.length > 0 ? `${to}, ${excludedGroups.length} excluded` : to;
}

const encode = encodeURIComponent;

/** Enrollment profiles: the priority list, the create wizard, and the edit page. */
export function mountProfilePages(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  const section = '/admin/profiles';

  pageRoute(router, ctx, { path: '/profiles', scope: 'profiles:read', section }, async (_koa, { api }) => {
    const list = await api.must<{ items: ProfileView[]; version: number }>('/api/enrollment-profiles?limit=500');
    return {
      title: 'Enrollment profiles',
      scripts: ['profiles.js'],
      body: html`<p><a class="button" href="/admin/profiles/new">Create profile</a></p>
<p id="reorder-help" class="hint">The first profile that applies to a user wins. Drag a profile to change its priority,
or focus its handle and press Alt+Up or Alt+Down, or use Move up and Move down.</p>
<p id="order-status" class="status" role="status" aria-live="polite"></p>
${
  list.items.length === 0
    ? html`<p>No enrollment profiles yet: nobody can enroll. <a href="/admin/profiles/new">Create the first one</a>.</p>`
    : html`<ol class="profiles" id="profile-order" data-order-version="${list.version}">
${list.items.map(
  (profile) => html`<li data-id="${profile.id}" data-name="${profile.name}" draggable="true">
  <span class="handle" tabindex="0" role="button" aria-describedby="reorder-help" aria-label="Reorder ${profile.name}, priority ${profile.priority} of ${list.items.length}">⠿</span>
  <span class="priority" aria-hidden="true">${profile.priority}</span>
  <span class="grow"><a href="/admin/profiles/${encode(profile.id)}">${profile.name}</a>
    <span class="muted">${profile.enrollmentType} · ${assignedTo(profile)}</span></span>
  <button type="button" data-move="up">Move up<span class="visually-hidden"> ${profile.name}</span></button>
  <button type="button" data-move="down">Move down<span class="visually-hidden"> ${profile.name}</span></button>
</li>`,
)}
</ol>`
}`,
    };
  });

  pageRoute(router, ctx, { path: '/profiles/new', scope: 'profiles:write', section }, async () => ({
    title: 'Create enrollment profile',
    scripts: ['wizard.js', 'groups.js'],
    body: html`<ol class="steps" aria-label="Steps">
  <li data-step-marker>Basics</li><li data-step-marker>Settings</li><li data-step-marker>Assignments</li><li data-step-marker>Review + create</li>
</ol>
<form id="profile-wizard" class="stack" data-api="/api/enrollment-profiles" data-method="POST"
  data-idempotency-key="${randomUUID()}" data-success="redirect:/admin/profiles" novalidate>
${formAlert}
<fieldset data-step="1"><legend>Basics</legend>${basicsFields({})}</fieldset>
<fieldset data-step="2"><legend>Settings</legend>${settingsFields({}, true)}</fieldset>
<fieldset data-step="3"><legend>Assignments</legend>${assignmentFields({})}</fieldset>
<fieldset data-step="4"><legend>Review + create</legend>
  <dl class="review">
    <dt>Name</dt><dd data-review="name"></dd>
    <dt>Description</dt><dd data-review="description"></dd>
    <dt>Enrollment type</dt><dd data-review="enrollmentType"></dd>
    <dt>Priority</dt><dd data-review="priority"></dd>
    <dt>All users</dt><dd data-review="assignments.allUsers"></dd>
    <dt>Included groups</dt><dd data-review="assignments.includedGroups" data-lines></dd>
    <dt>Excluded groups</dt><dd data-review="assignments.excludedGroups" data-lines></dd>
  </dl>
</fieldset>
<div class="actions">
  <button type="button" data-wizard="back" hidden>Back</button>
  <button type="button" data-wizard="next" hidden>Next</button>
  <button type="submit" class="primary">Create</button>
</div>
</form>`,
  }));

  pageRoute(router, ctx, { path: '/profiles/:id', scope: 'profiles:read', section }, async (koa, { api }) => {
    const profile = await api.must<ProfileView>(`/api/enrollment-profiles/${encode(koa.params.id)}`);
    const path = `/api/enrollment-profiles/${encode(profile.id)}`;
    return {
      title: `Profile: ${profile.name}`,
      scripts: ['groups.js'],
      body: html`<p class="muted">Priority ${profile.priority} · version ${profile.version} · last changed ${profile.updatedAt}</p>
<form class="stack" data-api="${path}" data-method="PATCH" data-if-match="${profile.version}" data-success="redirect:/admin/profiles" novalidate>
${formAlert}
<fieldset><legend>Basics</legend>${basicsFields(profile)}</fieldset>
<fieldset><legend>Settings</legend>${settingsFields(profile, false)}</fieldset>
<fieldset><legend>Assignments</legend>${assignmentFields(profile)}</fieldset>
<div class="actions"><button type="submit" class="primary">Save</button> <a href="/admin/profiles">Cancel</a></div>
</form>
<form class="danger-zone" data-api="${path}" data-method="DELETE" data-no-body data-if-match="${profile.version}"
  data-confirm="Delete the profile ${profile.name}? Users it applies to fall through to the next profile." data-success="redirect:/admin/profiles">
${formAlert}
<button type="submit" class="danger">Delete profile</button>
</form>`,
    };
  });
}
