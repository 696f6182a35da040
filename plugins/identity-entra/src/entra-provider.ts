import {
  type IdentityProvider,
  type IdentityRefusal,
  IdentityRefusedError,
  type SignInRequest,
  type VerifiedIdentity,
} from 'enrollment-gateway/sdk';
import passportAzureAd from 'passport-azure-ad';
import type { EntraConfig } from './config.js';
import type { GroupSource } from './graph.js';
import { runStrategy, type StrategyOutcome } from './strategy-runner.js';

const { BearerStrategy, OIDCStrategy } = passportAzureAd;

export function entraMetadataUrl(config: Pick<EntraConfig, 'authority' | 'tenantId'>): string {
  return `${config.authority.replace(/\/$/, '')}/${config.tenantId}/v2.0/.well-known/openid-configuration`;
}

/** passport-azure-ad's failure messages, mapped to what the user and the audit log are told. */
function refusalFor(message: string): IdentityRefusal {
  if (/state/i.test(message)) return 'invalid_state';
  if (/issuer/i.test(message)) return 'wrong_tenant';
  if (/audience|azp/i.test(message)) return 'wrong_audience';
  if (/expired|not active/i.test(message)) return 'expired_token';
  if (/signature|PEM|know how to validate/i.test(message)) return 'tampered_token';
  if (/redeem|metadata|access_denied|error/i.test(message)) return 'provider_error';
  return 'invalid_token';
}

const stringList = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

function firstString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Microsoft Entra ID through passport-azure-ad (deprecated upstream, hence kept behind the
 * IdentityProvider interface): OIDCStrategy for the authorization-code sign-in with state and nonce
 * kept in the server-side session, BearerStrategy for access tokens sent to the admin API.
 */
export class EntraIdentityProvider implements IdentityProvider {
  readonly name = 'entra';
  private readonly oidc: InstanceType<typeof OIDCStrategy>;
  private readonly bearer: InstanceType<typeof BearerStrategy>;

  constructor(
    private readonly config: EntraConfig,
    publicUrl: string,
    private readonly groups: GroupSource,
  ) {
    const identityMetadata = entraMetadataUrl(config);
    this.oidc = new OIDCStrategy(
      {
        identityMetadata,
        clientID: config.clientId,
        clientSecret: config.clientSecret,
        responseType: 'code',
        // A top-level GET back to us carries the SameSite=Lax session cookie; a cross-site form_post would not.
        responseMode: 'query',
        redirectUrl: `${publicUrl}/auth/callback`,
        validateIssuer: true,
        scope: ['openid', 'profile'],
        passReqToCallback: false,
        useCookieInsteadOfSession: false,
        sessionKey: 'oidc',
        nonceLifetime: 600,
        loggingLevel: 'error',
        loggingNoPII: true,
      },
      (_iss, _sub, _profile, claims, _at, _rt, _params, done) => {
        this.identityFromClaims(claims, { requireGroups: config.requireGroupsClaim, overage: true }).then(
          (identity) => done(null, identity),
          (error: Error) => done(error),
        );
      },
    );
    this.bearer = new BearerStrategy(
      {
        identityMetadata,
        clientID: config.clientId,
        audience: config.apiAudiences.length > 0 ? config.apiAudiences : [config.clientId, `api://${config.clientId}`],
        validateIssuer: true,
        passReqToCallback: false,
        loggingLevel: 'error',
        // With loggingNoPII the strategy replaces every failure with "cannot verify token"; we need the
        // reason (expired, audience, issuer) for the audit log. Its info-level logs stay off (level error).
        loggingNoPII: false,
      },
      (claims, done) => {
        this.identityFromClaims(claims, { requireGroups: false, overage: false }).then(
          (identity) => done(null, identity),
          (error: Error) => done(error),
        );
      },
    );
  }

  async beginSignIn(request: SignInRequest): Promise<{ redirectUrl: string }> {
    // No query: a crafted ?code= on the sign-in URL must not be taken for a callback.
    const outcome = await runStrategy(this.oidc, {
      query: {},
      headers: { ...request.headers },
      session: request.store,
    });
    if (outcome.kind === 'redirect') return { redirectUrl: outcome.url };
    throw this.refusal(outcome);
  }

  async completeSignIn(request: SignInRequest): Promise<VerifiedIdentity> {
    const query: Record<string, string> = {};
    for (const key of ['code', 'state', 'error', 'error_description'] as const) {
      const value = firstString(request.query[key]);
      if (value !== undefined) query[key] = value;
    }
    if (!query.code && !query.error) throw new IdentityRefusedError('invalid_state', 'callback without code or error');
    const outcome = await runStrategy(this.oidc, { query, headers: { ...request.headers }, session: request.store });
    if (outcome.kind === 'success') return outcome.user as VerifiedIdentity;
    throw this.refusal(outcome);
  }

  async verifyAccessToken(request: Pick<SignInRequest, 'headers' | 'query'>): Promise<VerifiedIdentity> {
    const outcome = await runStrategy(this.bearer, {
      query: {},
      headers: { authorization: firstString(request.headers.authorization) },
      session: {},
    });
    if (outcome.kind === 'success') return outcome.user as VerifiedIdentity;
    throw this.refusal(outcome);
  }

  private refusal(outcome: StrategyOutcome): IdentityRefusedError {
    if (outcome.kind === 'error' && outcome.error instanceof IdentityRefusedError) return outcome.error;
    const message =
      outcome.kind === 'fail'
        ? String(outcome.challenge ?? 'authentication failed')
        : outcome.kind === 'error'
          ? outcome.error.message
          : `unexpected strategy outcome "${outcome.kind}"`;
    return new IdentityRefusedError(refusalFor(message), message);
  }

  /** Checks what passport-azure-ad leaves to the application: tenant, object id, groups (with overage). */
  private async identityFromClaims(
    claims: Record<string, unknown>,
    options: { requireGroups: boolean; overage: boolean },
  ): Promise<VerifiedIdentity> {
    const subject = typeof claims.oid === 'string' ? claims.oid : undefined;
    if (claims.tid !== this.config.tenantId) {
      throw new IdentityRefusedError('wrong_tenant', `token of tenant ${String(claims.tid)}`, subject);
    }
    if (!subject) throw new IdentityRefusedError('invalid_token', 'token has no oid claim');
    let groups = stringList(claims.groups);
    const claimNames = claims._claim_names as Record<string, unknown> | undefined;
    if (!Array.isArray(claims.groups)) {
      if (claimNames && typeof claimNames === 'object' && 'groups' in claimNames && options.overage) {
        try {
          groups = await this.groups.memberGroups(subject);
        } catch (error) {
          throw new IdentityRefusedError(
            'provider_error',
            `groups overage lookup failed: ${(error as Error).message}`,
            subject,
          );
        }
      } else if (options.requireGroups) {
        throw new IdentityRefusedError('missing_groups', 'id token has no groups claim', subject);
      }
    }
    const username =
      (typeof claims.preferred_username === 'string' && claims.preferred_username) ||
      (typeof claims.upn === 'string' && claims.upn) ||
      (typeof claims.azp === 'string' && `app:${claims.azp}`) ||
      subject;
    return {
      subject,
      username,
      displayName: typeof claims.name === 'string' ? claims.name : username,
      tenantId: this.config.tenantId,
      groups,
      roles: stringList(claims.roles),
    };
  }
}
