import { html, type SafeHtml, strictPageCsp } from 'enrollment-gateway/sdk';

/** The SDK's strict page policy; QR codes are data: images. */
export const PAGE_CSP = strictPageCsp({ dataImages: true });

function shell(title: string, organization: string, body: SafeHtml, withScript: boolean): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · ${organization} admin</title>
<link rel="stylesheet" href="/admin/assets/admin.css">
<link rel="icon" href="data:,">
${withScript ? html`<script src="/admin-auth/assets/webauthn.js" defer></script><script src="/admin-auth/assets/passkeys.js" defer></script>` : ''}
</head>
<body>
<header class="top"><span class="brand">${organization} · Enrollment Gateway</span></header>
<main id="main" class="message">
<h1>${title}</h1>
${body}
</main>
</body>
</html>`.value;
}

export function signInPage(organization: string, returnTo: string, notice?: string): string {
  return shell(
    'Sign in to the admin center',
    organization,
    html`${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<p>Sign in with the passkey you created from your invite link.</p>
<form method="post" action="/admin-auth/sign-in" data-passkey="sign-in" data-return-to="${returnTo}">
<button type="submit">Sign in with a passkey</button>
</form>
<p id="passkey-status" class="muted" role="status" aria-live="polite"></p>
<p class="muted">No passkey yet? Ask an administrator for an invite (<code>gateway admin invite you@example.com</code>).</p>`,
    true,
  );
}

export function invitePage(organization: string, token: string, email: string, role: string): string {
  return shell(
    'Create your admin passkey',
    organization,
    html`<p>You were invited as <strong>${email}</strong> (${role === 'full' ? 'full access' : 'read-only'}).</p>
<p>Create a passkey on this device (Touch ID, Windows Hello, a phone or a security key). This link works once.</p>
<form method="post" action="/admin-auth/invite/${token}" data-passkey="register">
<button type="submit">Create passkey</button>
</form>
<p id="passkey-status" class="muted" role="status" aria-live="polite"></p>`,
    true,
  );
}

export function messagePage(organization: string, title: string, message: string, status: number): string {
  return shell(
    title,
    organization,
    html`<p>${message}</p><p class="muted">HTTP ${status}</p><p><a href="/admin-auth/sign-in">Go to sign-in</a></p>`,
    false,
  );
}
