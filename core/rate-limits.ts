import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { CoreConfig } from './config/schema.js';
import type {
  RateLimitDecision,
  RateLimitPolicy,
  RateLimitPolicyName,
  RateLimitRule,
  RateLimitSubject,
  RateLimits,
} from './sdk/rate-limit.js';
import { withTimeout } from './sdk/timeout.js';

/** While Redis does not answer, refusals ask to come back after this long. */
const STORE_RETRY_SECONDS = 5;
const STORE_TIMEOUT_MS = 1_000;

interface PolicyLimiters {
  policy: RateLimitPolicy;
  client: RateLimiterRedis;
  key: RateLimiterRedis;
}

/** Keys in Redis never hold what a caller presented: a bounded hash of it. */
const keyDigest = (value: string): string => createHash('sha256').update(value).digest('base64url').slice(0, 22);

/**
 * The kernel's rate limits (`ctx.rateLimits`): fixed windows counted in Redis by rate-limiter-flexible, one
 * counter per policy, rule and subject, each expiring with its window. Shared by every replica.
 */
export class RedisRateLimits implements RateLimits {
  private readonly limiters = new Map<RateLimitPolicyName, PolicyLimiters>();

  constructor(
    redis: Redis,
    private readonly settings: CoreConfig['rateLimits'],
    keyPrefix: string,
    private readonly limited: Counter<'policy' | 'scope'>,
    private readonly logger: Logger,
  ) {
    for (const name of ['signIn', 'apiKey', 'enrollmentLink', 'scep', 'device'] as const) {
      const policy = settings[name];
      const limiter = (rule: RateLimitRule, scope: string) =>
        new RateLimiterRedis({
          storeClient: redis,
          keyPrefix: `${keyPrefix}rl:${name}:${scope}`,
          points: rule.points,
          duration: rule.windowSeconds,
          rejectIfRedisNotReady: true,
        });
      this.limiters.set(name, {
        policy,
        client: limiter(policy.perClient, 'client'),
        key: limiter(policy.perKey, 'key'),
      });
    }
  }

  policy(name: RateLimitPolicyName): RateLimitPolicy {
    return this.limitersOf(name).policy;
  }

  async consume(name: RateLimitPolicyName, subject: RateLimitSubject): Promise<RateLimitDecision> {
    if (!this.settings.enabled) return { limited: false };
    const limiters = this.limitersOf(name);
    const decision =
      (subject.client === undefined
        ? undefined
        : await this.count(limiters.client, clientKey(subject.client), 'client')) ??
      (subject.key === undefined ? undefined : await this.count(limiters.key, keyDigest(subject.key), 'key'));
    return this.outcome(name, decision);
  }

  async peek(name: RateLimitPolicyName, subject: RateLimitSubject): Promise<RateLimitDecision> {
    if (!this.settings.enabled) return { limited: false };
    const limiters = this.limitersOf(name);
    const decision =
      (subject.client === undefined
        ? undefined
        : await this.read(limiters.client, limiters.policy.perClient, clientKey(subject.client), 'client')) ??
      (subject.key === undefined
        ? undefined
        : await this.read(limiters.key, limiters.policy.perKey, keyDigest(subject.key), 'key'));
    return this.outcome(name, decision);
  }

  private outcome(name: RateLimitPolicyName, decision: RateLimitDecision | undefined): RateLimitDecision {
    if (!decision?.limited) return { limited: false };
    this.limited.inc({ policy: name, scope: decision.scope });
    return decision;
  }

  /** Counts one; a refusal when over. Undefined when allowed. */
  private async count(
    limiter: RateLimiterRedis,
    key: string,
    scope: 'client' | 'key',
  ): Promise<RateLimitDecision | undefined> {
    try {
      await withTimeout(limiter.consume(key), STORE_TIMEOUT_MS, 'rate limit');
      return undefined;
    } catch (error) {
      if (error instanceof RateLimiterRes) return { limited: true, scope, retryAfterSeconds: retryAfter(error) };
      return this.storeDown(error);
    }
  }

  /** A refusal when the rule's points are already used up in this window. */
  private async read(
    limiter: RateLimiterRedis,
    rule: RateLimitRule,
    key: string,
    scope: 'client' | 'key',
  ): Promise<RateLimitDecision | undefined> {
    try {
      const state = await withTimeout(limiter.get(key), STORE_TIMEOUT_MS, 'rate limit');
      if (!state || state.consumedPoints < rule.points) return undefined;
      return { limited: true, scope, retryAfterSeconds: retryAfter(state) };
    } catch (error) {
      return this.storeDown(error);
    }
  }

  private storeDown(error: unknown): RateLimitDecision {
    this.logger.warn({ err: { message: (error as Error)?.message } }, 'rate limit store unavailable');
    return { limited: true, scope: 'store', retryAfterSeconds: STORE_RETRY_SECONDS };
  }

  private limitersOf(name: RateLimitPolicyName): PolicyLimiters {
    const limiters = this.limiters.get(name);
    if (!limiters) throw new Error(`unknown rate limit policy "${name}"`);
    return limiters;
  }
}

/** IPs are short; anything else a proxy might pass on is bounded. */
const clientKey = (client: string): string => (client.length <= 64 ? client || 'unknown' : keyDigest(client));

const retryAfter = (state: RateLimiterRes): number => Math.max(1, Math.ceil(state.msBeforeNext / 1000));
