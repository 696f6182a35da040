import type Koa from 'koa';
import { ProblemError } from './errors.js';

/**
 * Rate limits, counted in Redis so every replica shares them (`ctx.rateLimits`). Each policy has two rules:
 * per client (the request's IP, after `http.trustProxy`) and per key (what the caller presents: an API key id,
 * an enrollment link, a SCEP transaction, a device). Limits are set in `rateLimits.<policy>` of the config.
 */
export type RateLimitPolicyName = 'signIn' | 'apiKey' | 'enrollmentLink' | 'scep' | 'device';

export const RATE_LIMIT_POLICIES: readonly RateLimitPolicyName[] = [
  'signIn',
  'apiKey',
  'enrollmentLink',
  'scep',
  'device',
];

export interface RateLimitRule {
  /** Requests (points) allowed per window. */
  points: number;
  windowSeconds: number;
}

export interface RateLimitPolicy {
  perClient: RateLimitRule;
  perKey: RateLimitRule;
}

export interface RateLimitSubject {
  /** Usually `koa.ip`; left out, only the key is counted (e.g. once an identity is known). */
  client?: string;
  /** What the caller presents; hashed before it reaches Redis, so secrets never do. */
  key?: string;
}

export type RateLimitDecision =
  | { limited: false }
  /** `store`: Redis did not answer, so nothing could be counted; refuse for a moment rather than count nothing. */
  | { limited: true; scope: 'client' | 'key' | 'store'; retryAfterSeconds: number };

export interface RateLimits {
  /** Counts one request against both rules; `limited` once either is over its points in the current window. */
  consume(policy: RateLimitPolicyName, subject: RateLimitSubject): Promise<RateLimitDecision>;
  /** Whether a rule is already over, without counting (for limits that count only failures). */
  peek(policy: RateLimitPolicyName, subject: RateLimitSubject): Promise<RateLimitDecision>;
  /** The policy in force (config defaults applied). */
  policy(policy: RateLimitPolicyName): RateLimitPolicy;
}

/** 429 with Retry-After, or 503 with Retry-After when the counter store is down. Never 401. */
export class RateLimitedProblem extends ProblemError {
  readonly retryAfterSeconds: number;
  constructor(decision: Extract<RateLimitDecision, { limited: true }>) {
    const unavailable = decision.scope === 'store';
    super(
      unavailable ? 503 : 429,
      unavailable ? 'Service unavailable' : 'Too many requests',
      unavailable ? 'try again shortly' : `too many requests; retry after ${decision.retryAfterSeconds} s`,
      { headers: { 'Retry-After': String(decision.retryAfterSeconds) } },
    );
    this.retryAfterSeconds = decision.retryAfterSeconds;
  }
}

/** Throws RateLimitedProblem when the decision is a refusal. */
export function refuseWhenLimited(decision: RateLimitDecision): void {
  if (decision.limited) throw new RateLimitedProblem(decision);
}

export interface RateLimitOptions {
  /** The per-key part of the subject; undefined counts the client only. */
  key?: (koa: Koa.Context) => string | undefined;
}

/**
 * Route middleware: counts every request against `policy` and refuses with 429 (503 when Redis is down), each
 * with Retry-After, before the route runs. Put it first on a route: `router.get('/x', rateLimit(ctx, 'scep'), …)`.
 */
export function rateLimit(
  ctx: { readonly rateLimits: RateLimits },
  policy: RateLimitPolicyName,
  options: RateLimitOptions = {},
): Koa.Middleware {
  return async (koa, next) => {
    refuseWhenLimited(await ctx.rateLimits.consume(policy, { client: koa.ip, key: options.key?.(koa) }));
    await next();
  };
}
