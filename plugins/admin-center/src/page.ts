import {
  type AdminNavigationEntry,
  adminNavigationPoint,
  adminPrincipal,
  browserSessionsRef,
  type PluginContext,
  type PluginRouter,
  ProblemError,
  requireAdminScope,
  type SafeHtml,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { AdminApiClient } from './api-client.js';
import type { AdminCenterConfig } from './config.js';
import { BUILT_IN_NAVIGATION, PAGE_CSP, renderMessage, renderPage } from './layout.js';
import { SIGN_IN_PATH } from './pages/sign-in.js';

export interface PageOutput {
  title: string;
  body: SafeHtml;
  scripts?: readonly string[];
  /** The navigation entry to mark current; defaults to the route's section. */
  current?: string;
}

export interface PageTools {
  api: AdminApiClient;
  ctx: PluginContext<AdminCenterConfig>;
}

/** Built-in entries plus those other plugins contribute, in order; the first entry per id wins. */
export function navigation(ctx: PluginContext<AdminCenterConfig>): AdminNavigationEntry[] {
  const seen = new Set<string>();
  return [...BUILT_IN_NAVIGATION, ...ctx.extensions(adminNavigationPoint).map((c) => c.value)]
    .filter((entry) => !seen.has(entry.id) && seen.add(entry.id))
    .sort((a, b) => (a.order ?? 1000) - (b.order ?? 1000));
}

function sendHtml(koa: Koa.Context, status: number, body: string): void {
  koa.status = status;
  koa.set('Content-Security-Policy', PAGE_CSP);
  koa.set('Cache-Control', 'no-store');
  koa.type = 'text/html; charset=utf-8';
  koa.body = body;
}

/**
 * A server-rendered admin page behind the admin guard. Without credentials a browser is sent to sign in
 * (when an identity plugin offers sessions); refusals render as pages rather than problem+json.
 */
export function pageRoute(
  router: PluginRouter,
  ctx: PluginContext<AdminCenterConfig>,
  options: { path: string; scope: string; section: string },
  render: (koa: Koa.Context, tools: PageTools) => Promise<PageOutput>,
): void {
  const guard = requireAdminScope(ctx, options.scope);
  router.get(options.path, async (koa) => {
    const sessions = ctx.tryResolve(browserSessionsRef);
    let output: PageOutput;
    try {
      let admitted = false;
      await guard(koa, async () => {
        admitted = true;
      });
      if (!admitted) throw new ProblemError(403, 'Forbidden');
      output = await render(koa, { api: new AdminApiClient(koa), ctx });
    } catch (error) {
      if (!ProblemError.is(error)) throw error;
      if (error.status === 401) {
        // Never a dead end: an anonymous (or signed-out, or revoked) browser goes to the sign-in page.
        koa.redirect(`${SIGN_IN_PATH}?returnTo=${encodeURIComponent(koa.originalUrl)}`);
        return;
      }
      const message = error.detail ?? error.title;
      sendHtml(koa, error.status, renderMessage(error.title, message, error.status));
      return;
    }
    const principal = adminPrincipal(koa);
    // A passkey session brings its own token and sign-out; an identity session's come from the identity plugin.
    const identitySession = principal.kind === 'user' && !principal.session && sessions !== undefined;
    const csrfToken = principal.session?.csrfToken ?? (identitySession ? await sessions?.csrfToken(koa) : undefined);
    sendHtml(
      koa,
      200,
      renderPage(
        {
          title: output.title,
          current: output.current ?? options.section,
          principal,
          navigation: navigation(ctx),
          csrfToken,
          scripts: output.scripts,
          signOutPath: principal.session?.signOutPath ?? (identitySession ? '/auth/signout' : undefined),
        },
        output.body,
      ),
    );
  });
}
