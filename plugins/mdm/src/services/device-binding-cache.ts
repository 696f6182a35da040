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

/** The generations an entry was read under: the shared one, and the device's own (by UDID; '' when it has none). */
export interface CacheGenerations {
  shared: string;
  device: string;
}

/** The device a verified identity may speak for, as the command endpoint needs it. */
export interface BoundDevice {
  id: string;
  udid: string;
  /** The device's current enrollment, which the signing certificate belongs to. */
  enrollmentId: string;
  /** The signing certificate's serial. */
  serial: string;
  reported: ReportedDeviceInfo;
  /** The cache generations this view was read under (undefined when the cache was not used). */
  generations?: CacheGenerations;
}

/**
 * A cache answer: the device, or the generations to store a database answer under. `revoked` is the
 * revocation mirror's word on the cached identity (checked in the same round trip); undefined when the
 * mirror could not answer (not loaded, Redis unreachable) or nothing was cached: then the caller asks the
 * revocation list itself. A hit has also marked the device as seen (PresenceMarks, in the same round trip).
 */
export type CacheLookup = ({ device: BoundDevice } | { generations: CacheGenerations | undefined }) & {
  revoked?: boolean;
};

interface Entry {
  generation: string;
  deviceGeneration: string;
  device: Omit<BoundDevice, 'generations'>;
}

/**
 * How long an entry lives: days, so a device's poll session, hours after its last, still reads nothing from the
 * database (on FerretDB every read is a scan that grows with the fleet). Bounded by Redis memory, about half a
 * kilobyte per device. A device generation outlives the entries stored under it by a day.
 */
export const ENTRY_SECONDS = 3 * 86_400;
const DEVICE_GENERATION_SECONDS = ENTRY_SECONDS + 86_400;
/** A Redis call the device path waits for at most; past it the request goes to the database. */
const REDIS_WAIT_MS = 250;

/**
 * One round trip for the command endpoint: both generations (the shared one started when missing; a device's is
 * started only by a store, so a request naming any UDID creates nothing), the entry when it is current and for
 * this UDID, and whether the entry's identity is revoked (its enrollment or its certificate in the revocation
 * mirror, which counts only when loaded). A hit the mirror says is not revoked marks the device as seen; a refused
 * request is not a sighting.
 * KEYS: shared generation, entry, revocations, device generation, presence marks.
 * ARGV: loaded member, udid, a new generation (used for a missing shared one), now (ms).
 */
const LOOKUP = `
local generation = redis.call('GET', KEYS[1])
if not generation then
  generation = ARGV[3]
  redis.call('SET', KEYS[1], generation)
end
local deviceGeneration = redis.call('GET', KEYS[4]) or ''
local raw = redis.call('GET', KEYS[2])
if not raw or deviceGeneration == '' then return {generation, deviceGeneration, false, -1} end
local entry = cjson.decode(raw)
if entry.generation ~= generation or entry.deviceGeneration ~= deviceGeneration or entry.device.udid ~= ARGV[2] then
  return {generation, deviceGeneration, false, -1}
end
local revoked = -1
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
  revoked = 0
  if redis.call('SISMEMBER', KEYS[3], 'enrollment:' .. entry.device.enrollmentId) == 1
    or redis.call('SISMEMBER', KEYS[3], 'certificate:' .. entry.device.serial) == 1 then revoked = 1 end
end
if revoked == 0 then redis.call('ZADD', KEYS[5], 'GT', ARGV[4], entry.device.id) end
return {generation, deviceGeneration, raw, revoked}`;

/**
 * Stores the entry only if both generations are still the ones the reader saw before reading the database (a
 * device generation that was missing then is started now, with the entry's, unless one was started meanwhile),
 * and keeps the device generation alive at least as long as the entry.
 * KEYS: shared generation, entry, device generation.
 * ARGV: generation, device generation seen ('' when missing), entry, ttl, device ttl, the entry's device generation.
 */
const SET_IF_CURRENT = `
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[3]) or '') ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
redis.call('SET', KEYS[3], ARGV[6], 'EX', ARGV[5])
return 1`;

/**
 * Which device each identity certificate (by SHA-256) may speak for, read through Redis so a command request
 * costs one Redis round trip instead of database reads, for days: a session hours after the device's last one
 * reads nothing from the database either, so the poll path's cost does not grow with the fleet even where every
 * database read is a scan (FerretDB 1.24).
 *
 * Revocations are not cached here: each lookup checks the revocation mirror in the same round trip, so a
 * revoked identity is refused whatever an entry holds. What an entry says can change only when the device
 * authenticates again (the device model's only writer, Authenticate, by UDID): that write moves the device's own
 * generation (the storage layer calls `invalidateDevice`, see onDeviceBindingChange), on every replica at once
 * since Redis is shared; a write the storage layer cannot tie to one UDID moves the shared generation, which
 * ends every entry. An entry counts only while it carries both current generations, and a reader stores what it
 * read from the database only if neither moved meanwhile, so a lookup racing a re-binding cannot put the old
 * binding back. Generations are random, never reused: one lost with Redis (or expired) cannot come back, and a
 * missing one is started anew, which ends the entries stored under the old.
 *
 * When Redis is unreachable the cache is bypassed. A generation change that could not be written becomes a
 * change of the shared generation, retried before this process uses the cache again; other replicas may keep
 * using their entries until it lands (revocations are still checked on every request).
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
    /** The sorted set of devices seen (PresenceMarks.key): a hit marks its device there. */
    private readonly presenceKey: string,
  ) {
    this.generationKey = `${prefix}binding-generation`;
    redis.on('ready', () => {
      if (this.invalidationPending) void this.invalidateAll();
    });
  }

  private entryKey(fingerprint: string): string {
    return `${this.prefix}binding:${fingerprint}`;
  }

  private deviceGenerationKey(udid: string): string {
    return `${this.prefix}binding-generation:${udid}`;
  }

  private get usable(): boolean {
    return this.redis.status === 'ready';
  }

  async lookup(fingerprint: string, udid: string): Promise<CacheLookup> {
    if (!this.usable || (this.invalidationPending && !(await this.invalidateAll()))) return { generations: undefined };
    try {
      const [shared, device, raw, revokedFlag] = (await withDeadline(
        runScript(
          this.redis,
          LOOKUP,
          5,
          this.generationKey,
          this.entryKey(fingerprint),
          this.revocations.key,
          this.deviceGenerationKey(udid),
          this.presenceKey,
          this.revocations.loadedMember,
          udid,
          newGeneration(),
          Date.now(),
        ),
      )) as [string, string, string | null, number];
      const generations = { shared, device };
      if (!raw) return { generations };
      const entry = JSON.parse(raw) as Entry;
      return {
        device: { ...entry.device, generations },
        ...(revokedFlag === -1 ? {} : { revoked: revokedFlag === 1 }),
      };
    } catch (error) {
      this.logger.debug({ err: { message: (error as Error).message } }, 'device binding cache unavailable');
      return { generations: undefined };
    }
  }

  /**
   * Stores what the database said, unless the binding changed since `device.generations` were read. Returns false
   * when Redis did not answer (an entry may be left as it was).
   */
  async store(fingerprint: string, device: BoundDevice): Promise<boolean> {
    const { generations, ...rest } = device;
    if (generations === undefined || !this.usable) return true;
    // A device without a generation gets one with its first entry.
    const deviceGeneration = generations.device || newGeneration();
    const entry: Entry = { generation: generations.shared, deviceGeneration, device: rest };
    try {
      await withDeadline(
        runScript(
          this.redis,
          SET_IF_CURRENT,
          3,
          this.generationKey,
          this.entryKey(fingerprint),
          this.deviceGenerationKey(device.udid),
          generations.shared,
          generations.device,
          JSON.stringify(entry),
          ENTRY_SECONDS,
          DEVICE_GENERATION_SECONDS,
          deviceGeneration,
        ),
      );
      return true;
    } catch (error) {
      this.logger.debug({ err: { message: (error as Error).message } }, 'device binding cache not updated');
      return false;
    }
  }

  /**
   * Replaces a hit's entry after the device reported something new about itself. When Redis does not take it, the
   * device's entries end (else a stale self-description could stand for days and hide the next change).
   */
  async replace(fingerprint: string, device: BoundDevice): Promise<void> {
    if (!(await this.store(fingerprint, device))) await this.invalidateDevice(device.udid);
  }

  /**
   * Every entry of this UDID is dead from now on (Authenticate bound it again). When Redis cannot be told, every
   * entry is (retried later), so no replica keeps serving the old binding from this process's word.
   */
  async invalidateDevice(udid: string): Promise<boolean> {
    if (this.usable && !this.invalidationPending) {
      try {
        await withDeadline(
          this.redis.set(this.deviceGenerationKey(udid), newGeneration(), 'EX', DEVICE_GENERATION_SECONDS),
        );
        return true;
      } catch (error) {
        this.logger.warn({ err: { message: (error as Error).message } }, 'device binding generation not moved');
      }
    }
    return this.invalidateAll();
  }

  /**
   * Deletes these identities' entries (a retired device's: what it reported about itself does not stay in Redis
   * for days after it left). Best effort: an entry left behind is refused by revocation and expires.
   */
  async forget(fingerprints: readonly string[]): Promise<void> {
    if (fingerprints.length === 0 || !this.usable) return;
    try {
      await withDeadline(this.redis.del(...fingerprints.map((fingerprint) => this.entryKey(fingerprint))));
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'device binding cache entries not deleted');
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
