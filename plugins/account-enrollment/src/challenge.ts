import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { ModeName } from './config.js';
import type { MachineInfo } from './machine-info.js';

/**
 * The `url` of a 401 challenge carries what the sign-in needs to know about the device, signed so nobody can
 * change it: the mode, the machine info digest (the token is bound to it), platform and OS version (the
 * enrollment profile's OS gate) and an expiry. Nothing is stored for a device that is only asking.
 */
export interface Challenge {
  mode: ModeName;
  machineDigest: string;
  platform: MachineInfo['platform'];
  osVersion?: string;
  expiresAt: number;
}

const payloadSchema = z.object({
  m: z.enum(['byod', 'adde']),
  d: z.string().min(1).max(100),
  p: z.enum(['iOS', 'iPadOS', 'android', 'macOS', 'windows', 'unknown']),
  o: z.string().max(256).optional(),
  e: z.number().int(),
  n: z.string(),
});

export class ChallengeCodec {
  constructor(
    private readonly key: Buffer,
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  private mac(encoded: string): Buffer {
    return createHmac('sha256', this.key).update(encoded).digest();
  }

  issue(mode: ModeName, info: MachineInfo): string {
    const payload = {
      m: mode,
      d: info.digest,
      p: info.platform,
      o: info.osVersion,
      e: Math.floor(this.now() / 1000) + this.ttlSeconds,
      n: randomBytes(8).toString('base64url'),
    };
    const encoded = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${encoded}.${this.mac(encoded).toString('base64url')}`;
  }

  /** The challenge, or a reason it is refused: forged (bad signature), malformed or expired. */
  read(value: unknown): Challenge | { refused: 'malformed' | 'forged' | 'expired' } {
    if (typeof value !== 'string' || value.length > 1024) return { refused: 'malformed' };
    const [encoded, mac, ...rest] = value.split('.');
    if (!encoded || !mac || rest.length > 0) return { refused: 'malformed' };
    const expected = this.mac(encoded);
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { refused: 'forged' };
    let parsed: z.infer<typeof payloadSchema>;
    try {
      parsed = payloadSchema.parse(JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')));
    } catch {
      return { refused: 'malformed' };
    }
    if (parsed.e * 1000 <= this.now()) return { refused: 'expired' };
    return { mode: parsed.m, machineDigest: parsed.d, platform: parsed.p, osVersion: parsed.o, expiresAt: parsed.e };
  }
}
