import {
  type BrowserSessions,
  type EnrollmentSessionService,
  type PluginRouter,
  ProblemError,
  type ProfileResolver,
  type RateLimits,
  type Resolution,
  rateLimit,
  readRawBody,
  type SignedInUser,
  VetoError,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Challenge, ChallengeCodec } from './challenge.js';
import { type AccountEnrollmentConfig, BASE_PATH, MODES, type ModeName } from './config.js';
import { checkDiscoveryAccount, type DiscoveryDocument, domainOf } from './discovery.js';
import { MAX_MACHINE_INFO_BYTES, type MachineInfo, MachineInfoError, parseMachineInfo } from './machine-info.js';
import { renderPage } from './pages.js';
import type { AccessTokens } from './token-service.js';

export const CALLBACK = 'apple-remotemanagement-user-login://authentication-results';

export interface RouteDeps {
  config: AccountEnrollmentConfig;
  publicUrl: string;
  organization: string;
  logger: Logger;
  discovery: DiscoveryDocument;
  codec: () => Promise<ChallengeCodec>;
  tokens: AccessTokens;
  sessions(): BrowserSessions | undefined;
  resolver(): ProfileResolver | undefined;
  enrollments(): EnrollmentSessionService;
  rateLimits: RateLimits;
}

/** GET /.well-known/com.apple.remotemanagement: where Settings finds the enrollment servers. */
export function mountDiscoveryRoutes(router: PluginRouter, deps: RouteDeps): void {
  const body = JSON.stringify(deps.discovery);
  router.get('/.well-known/com.apple.remotemanagement', (ctx) => {
    checkDiscoveryAccount(deps.config, ctx.query['user-identifier']);
    ctx.type = 'application/json';
    ctx.set('Cache-Control', `public, max-age=${deps.config.discoveryMaxAgeSeconds}`);
    ctx.body = body;
  });
}

const isMode = (value: string): value is ModeName => Object.hasOwn(MODES, value);

/**
 * The one 401 a device ever gets from the gateway: Apple's account-driven challenge. Settings opens `url` in a
 * web view, and sends the POST again with the access token the sign-in hands back.
 */
async function challenge(deps: RouteDeps, mode: ModeName, info: MachineInfo): Promise<ProblemError> {
  const signed = (await deps.codec()).issue(mode, info);
  const url = `${deps.publicUrl}${BASE_PATH}/authenticate?challenge=${signed}`;
  return new ProblemError(401, 'Sign-in required', 'sign in to your work account to enroll this device', {
    headers: { 'WWW-Authenticate': `Bearer method="apple-as-web" url="${url}"` },
  });
}

function machineInfoOf(body: Buffer): MachineInfo {
  try {
    return parseMachineInfo(body);
  } catch (error) {
    if (error instanceof MachineInfoError) throw new ProblemError(400, 'Bad request', error.message);
    throw error;
  }
}

/** POST BaseURL: the device's machine info; with a valid access token, the enrollment profile. */
export function mountDeviceRoutes(router: PluginRouter, deps: RouteDeps): void {
  // Per client: the enrollment links' policy (a few tries a window), so guessing tokens goes nowhere fast.
  router.post('/:mode', rateLimit(deps, 'enrollmentLink'), async (ctx) => {
    const mode = ctx.params.mode;
    if (!isMode(mode)) throw new ProblemError(404, 'Not found', 'unknown enrollment mode');
    const info = machineInfoOf(await readRawBody(ctx, MAX_MACHINE_INFO_BYTES));
    const bearer = /^Bearer ([^\s]{1,200})$/.exec(ctx.get('authorization'))?.[1];
    if (!bearer) throw await challenge(deps, mode, info);
    const redeemed = await deps.tokens.redeem(bearer, mode, info);
    if ('refused' in redeemed) {
      deps.logger.info({ mode, refused: redeemed.refused }, 'account-driven access token refused');
      throw await challenge(deps, mode, info);
    }
    const { body } = await fetchProfile(deps.enrollments(), redeemed.profileUrl, info);
    deps.logger.info(
      { mode, userId: redeemed.doc.userId, sessionId: redeemed.doc.sessionId },
      'account-driven profile served',
    );
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/x-apple-aspen-config';
    ctx.body = body;
  });
}

async function fetchProfile(enrollments: EnrollmentSessionService, profileUrl: string, info: MachineInfo) {
  if (!enrollments.fetchProfile)
    throw new ProblemError(503, 'Enrollment unavailable', 'the mdm plugin cannot serve account-driven profiles');
  return enrollments.fetchProfile(profileUrl, { platform: info.platform, osVersion: info.osVersion });
}

type Page = { id: string; status: number; title: string; message: string };
const page = (ctx: Koa.Context, deps: RouteDeps, p: Page) => renderPage(ctx, { ...p, organization: deps.organization });

/** Why a resolution does not enroll from Settings, for the user. */
function refusalOf(resolution: Resolution): Page {
  if (resolution.outcome === 'web-enrollment' || resolution.outcome === 'company-portal-app') {
    return {
      id: 'other-front-door',
      status: 403,
      title: 'Enroll in the Company Portal instead',
      message: resolution.userMessage ?? 'Your organisation enrolls your devices in the Company Portal website.',
    };
  }
  return {
    id: resolution.outcome,
    status: resolution.outcome === 'setup-incomplete' ? 503 : 403,
    title: "This device can't be enrolled",
    message: resolution.userMessage ?? 'Contact IT support.',
  };
}

async function resolve(deps: RouteDeps, user: SignedInUser, c: Challenge): Promise<Resolution> {
  const resolver = deps.resolver();
  if (!resolver) return { outcome: 'setup-incomplete', reasons: ['the enrollment-profiles plugin is not enabled'] };
  return resolver.resolve({ userId: user.id, groups: user.groups, platform: c.platform, osVersion: c.osVersion });
}

/** The checks before a token is handed out: the same account as typed in Settings, of the organisation's domains. */
function accountRefusal(deps: RouteDeps, user: SignedInUser, typed: unknown): Page | undefined {
  if (typeof typed === 'string' && typed.toLowerCase() !== user.upn.toLowerCase()) {
    return {
      id: 'other-account',
      status: 403,
      title: 'Another account is signed in',
      message: `You are signed in as ${user.upn}, but Settings asked for ${typed}. Sign out of the Company Portal, or enter ${user.upn} in Settings.`,
    };
  }
  const domain = domainOf(user.upn);
  if (!domain || !deps.config.domains.includes(domain)) {
    return {
      id: 'other-domain',
      status: 403,
      title: "This account can't enroll devices",
      message: `Accounts of ${domain ?? 'this domain'} are not enrolled here. Contact IT support.`,
    };
  }
  return undefined;
}

/** Account-driven Device Enrollment (mdm-adde) exists since iOS 17; an older device may only use User Enrollment. */
const ADDE_MINIMUM_MAJOR = 17;

function modeRefusal(c: Challenge): Page | undefined {
  const major = Number.parseInt(c.osVersion ?? '', 10);
  if (c.mode !== 'adde' || major >= ADDE_MINIMUM_MAJOR) return undefined;
  return {
    id: 'unsupported-platform',
    status: 403,
    title: "This device can't be enrolled this way",
    message: `Device Enrollment from Settings needs iOS or iPadOS ${ADDE_MINIMUM_MAJOR} or later. Update the device, or enroll it with your work account (User Enrollment).`,
  };
}

/** GET …/authenticate: the web sign-in Settings opens; ends by handing Settings the access token. */
export function mountWebRoutes(router: PluginRouter, deps: RouteDeps): void {
  router.get('/authenticate', async (ctx) => {
    const read = (await deps.codec()).read(ctx.query.challenge);
    if ('refused' in read) {
      return page(ctx, deps, {
        id: 'challenge-refused',
        status: 400,
        title: 'This sign-in link is not valid',
        message: 'It has expired or was changed. Go back to Settings and sign in to your work account again.',
      });
    }
    const sessions = deps.sessions();
    if (!sessions) {
      return page(ctx, deps, {
        id: 'signin-unavailable',
        status: 503,
        title: 'Sign-in is not set up yet',
        message: 'Your organisation is still setting up sign-in. Try again later.',
      });
    }
    const user = await sessions.currentUser(ctx);
    if (!user) {
      ctx.status = 303;
      ctx.set('Cache-Control', 'no-store');
      return ctx.redirect(sessions.signInPath(ctx.url));
    }
    const refusal = accountRefusal(deps, user, ctx.query['user-identifier']) ?? modeRefusal(read);
    if (refusal) return page(ctx, deps, refusal);
    // The portal's checks: the profile by priority, the device limit and the OS version.
    const resolution = await resolve(deps, user, read);
    if (resolution.outcome !== 'account-driven-enrollment') return page(ctx, deps, refusalOf(resolution));
    let token: string;
    try {
      token = await deps.tokens.issue(deps.enrollments(), user, read, resolution.profile?.id);
    } catch (error) {
      const refused = sessionRefusal(error);
      if (!refused) throw error;
      return page(ctx, deps, refused);
    }
    ctx.status = 302;
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(`${CALLBACK}?access-token=${token}`);
  });
}

/** A veto or a setup problem while creating the session: shown to the user; other errors are not theirs. */
function sessionRefusal(error: unknown): Page | undefined {
  const title = "This device can't be enrolled";
  if (VetoError.is(error)) return { id: 'vetoed', status: 403, title, message: error.userMessage };
  if (!ProblemError.is(error)) return undefined;
  if (error.status === 403) return { id: 'vetoed', status: 403, title, message: error.detail ?? 'Contact IT support.' };
  if (error.status === 409) {
    return { id: 'setup-incomplete', status: 503, title, message: 'Your organisation is still setting up enrollment.' };
  }
  return undefined;
}
