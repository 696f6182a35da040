import {
  type BrowserSessions,
  type DeviceCommandService,
  type DeviceDirectory,
  type DeviceReadinessService,
  type EnrollmentAttemptsService,
  type EnrollmentSessionService,
  html,
  type PluginContext,
  ProblemError,
  type ProfileResolver,
  readRawBody,
  type UnenrollmentService,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import type { PortalAssets } from './assets.js';
import type { PortalAttempts } from './attempts.js';
import type { PortalConfig, PortalSettings } from './config.js';
import { type PageKit, renderMessage, renderPage } from './layout.js';
import type { LiveNotices, StreamSlots } from './live.js';
import type { DeviceNameRecords } from './storage/device-names.js';
import type { PortalState } from './stores.js';
import type { Translate } from './strings.js';

/** Everything the portal's routes use; services of other plugins are looked up per call (they may be absent). */
export interface PortalDeps {
  ctx: PluginContext<PortalConfig>;
  config: PortalSettings;
  t: Translate;
  assets: PortalAssets;
  sessions(): BrowserSessions | undefined;
  resolver(): ProfileResolver | undefined;
  enrollments(): EnrollmentSessionService;
  directory(): DeviceDirectory;
  commands(): DeviceCommandService;
  readiness(): DeviceReadinessService | undefined;
  /** Enrollment attempts (enrollment-insights), for the troubleshooting page. */
  attemptsReport(): EnrollmentAttemptsService | undefined;
  unenrollment(): UnenrollmentService | undefined;
  names: DeviceNameRecords;
  state: PortalState;
  attempts: PortalAttempts;
  live: LiveNotices;
  streamSlots: StreamSlots;
}

export const kitOf = (deps: PortalDeps, extra: Partial<PageKit> = {}): PageKit => ({
  config: deps.config,
  t: deps.t,
  assets: deps.assets,
  ...extra,
});

export const signInPage = (returnTo: string) => `/signin?returnTo=${encodeURIComponent(returnTo)}`;

/** Shown instead of any page while no identity plugin provides browser sessions. */
export function renderSignInUnavailable(ctx: Koa.Context, deps: PortalDeps): void {
  renderMessage(ctx, kitOf(deps), {
    id: 'signin-unavailable',
    status: 503,
    title: deps.t('signin.unavailable.title'),
    message: deps.t('signin.unavailable.body'),
  });
}

/**
 * The signed-in user's page kit, or undefined after answering: sign-in unavailable, or a redirect to sign in.
 * A form posted after the session ended goes to sign-in too, and comes back to `returnTo` (the page the form
 * was on), never to the POST URL.
 */
export async function requireUser(
  ctx: Koa.Context,
  deps: PortalDeps,
  returnTo: string,
  options: { direct?: boolean } = {},
): Promise<PageKit | undefined> {
  const sessions = deps.sessions();
  if (!sessions) {
    renderSignInUnavailable(ctx, deps);
    return undefined;
  }
  const user = await sessions.currentUser(ctx);
  if (!user) {
    ctx.status = 303;
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(options.direct ? sessions.signInPath(returnTo) : signInPage(returnTo));
    return undefined;
  }
  return kitOf(deps, { user, csrf: await sessions.csrfToken(ctx) });
}

/**
 * Takes a live-stream slot for the user and returns its release; answers 429 above the per-user limit. Without a
 * user the stream only tells the page to sign in, so it needs no slot.
 */
export async function takeStreamSlot(deps: PortalDeps, ctx: Koa.Context, userId: string | undefined) {
  if (!userId) return undefined;
  const release = await deps.streamSlots.take(userId);
  if (release) return release;
  ctx.set('Retry-After', String(deps.config.liveStreamSeconds));
  throw new ProblemError(
    429,
    'Too many live pages',
    'Too many portal pages follow your devices at once. Close some tabs: pages still work without live updates.',
  );
}

/** A urlencoded form body (at most 8 KiB). */
export async function readForm(ctx: Koa.Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) return new URLSearchParams();
  return new URLSearchParams((await readRawBody(ctx, 8 * 1024)).toString('utf8'));
}

/** True when the form carries the session's CSRF token; otherwise answers 403 with a page saying what to do. */
export async function csrfOk(ctx: Koa.Context, deps: PortalDeps, kit: PageKit, form: URLSearchParams) {
  const sessions = deps.sessions();
  const submitted = form.get('csrf') ?? (ctx.get('x-csrf-token') || undefined);
  if (sessions && (await sessions.verifyCsrf(ctx, submitted))) return true;
  renderMessage(ctx, kit, {
    id: 'csrf',
    status: 403,
    title: deps.t('error.csrf.title'),
    message: deps.t('error.csrf.body'),
  });
  return false;
}

export function renderNotFound(ctx: Koa.Context, kit: PageKit): void {
  renderMessage(ctx, kit, {
    id: 'not-found',
    status: 404,
    title: kit.t('error.notFound.title'),
    message: kit.t('error.notFound.body'),
  });
}

/** 303 to a page of the portal, as every successful form post ends. */
export function seeOther(ctx: Koa.Context, path: string): void {
  ctx.status = 303;
  ctx.redirect(path);
}

export const hiddenCsrf = (kit: PageKit) => html`<input type="hidden" name="csrf" value="${kit.csrf ?? ''}">`;

export { renderPage };
