import type Router from '@koa/router';
import { html, type PluginContext } from 'enrollment-gateway/sdk';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { formAlert } from './fields.js';

/** Policies: the Enterprise SSO extension policy (jit-registration), edited as the API's JSON. */
export function mountPoliciesPage(router: Router, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(
    router,
    ctx,
    { path: '/policies', scope: 'policies:read', section: '/admin/policies' },
    async (_koa, { api }) => {
      const sso = await api.get<Record<string, unknown>>('/api/jit/sso-policy');
      let ssoSection = html`<p>The just-in-time registration plugin is not enabled.</p>`;
      if (sso.ok) {
        const { version, updatedBy, updatedAt, ...policy } = sso.body;
        ssoSection = html`<p class="muted">Version ${String(version)}${updatedBy ? `, changed by ${String(updatedBy)} at ${String(updatedAt)}` : ''}. Devices enrolled from now on get the saved policy.</p>
<form class="stack" data-api="/api/jit/sso-policy" data-method="PUT">
${formAlert}
<div class="field"><label for="sso-policy">Policy (JSON)</label>
<textarea id="sso-policy" name="policy" data-type="json" data-root rows="16" class="code" aria-describedby="sso-policy-error">${JSON.stringify(policy, null, 2)}</textarea>
<p class="field-error" id="sso-policy-error" data-error-for="policy"></p></div>
<button type="submit">Save SSO policy</button>
</form>`;
      }
      return {
        title: 'Policies',
        body: html`<section aria-labelledby="sso-h"><h2 id="sso-h">Enterprise SSO extension</h2>${ssoSection}</section>
<section aria-labelledby="clip-h"><h2 id="clip-h">Web clip</h2>
<p>Web clip settings belong to the web-clip plugin; when it is enabled its page appears in the navigation.</p></section>`,
      };
    },
  );
}
