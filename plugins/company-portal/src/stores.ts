import type { Redis } from 'ioredis';

/** The answer to a "Check status" request, as the device page shows it. */
export interface StatusCheck {
  commandUuid: string;
  requestedAt: number;
  state: 'waiting' | 'answered' | 'not-now' | 'failed';
  answeredAt?: number;
  /** Picked from QueryResponses: OSVersion, DeviceName, BatteryLevel, capacities … */
  answer?: Record<string, string | number | boolean>;
}

const CHECK_TTL_SECONDS = 7 * 86_400;
/** A check that got no answer for this long no longer holds back the next one. */
export const CHECK_WAIT_MS = 60_000;

/**
 * Short-lived portal state in Redis, shared by every replica and the workers: the one-time download URL of each
 * enrollment session (the mdm plugin hands it out only once, at creation), the user's latest session, and the
 * last "Check status" request per device.
 */
export class PortalState {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async rememberDownload(userId: string, sessionId: string, profileUrl: string, expiresAt: Date): Promise<void> {
    const ttl = Math.max(1_000, expiresAt.getTime() - Date.now());
    await this.redis
      .multi()
      .set(`${this.prefix}download:${sessionId}`, profileUrl, 'PX', ttl)
      .set(`${this.prefix}latest:${userId}`, sessionId, 'PX', ttl)
      .exec();
  }

  downloadUrl(sessionId: string): Promise<string | null> {
    return this.redis.get(`${this.prefix}download:${sessionId}`);
  }

  latestSession(userId: string): Promise<string | null> {
    return this.redis.get(`${this.prefix}latest:${userId}`);
  }

  /**
   * Claims the right to ask the device: refused while the last check waits for its answer and is younger than
   * CHECK_WAIT_MS. A claim (SET NX), so two presses at once queue one command.
   */
  async claimCheck(deviceId: string): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}check-claim:${deviceId}`, '1', 'PX', CHECK_WAIT_MS, 'NX')) === 'OK';
  }

  async releaseCheck(deviceId: string): Promise<void> {
    await this.redis.del(`${this.prefix}check-claim:${deviceId}`);
  }

  async startCheck(deviceId: string, commandUuid: string): Promise<void> {
    const check: StatusCheck = { commandUuid, requestedAt: Date.now(), state: 'waiting' };
    await this.redis.set(`${this.prefix}check:${deviceId}`, JSON.stringify(check), 'EX', CHECK_TTL_SECONDS);
  }

  async check(deviceId: string): Promise<StatusCheck | undefined> {
    const raw = await this.redis.get(`${this.prefix}check:${deviceId}`);
    return raw ? (JSON.parse(raw) as StatusCheck) : undefined;
  }

  /** Records the device's answer when it belongs to the last request; true when it did. */
  async answerCheck(
    deviceId: string,
    commandUuid: string,
    state: StatusCheck['state'],
    answer?: StatusCheck['answer'],
  ): Promise<boolean> {
    const current = await this.check(deviceId);
    if (current?.commandUuid !== commandUuid) return false;
    const next: StatusCheck = { ...current, state, answeredAt: Date.now(), answer };
    await this.redis
      .multi()
      .set(`${this.prefix}check:${deviceId}`, JSON.stringify(next), 'EX', CHECK_TTL_SECONDS)
      .del(`${this.prefix}check-claim:${deviceId}`)
      .exec();
    return true;
  }
}
