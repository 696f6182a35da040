import type { AdminNavigationEntry, AdminPrincipal, SafeHtml } from 'enrollment-gateway/sdk';
import { html, strictPageCsp } from 'enrollment-gateway/sdk';

/** The SDK's strict page policy; QR codes are data: images. */
export const PAGE_CSP = strictPageCsp({ dataImages: true });

export const BUILT_IN_NAVIGATION: AdminNavigationEntry[] = [
  { id: 'home', label: 'Overview', path: '/admin/home', scope: 'devices:read', order: 5 },
  { id: 'setup', label: 'Setup checklist', path: '/admin/setup', scope: 'profiles:read', order: 10 },
  { id: 'profiles', label: 'Enrollment profiles', path: '/admin/profiles', scope: 'profiles:read', order: 20 },
  { id: 'devices', label: 'Devices', path: '/admin/devices', scope: 'devices:read', order: 30 },
  { id: 'users', label: 'Users', path: '/admin/users', scope: 'users:read', order: 40 },
  { id: 'push', label: 'Push certificate', path: '/admin/push-certificate', scope: 'apns:read', order: 50 },
  { id: 'policies', label: 'Policies', path: '/admin/policies', scope: 'policies:read', order: 60 },
  { id: 'enroll', label: 'Enrollment link', path: '/admin/enroll', scope: 'profiles:read', order: 70 },
  { id: 'audit', label: 'Audit log', path: '/admin/audit', scope: 'audit:read', order: 80 },
  { id: 'api', label: 'API reference', path: '/api/docs', scope: 'profiles:read', order: 90 },
];

/** Same rule as the guard: "*" covers all, "devices:*" covers "devices:read", "*:read" every read. */
export function holdsScope(principal: AdminPrincipal, scope: string): boolean {
  const [area, action] = scope.split(':');
  return principal.scopes.some(
    (granted) => granted === '*' || granted === scope || granted === `${area}:*` || granted === `*:${action}`,
  );
}

export interface PageShell {
  title: string;
  /** Path of the navigation entry to mark as current. */
  current: string;
  principal: AdminPrincipal;
  navigation: readonly AdminNavigationEntry[];
  csrfToken?: string;
  /** Page scripts under /admin/assets/, after the common one. */
  scripts?: readonly string[];
  /** Where a session's sign-out form posts (with the CSRF token); none for API keys and bearer tokens. */
  signOutPath?: string;
}

export function renderPage(shell: PageShell, body: SafeHtml): string {
  const entries = shell.navigation.filter((entry) => holdsScope(shell.principal, entry.scope));
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
${shell.csrfToken ? html`<meta name="csrf-token" content="${shell.csrfToken}">` : ''}
<title>${shell.title} · Enrollment Gateway admin</title>
<link rel="stylesheet" href="/admin/assets/admin.css">
<link rel="icon" href="data:,">
<script src="/admin/assets/common.js" defer></script>
${(shell.scripts ?? []).map((name) => html`<script src="/admin/assets/${name}" defer></script>`)}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="brand">Enrollment Gateway</span>
  <span class="who">Signed in as <strong data-signed-in-as>${shell.principal.displayName}</strong></span>
  ${
    shell.signOutPath
      ? html`<form method="post" action="${shell.signOutPath}" class="signout"><input type="hidden" name="csrf" value="${shell.csrfToken ?? ''}"><button type="submit">Sign out</button></form>`
      : ''
  }
</header>
<div class="frame">
<nav aria-label="Admin sections"><ul>
${entries.map(
  (entry) =>
    html`<li><a href="${entry.path}"${entry.path === shell.current ? html` aria-current="page"` : ''}>${entry.label}</a></li>`,
)}
</ul></nav>
<main id="main" tabindex="-1">
<h1>${shell.title}</h1>
${body}
</main>
</div>
</body>
</html>`.value;
}

/** A page-level message for refusals the page itself hits (403 scope, 404, API down). */
export function renderMessage(title: string, message: string, status: number): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · Enrollment Gateway admin</title><link rel="stylesheet" href="/admin/assets/admin.css"></head>
<body><main id="main" class="message"><h1>${title}</h1><p>${message}</p>
<p class="muted">HTTP ${status}</p><p><a href="/admin/setup">Back to the admin center</a></p></main></body></html>`
    .value;
}
