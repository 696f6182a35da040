import { randomBytes } from 'node:crypto';
import { withTimeout } from 'enrollment-gateway/sdk';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { runScript } from './redis-script.js';

/** What a device last reported about itself (DeviceInformation), as stored in its record. */
export interface ReportedDeviceInfo {
  model?: string;
  productName?: string;
  osVersion?: string;
  buildVersion?: string;
  serialNumber?: string;
  deviceName?: string;
}

export const REPORTED_FIELDS = [
  'model',
  'productName',
  'osVersion',
  'buildVersion',
  'serialNumber',
  'deviceName',
] as const satisfies readonly (keyof ReportedDeviceInfo)[];

/** The device a verified identity may speak for, as the command endpoint needs it. */
export interface BoundDevice {
  id: string;
  udid: string;
  /** The device's current enrollment, which the signing certificate belongs to. */
  enrollmentId: string;
  /** The signing certificate's serial. */
  serial: string;
  reported: ReportedDeviceInfo;
  /** The cache generation this view was read under (undefined when the cache was not used). */
  generation?: string;
}

/**
 * A cache answer: the device, or the generation to store a database answer under. `revoked` is the
 * revocation mirror's word on the cached identity (checked in the same round trip); undefined when the
 * mirror could not answer (not loaded, Redis unreachable) or nothing was cached: then the caller asks the
 * revocation list itself.
 */
export type CacheLookup = ({ device: BoundDevice } | { generation: string | undefined }) & { revoked?: boolean };

interface Entry {
  generation: string;
  device: Omit<BoundDevice, 'generation'>;
}

/** Bounds writes made behind mongoose's back, and how long lastSeenAt can lag (it is written on a miss). */
const ENTRY_SECONDS = 30;
/** A Redis call the device path waits for at most; past it the request goes to the database. */
const REDIS_WAIT_MS = 250;

/**
 * One round trip for the command endpoint: the generation, the entry, and whether the entry's identity is
 * revoked (its enrollment or its certificate in the revocation mirror, which counts only when loaded).
 */
const LOOKUP = `
local generation = redis.call('GET', KEYS[1])
local raw = redis.call('GET', KEYS[2])
local revoked = -1
if raw and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
  local entry = cjson.decode(raw)
  revoked = 0
  if redis.call('SISMEMBER', KEYS[3], 'enrollment:' .. entry.device.enrollmentId) == 1
    or redis.call('SISMEMBER', KEYS[3], 'certificate:' .. entry.device.serial) == 1 then revoked = 1 end
end
return {generation or false, raw or false, revoked}`;

/** Stores the entry only if the generation is still the one the reader saw before reading the database. */
const SET_IF_CURRENT = `
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1`;

/**
 * The seam for the SDK's generation cache (a later change moves this onto it): lookup/store/invalidateAll.
 *
 * Which device each identity certificate (by SHA-256) may speak for, read through Redis so a command request
 * costs one Redis round trip instead of a database query. Devices poll in bursts (Idle, then one request per
 * command), so even a short-lived entry saves most lookups.
 *
 * Revocations are not cached here: each lookup checks the revocation mirror in the same round trip, so a
 * revoked identity is refused whatever an entry holds. The binding (udid -> current enrollment) changes only
 * when the device authenticates again; every such write (the device model's only writer) moves one
 * shared generation, on every replica at once since Redis is shared (the storage layer calls `invalidateAll`,
 * see onDeviceBindingChange). An entry counts only while it carries the current generation, and a reader stores
 * what it read from the database only if the generation did not move meanwhile, so a lookup racing a revocation
 * cannot put the old binding back. Binding changes are rare next to polls (enrollments and retirements), so one
 * generation for all devices costs a few extra database reads after each, and needs no lookup of which devices a
 * write touched. Generations are random, never reused: a generation lost with Redis cannot come back.
 *
 * When Redis is unreachable the cache is bypassed. A generation change that could not be written is retried
 * before this process uses the cache again; other replicas may keep using their entries until it lands or for
 * at most ENTRY_SECONDS.
 */
export class DeviceBindingCache {
  private readonly generationKey: string;
  private invalidationPending = false;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly logger: Logger,
    /** The revocation mirror's set (RevocationList.key) and its loaded marker. */
    private readonly revocations: { key: string; loadedMember: string },
  ) {
    this.generationKey = `${prefix}binding-generation`;
    redis.on('ready', () => {
      if (this.invalidationPending) void this.invalidateAll();
    });
  }

  private entryKey(fingerprint: string): string {
    return `${this.prefix}binding:${fingerprint}`;
  }

  private get usable(): boolean {
    return this.redis.status === 'ready';
  }

  async lookup(fingerprint: string, udid: string): Promise<CacheLookup> {
    if (!this.usable || (this.invalidationPending && !(await this.invalidateAll()))) return { generation: undefined };
    try {
      const [generation, raw, revokedFlag] = (await withDeadline(
        runScript(
          this.redis,
          LOOKUP,
          3,
          this.generationKey,
          this.entryKey(fingerprint),
          this.revocations.key,
          this.revocations.loadedMember,
        ),
      )) as [string | null, string | null, number];
      if (!generation) {
        // First use, or Redis lost its data: start a generation; entries are stored from the next lookup on.
        await withDeadline(this.redis.set(this.generationKey, newGeneration(), 'NX'));
        return { generation: undefined };
      }
      if (raw) {
        const entry = JSON.parse(raw) as Entry;
        if (entry.generation === generation && entry.device.udid === udid)
          return {
            device: { ...entry.device, generation },
            ...(revokedFlag === -1 ? {} : { revoked: revokedFlag === 1 }),
          };
      }
      return { generation };
    } catch (error) {
      this.logger.debug({ err: { message: (error as Error).message } }, 'device binding cache unavailable');
      return { generation: undefined };
    }
  }

  /** Stores what the database said, unless a binding changed since `device.generation` was read. */
  async store(fingerprint: string, device: BoundDevice): Promise<void> {
    const { generation, ...rest } = device;
    if (generation === undefined || !this.usable) return;
    const entry: Entry = { generation, device: rest };
    try {
      await withDeadline(
        runScript(
          this.redis,
          SET_IF_CURRENT,
          2,
          this.generationKey,
          this.entryKey(fingerprint),
          generation,
          JSON.stringify(entry),
          ENTRY_SECONDS,
        ),
      );
    } catch (error) {
      this.logger.debug({ err: { message: (error as Error).message } }, 'device binding cache not updated');
    }
  }

  /** Every entry is dead from now on. Returns false when Redis could not be told (retried later). */
  async invalidateAll(): Promise<boolean> {
    this.invalidationPending = true;
    if (!this.usable) return false;
    try {
      await withDeadline(this.redis.set(this.generationKey, newGeneration()));
      this.invalidationPending = false;
      return true;
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'device binding cache invalidation deferred');
      return false;
    }
  }
}

const newGeneration = () => randomBytes(9).toString('base64url');

const withDeadline = <T>(promise: Promise<T>): Promise<T> => withTimeout(promise, REDIS_WAIT_MS, 'redis');
