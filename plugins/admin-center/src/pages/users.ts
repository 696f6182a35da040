import { html, type PluginContext, type PluginRouter } from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { type DeviceRow, statusItems, when } from './devices.js';

interface DirectoryUser {
  id: string;
  upn: string;
  displayName: string;
  enabled: boolean;
  lastSignInAt?: string;
}

/** Without an identity plugin there is no /api/identity: say which plugin gives the page its users. */
const noDirectory = html`<p class="tone-warning" data-empty="no-identity-provider">No identity provider is enabled, so
there is no user directory yet: users appear here once they sign in. Enable sign-in with Microsoft Entra ID
(<code>identity-entra</code>, see docs/identity-entra.md) or with any OpenID Connect provider such as Okta, Google
Workspace or Keycloak (<code>identity-oidc</code>, see docs/identity-oidc.md).</p>
<p>Enrolled devices are listed under <a href="/admin/devices">Devices</a>; a user's devices open by user id above.</p>`;

/** Users from the identity plugin, each with their devices and their device limit. */
export function mountUserPages(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  const section = '/admin/users';
  pageRoute(router, ctx, { path: '/users', scope: 'users:read', section }, async (koa, { api }) => {
    const cursor = typeof koa.query.cursor === 'string' ? `&cursor=${encodeURIComponent(koa.query.cursor)}` : '';
    const users = await api.get<{ items: DirectoryUser[]; nextCursor: string | null }>(
      `/api/identity/users?limit=50${cursor}`,
    );
    return {
      title: 'Users',
      body: html`<form method="get" action="/admin/users/lookup" class="filters" role="search" aria-label="Find a user">
  <label>User id <input name="id" required></label> <button type="submit">Open</button></form>
${
  users.ok
    ? html`<table class="list"><caption class="visually-hidden">Users</caption><thead><tr><th scope="col">User</th><th scope="col">Sign-in name</th><th scope="col">Enabled</th><th scope="col">Last sign-in</th></tr></thead>
<tbody>${users.body.items.map(
        (user) =>
          html`<tr><td><a href="/admin/users/${encodeURIComponent(user.id)}">${user.displayName}</a></td><td>${user.upn}</td><td>${user.enabled ? 'yes' : 'no'}</td><td>${when(user.lastSignInAt)}</td></tr>`,
      )}</tbody></table>
${users.body.nextCursor ? html`<p><a rel="next" href="/admin/users?cursor=${encodeURIComponent(users.body.nextCursor)}">Next page</a></p>` : ''}`
    : users.status === 404
      ? noDirectory
      : html`<p>The user directory is not available (${users.problem.detail ?? users.problem.title ?? `HTTP ${users.status}`}). Open a user by id above.</p>`
}`,
    };
  });

  router.get('/users/lookup', (koa) => {
    const id = typeof koa.query.id === 'string' ? koa.query.id : '';
    koa.redirect(id ? `/admin/users/${encodeURIComponent(id)}` : '/admin/users');
  });

  pageRoute(router, ctx, { path: '/users/:id', scope: 'devices:read', section }, async (koa, { api }) => {
    const id = encodeURIComponent(koa.params.id);
    const [user, devices, limit] = await Promise.all([
      api.get<DirectoryUser>(`/api/identity/users/${id}`),
      api.must<{ items: DeviceRow[] }>(`/api/mdm/devices?userId=${id}&limit=200`),
      api.get<{ deviceLimit?: { limit: number; active: number; policy?: string } }>(
        `/api/enrollment-profiles/explain?userId=${id}&platform=iOS`,
      ),
    ]);
    const deviceLimit = limit.ok ? limit.body.deviceLimit : undefined;
    return {
      title: user.ok ? user.body.displayName : koa.params.id,
      body: html`<dl class="details">
  <dt>User id</dt><dd><code>${koa.params.id}</code></dd>
  ${user.ok ? html`<dt>Sign-in name</dt><dd>${user.body.upn}</dd><dt>Enabled</dt><dd>${user.body.enabled ? 'yes' : 'no'}</dd>` : ''}
  <dt>Device limit</dt><dd>${
    deviceLimit
      ? `${deviceLimit.active} of ${deviceLimit.limit} devices${deviceLimit.policy ? ` (policy ${deviceLimit.policy})` : ' (default limit)'}`
      : 'not evaluated (no profile applies to this user)'
  }</dd>
</dl>
<h2>Devices</h2>
${
  devices.items.length === 0
    ? html`<p>No devices.</p>`
    : html`<ul>${devices.items.map(
        (device) =>
          html`<li><a href="/admin/devices/${device.id}">${device.deviceName ?? device.productName ?? device.udid}</a> — ${device.state}, iOS ${device.osVersion ?? '?'}, last check-in ${when(device.lastSeenAt)} ${statusItems(device.statusItems)}</li>`,
      )}</ul>`
}`,
    };
  });
}
