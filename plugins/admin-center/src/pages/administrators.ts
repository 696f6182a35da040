import { html, type PluginContext, type PluginRouter } from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { when } from './devices.js';

interface LocalAdmin {
  id: string;
  email: string;
  role: 'read-only' | 'full';
  createdAt: string;
  revokedAt: string | null;
}

/**
 * Local administrators (the admin-passkeys plugin's /api/admins): who can sign in with a passkey, an invite form
 * that shows the one-time link, and revocation. Entra/OIDC admins are managed at the identity provider.
 */
export function mountAdministratorsPage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(
    router,
    ctx,
    { path: '/administrators', scope: 'admins:read', section: '/admin/administrators' },
    async (_koa, { api }) => {
      const { items } = await api.must<{ items: LocalAdmin[] }>('/api/admins');
      return {
        title: 'Administrators',
        body: html`<p>Local administrators sign in with a passkey. Administrators from your identity provider
(its admin role or admin groups) and API keys work beside them.</p>
<table class="list"><caption class="visually-hidden">Local administrators</caption>
<thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Since</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>${items.map(
          (admin) => html`<tr><td>${admin.email}</td><td>${admin.role === 'full' ? 'Full access' : 'Read-only'}</td>
<td>${when(admin.createdAt)}</td><td>${admin.revokedAt ? html`Revoked ${when(admin.revokedAt)}` : 'Active'}</td>
<td>${
            admin.revokedAt
              ? ''
              : html`<form data-api="/api/admins/${admin.id}" data-method="DELETE" data-no-body data-confirm="Revoke ${admin.email}? They are signed out at once."><button type="submit" class="danger">Revoke</button><span data-form-alert role="alert"></span></form>`
          }</td></tr>`,
        )}</tbody></table>
${items.length === 0 ? html`<p>No local administrators yet.</p>` : ''}
<h2>Invite an administrator</h2>
<form data-api="/api/admins/invites" data-success="show:link" class="stack">
<label>Email <input name="email" type="email" required autocomplete="off"></label>
<span data-error-for="email" class="error"></span>
<fieldset><legend>Role</legend>
<label><input type="radio" name="role" value="read-only" checked> Read-only</label>
<label><input type="radio" name="role" value="full"> Full access</label></fieldset>
<button type="submit">Create invite link</button>
<p data-form-alert role="alert"></p>
<p>One-time link (send it to the invitee; it is not shown again): <output data-result></output></p>
</form>
<p class="muted">From a shell: <code>gateway admin invite EMAIL --role read-only|full</code>.</p>`,
      };
    },
  );
}
