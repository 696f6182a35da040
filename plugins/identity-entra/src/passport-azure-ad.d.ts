/** The parts of passport-azure-ad 4.x (no bundled types) this plugin uses. */
declare module 'passport-azure-ad' {
  import type { Strategy } from 'passport';

  export type Done = (error: Error | null, user?: unknown, info?: unknown) => void;

  export interface OIDCStrategyOptions {
    identityMetadata: string;
    clientID: string;
    clientSecret: string;
    responseType: 'code';
    responseMode: 'query' | 'form_post';
    redirectUrl: string;
    validateIssuer: boolean;
    issuer?: string[];
    scope?: string[];
    passReqToCallback: false;
    useCookieInsteadOfSession: false;
    sessionKey?: string;
    nonceLifetime?: number;
    nonceMaxAmount?: number;
    clockSkew?: number;
    loggingLevel?: 'info' | 'warn' | 'error';
    loggingNoPII?: boolean;
  }
  export class OIDCStrategy extends Strategy {
    constructor(
      options: OIDCStrategyOptions,
      verify: (
        iss: string,
        sub: string,
        profile: unknown,
        jwtClaims: Record<string, unknown>,
        accessToken: string,
        refreshToken: string,
        params: unknown,
        done: Done,
      ) => void,
    );
  }

  export interface BearerStrategyOptions {
    identityMetadata: string;
    clientID: string;
    audience: string[];
    validateIssuer: boolean;
    issuer?: string[];
    passReqToCallback: false;
    clockSkew?: number;
    loggingLevel?: 'info' | 'warn' | 'error';
    loggingNoPII?: boolean;
  }
  export class BearerStrategy extends Strategy {
    constructor(options: BearerStrategyOptions, verify: (token: Record<string, unknown>, done: Done) => void);
  }
}
