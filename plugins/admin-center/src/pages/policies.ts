import { html, type PluginContext, type PluginRouter, type SafeHtml } from 'enrollment-gateway/sdk';
import type { ApiResult } from '../api-client.js';
import type { AdminCenterConfig } from '../config.js';
import { pageRoute } from '../page.js';
import { checkboxField, field, formAlert } from './fields.js';

interface Versioned {
  version: number;
  updatedBy: string | null;
  updatedAt: string | null;
}

interface SsoPolicyView extends Versioned {
  urls: string[];
  appPrefixAllowList: string;
  browserSsoInteractionEnabled: boolean;
  disableExplicitAppPrompt: boolean;
  additionalExtensionData: Record<string, unknown>;
}

interface WebClipView extends Versioned {
  label: string;
  url: string | null;
  effectiveUrl: string;
  isRemovable: boolean;
  fullScreen: boolean;
}

function versionLine(view: Versioned, applies: string): SafeHtml {
  const saved =
    view.version === 0
      ? 'Version 0: the defaults from the configuration, nobody has saved changes yet.'
      : `Version ${view.version}, saved by ${view.updatedBy ?? 'unknown'} at ${view.updatedAt ?? 'an unknown time'}.`;
  return html`<p class="muted">${saved} ${applies}</p>`;
}

/** A plugin that is not enabled answers 404; anything else is the API's own refusal. */
function unavailable(result: ApiResult<unknown>, plugin: string): SafeHtml {
  if (result.ok) return html``;
  if (result.status === 404) return html`<p>The ${plugin} plugin is not enabled.</p>`;
  return html`<p class="tone-critical">Could not read it: ${result.problem.detail ?? result.problem.title ?? `HTTP ${result.status}`}</p>`;
}

function ssoForm(policy: SsoPolicyView): SafeHtml {
  return html`${versionLine(policy, 'Devices enrolled from now on get the saved policy; enrolled devices keep theirs.')}
<form id="sso-policy-form" class="stack" data-api="/api/jit/sso-policy" data-method="PUT" data-if-match="${policy.version}" novalidate>
${formAlert}
${field({
  name: 'urls',
  label: 'Sign-in URLs',
  hint: 'https URLs the Microsoft Enterprise SSO extension handles, one per line.',
  control: ({ id, describedBy }) =>
    html`<textarea id="${id}" name="urls" rows="6" class="code" data-type="lines" aria-describedby="${describedBy}">${policy.urls.join('\n')}</textarea>`,
})}
${field({
  name: 'appPrefixAllowList',
  label: 'App prefix allow list',
  hint: 'Bundle-id prefixes of apps that get SSO without the Microsoft library, separated by commas without spaces: com.apple.,com.contoso.',
  control: ({ id, describedBy }) =>
    html`<input id="${id}" name="appPrefixAllowList" value="${policy.appPrefixAllowList}" autocomplete="off" spellcheck="false" data-keep-empty aria-describedby="${describedBy}">`,
})}
${checkboxField({
  name: 'browserSsoInteractionEnabled',
  label: 'Browsers other than Safari may use single sign-on (browser_sso_interaction_enabled)',
  checked: policy.browserSsoInteractionEnabled,
})}
${checkboxField({
  name: 'disableExplicitAppPrompt',
  label: 'Sign apps in without asking the user first (disable_explicit_app_prompt)',
  checked: policy.disableExplicitAppPrompt,
})}
${field({
  name: 'additionalExtensionData',
  label: 'More extension data (JSON)',
  hint: 'Other ExtensionData keys as a JSON object of strings, numbers and booleans, e.g. {"admin_debug_mode_enabled": true}.',
  control: ({ id, describedBy }) =>
    html`<textarea id="${id}" name="additionalExtensionData" rows="4" class="code" data-type="json" spellcheck="false" aria-describedby="${describedBy}">${JSON.stringify(policy.additionalExtensionData, null, 2)}</textarea>`,
})}
<div class="actions"><button type="submit" class="primary">Save SSO policy</button></div>
</form>`;
}

function webClipForm(clip: WebClipView): SafeHtml {
  return html`${versionLine(clip, 'Devices enrolled from now on get these settings; enrolled devices keep their icon.')}
<form id="web-clip-form" class="stack" data-api="/api/web-clip/settings" data-method="PUT" data-if-match="${clip.version}" novalidate>
${formAlert}
${field({
  name: 'label',
  label: 'Name under the icon',
  hint: 'At most 40 characters.',
  control: ({ id, describedBy }) =>
    html`<input id="${id}" name="label" value="${clip.label}" maxlength="40" autocomplete="off" data-keep-empty aria-describedby="${describedBy}">`,
})}
${field({
  name: 'url',
  label: 'Address the icon opens (optional)',
  hint: `An https URL; leave it empty to open the Company Portal${clip.url === null ? ` (${clip.effectiveUrl})` : ''}.`,
  control: ({ id, describedBy }) =>
    html`<input id="${id}" name="url" type="url" value="${clip.url ?? ''}" autocomplete="off" spellcheck="false" aria-describedby="${describedBy}">`,
})}
${checkboxField({ name: 'isRemovable', label: 'Users may remove the icon from the Home Screen', checked: clip.isRemovable })}
${checkboxField({
  name: 'fullScreen',
  label: 'Open as a full-screen web app',
  hint: 'The web app keeps its own cookies, apart from Safari: users sign in there once more.',
  checked: clip.fullScreen,
})}
<div class="actions"><button type="submit" class="primary">Save web clip settings</button></div>
</form>`;
}

/**
 * Policies: the Enterprise SSO extension policy (jit-registration) and the web clip settings (web-clip),
 * each a form over its plugin's API. Saves carry the version the page read, so a stale page is told (409).
 */
export function mountPoliciesPage(router: PluginRouter, ctx: PluginContext<AdminCenterConfig>): void {
  pageRoute(
    router,
    ctx,
    { path: '/policies', scope: 'policies:read', section: '/admin/policies' },
    async (_koa, { api }) => {
      const [sso, clip] = await Promise.all([
        api.get<SsoPolicyView>('/api/jit/sso-policy'),
        api.get<WebClipView>('/api/web-clip/settings'),
      ]);
      return {
        title: 'Policies',
        body: html`<section aria-labelledby="sso-h"><h2 id="sso-h">Enterprise SSO extension</h2>
${sso.ok ? ssoForm(sso.body) : unavailable(sso, 'just-in-time registration')}</section>
<section aria-labelledby="clip-h"><h2 id="clip-h">Web clip</h2>
<p>The Company Portal icon put on the Home Screen of enrolled devices.</p>
${clip.ok ? webClipForm(clip.body) : unavailable(clip, 'web clip')}</section>`,
      };
    },
  );
}
