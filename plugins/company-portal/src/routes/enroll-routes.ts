import {
  deviceHintsFrom,
  type EnrollmentSession,
  type ParsedUserAgent,
  type PluginRouter,
  ProblemError,
  parseDeviceUserAgent,
  type Resolution,
  type SignedInUser,
  VetoError,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import {
  csrfOk,
  kitOf,
  type PortalDeps,
  readForm,
  renderNotFound,
  renderSignInUnavailable,
  requireUser,
  seeOther,
  signInPage,
  takeStreamSlot,
} from '../deps.js';
import type { PageKit } from '../layout.js';
import { openEventStream } from '../live.js';
import { type LastAttemptView, renderHomeScreen, renderTroubleshooting } from '../pages/help.js';
import {
  renderAccountDriven,
  renderDeviceLimit,
  renderEnroll,
  renderFallback,
  renderNoProfile,
  renderSetupIncomplete,
  renderSignIn,
  renderUnsupported,
} from '../pages/outcomes.js';
import { isFinalPhase, renderStatus, type StatusView, statusRegion } from '../pages/status.js';

export const DEEP_LINK = '/enrollment/webenrollment/ios';
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const LOCAL = 'https://portal.invalid';
/**
 * A path of this portal to go back to, or "/". Checked as written and once resolved, since dot segments
 * ("/.//x", "/%2e//x") resolve to a "//host" path that a browser would read as another host.
 */
function localPath(value: unknown): string {
  if (typeof value !== 'string' || !/^\/(?![/\\])/.test(value) || /[\\\s]/.test(value)) return '/';
  if ([...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return '/';
  const url = new URL(value, LOCAL);
  if (url.origin !== LOCAL || /^\/[/\\]/.test(url.pathname)) return '/';
  return `${url.pathname}${url.search}${url.hash}`;
}

function deviceOf(ctx: Koa.Context): ParsedUserAgent {
  return parseDeviceUserAgent(ctx.get('user-agent'), deviceHintsFrom(ctx.query, ctx.get('cookie')));
}

async function resolve(deps: PortalDeps, user: SignedInUser, device: ParsedUserAgent): Promise<Resolution> {
  const resolver = deps.resolver();
  // Without the enrollment-profiles plugin there is no profile to enroll with: setup is not finished.
  if (!resolver) return { outcome: 'setup-incomplete', reasons: ['the enrollment-profiles plugin is not enabled'] };
  return resolver.resolve({
    userId: user.id,
    groups: user.groups,
    platform: device.platform,
    osVersion: device.osVersion,
  });
}

async function pendingSession(deps: PortalDeps, userId: string): Promise<EnrollmentSession | undefined> {
  const id = await deps.state.latestSession(userId);
  const session = id ? await deps.enrollments().get(id) : undefined;
  return session && ['issued', 'downloaded'].includes(session.state) ? session : undefined;
}

/** Landing: detect the device, resolve the user's enrollment, and show the page for the outcome. */
async function landing(ctx: Koa.Context, deps: PortalDeps, kit: PageKit): Promise<void> {
  const user = kit.user as SignedInUser;
  const device = deviceOf(ctx);
  const resolution = await resolve(deps, user, device);
  await deps.attempts.landed(user, device, resolution);
  switch (resolution.outcome) {
    case 'web-enrollment': {
      const pending = await pendingSession(deps, user.id);
      return renderEnroll(ctx, kit, device, { pendingStatusPath: pending && `/enroll/status/${pending.id}` });
    }
    case 'company-portal-app':
      return renderFallback(ctx, kit, device);
    case 'unsupported-platform':
      return renderUnsupported(ctx, kit, device);
    case 'device-limit':
      return renderDeviceLimit(ctx, kit, resolution);
    case 'no-profile':
      return renderNoProfile(ctx, kit);
    case 'account-driven-enrollment':
      return renderAccountDriven(ctx, kit);
    case 'setup-incomplete':
      return renderSetupIncomplete(ctx, kit);
  }
}

/** What the user is told when the session cannot be created; undefined for errors that are not theirs to see. */
function refusalOf(error: unknown): { message?: string; setup?: boolean; status: number } | undefined {
  if (VetoError.is(error)) return { message: error.userMessage, status: 403 };
  if (!ProblemError.is(error)) return undefined;
  if (error.type === 'urn:gateway:setup-incomplete') return { setup: true, status: 409 };
  if (error.status === 403) return { message: error.detail, status: 403 };
  if (error.status >= 500) return { status: 503 };
  return undefined;
}

/** The user's latest enrollment attempt in plain words, when enrollment-insights records attempts. */
async function lastAttempt(deps: PortalDeps, userId: string): Promise<LastAttemptView | undefined> {
  const attempts = deps.attemptsReport();
  const latest = await attempts?.latestFor(userId);
  if (!attempts || !latest) return undefined;
  return {
    startedAt: latest.startedAt,
    completed: latest.completed,
    ...(latest.failure ? { explanation: attempts.userExplanation(latest.failure.reason) } : {}),
  };
}

/** The plugin that refused the session, as mdm names it (or the veto itself). */
function vetoingPlugin(error: unknown): string | undefined {
  if (VetoError.is(error)) return error.plugin;
  const named = ProblemError.is(error) ? error.extensions.vetoedBy : undefined;
  return typeof named === 'string' ? named : undefined;
}

export async function loadStatus(deps: PortalDeps, userId: string, id: string): Promise<StatusView | undefined> {
  if (!SESSION_ID.test(id)) return undefined;
  const session = await deps.enrollments().get(id);
  if (!session || session.userId !== userId) return undefined;
  const readiness = deps.readiness();
  const device = session.deviceId ? await deps.directory().get(session.deviceId) : undefined;
  const downloadable = session.state === 'issued' && (await deps.state.downloadUrl(id)) !== null;
  return {
    session,
    device,
    readiness: device ? await readiness?.get(device.id) : undefined,
    tracksReadiness: readiness !== undefined,
    downloadPath: downloadable ? `/enroll/status/${id}/profile` : undefined,
  };
}

export function mountEnrollRoutes(router: PluginRouter, deps: PortalDeps): void {
  router.get('/signin', async (ctx) => {
    const sessions = deps.sessions();
    if (!sessions) return renderSignInUnavailable(ctx, deps);
    const returnTo = localPath(ctx.query.returnTo);
    if (await sessions.currentUser(ctx)) return seeOther(ctx, returnTo);
    renderSignIn(ctx, kitOf(deps), sessions.signInPath(returnTo));
  });

  // Open to everyone; a signed-in user keeps the navigation.
  const publicKit = async (ctx: Koa.Context): Promise<PageKit> => {
    const sessions = deps.sessions();
    const user = sessions ? await sessions.currentUser(ctx) : undefined;
    return kitOf(deps, user && sessions ? { user, csrf: await sessions.csrfToken(ctx) } : {});
  };
  router.get('/help', async (ctx) => {
    const kit = await publicKit(ctx);
    renderTroubleshooting(ctx, kit, kit.user ? await lastAttempt(deps, kit.user.id) : undefined);
  });
  router.get('/help/home-screen', async (ctx) => renderHomeScreen(ctx, await publicKit(ctx)));

  for (const path of ['/', '/enroll']) {
    router.get(path, async (ctx) => {
      const kit = await requireUser(ctx, deps, ctx.path);
      if (kit) await landing(ctx, deps, kit);
    });
  }
  // The link admins share: straight to the identity provider, then the enroll flow.
  router.get(DEEP_LINK, async (ctx) => {
    const kit = await requireUser(ctx, deps, DEEP_LINK, { direct: true });
    if (kit) await landing(ctx, deps, kit);
  });

  router.post('/enroll/download', async (ctx) => {
    const kit = await requireUser(ctx, deps, '/');
    if (!kit) return;
    const user = kit.user as SignedInUser;
    if (!(await csrfOk(ctx, deps, kit, await readForm(ctx)))) return;
    const device = deviceOf(ctx);
    const resolution = await resolve(deps, user, device);
    if (resolution.outcome !== 'web-enrollment') return seeOther(ctx, '/');
    const enrollments = deps.enrollments();
    // iOS keeps one downloaded profile: an earlier download that was not installed can never complete.
    const replaced = await pendingSession(deps, user.id);
    await enrollments.cancelPending(user.id, 'replaced by a newer download in the portal');
    if (replaced) await deps.attempts.cancelled(user, replaced);
    let session: EnrollmentSession;
    try {
      session = await enrollments.create({
        userId: user.id,
        profileId: resolution.profile?.id,
        userDisplayName: user.displayName,
        origin: 'portal',
      });
    } catch (error) {
      const refusal = refusalOf(error);
      if (!refusal) throw error;
      if (refusal.status === 403)
        await deps.attempts.vetoed(user, resolution.profile?.id, vetoingPlugin(error), refusal.message);
      if (refusal.setup) return renderSetupIncomplete(ctx, kit, refusal.status);
      return renderEnroll(ctx, kit, device, {
        refusal: refusal.message ?? kit.t('enroll.unavailable'),
        status: refusal.status,
      });
    }
    await deps.attempts.sessionCreated(user, device, session);
    await deps.state.rememberDownload(user.id, session.id, session.profileUrl, session.expiresAt);
    seeOther(ctx, `/enroll/status/${session.id}`);
  });

  router.get('/enroll/status/:id', async (ctx) => {
    const kit = await requireUser(ctx, deps, ctx.path);
    if (!kit) return;
    const view = await loadStatus(deps, (kit.user as SignedInUser).id, ctx.params.id);
    if (!view) return renderNotFound(ctx, kit);
    renderStatus(ctx, kit, view);
  });

  router.get('/enroll/status/:id/profile', async (ctx) => {
    const statusPath = `/enroll/status/${encodeURIComponent(ctx.params.id)}`;
    const kit = await requireUser(ctx, deps, statusPath);
    if (!kit) return;
    const view = await loadStatus(deps, (kit.user as SignedInUser).id, ctx.params.id);
    if (!view) return renderNotFound(ctx, kit);
    const url = view.downloadPath ? await deps.state.downloadUrl(view.session.id) : null;
    ctx.set('Cache-Control', 'no-store');
    // Used, cancelled or expired: back to the status page, which says so.
    if (!url) return seeOther(ctx, statusPath);
    ctx.redirect(url);
  });

  router.get('/enroll/status/:id/events', async (ctx) => {
    const sessions = deps.sessions();
    const statusPath = `/enroll/status/${encodeURIComponent(ctx.params.id)}`;
    const user = sessions ? await sessions.currentUser(ctx) : undefined;
    const release = await takeStreamSlot(deps, ctx, user?.id);
    let deviceId: string | undefined;
    const kit = kitOf(deps, { user });
    await openEventStream(ctx, {
      onClose: release,
      live: deps.live,
      refreshMs: deps.config.liveRefreshSeconds * 1000,
      maxMs: deps.config.liveStreamSeconds * 1000,
      logger: deps.ctx.logger,
      concerns: () => ({ enrollmentId: ctx.params.id, userId: user?.id, deviceId }),
      render: async () => {
        const view = user ? await loadStatus(deps, user.id, ctx.params.id) : undefined;
        if (!view) return { signin: signInPage(statusPath) };
        deviceId = view.session.deviceId;
        const region = statusRegion(kit, view);
        return { html: region.html.value, state: region.phase, final: isFinalPhase(region.phase) };
      },
    });
  });
}
