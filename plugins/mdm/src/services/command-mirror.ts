import type { Redis } from 'ioredis';
import type { QueuedCommand } from '../storage/command-store.js';
import { runScript } from './redis-script.js';

/**
 * Each device's pending commands, mirrored in Redis so a poll reads its next command without a database query.
 * (FerretDB 1.24 serves no query from an index, not even one by _id, on either backend: each read is a scan of
 * its collection. Its inserts are the only operations that do not scan; see docs/mdm.md.)
 *
 * Per device: a hash `mq:<device>` (`loaded`, and per command `c:<id>` its packed plist, `u:<uuid>` its id,
 * `a:<id>` the deliveries so far, `n:<id>` a NotNow flag) and a sorted set `mz:<device>` of the pending ids by
 * sequence number; `mseq:<device>` is the device's sequence counter. Every change is one Lua script, atomic in
 * the one Redis all replicas share. The database stays the record: a mirror without `loaded` (new device, Redis
 * restarted without its data) is rebuilt from it (CommandStore.pending) before use, and rebuilding only adds, so
 * a rebuild racing an enqueue keeps both; a command it adds back after its final answer is delivered again and
 * that second answer finds the final record taken (recorded once).
 */
const ADD = `
redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], ARGV[4], 'u:' .. ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])
return 1`;

/** ARGV: device, then per command: id, seq, uuid, packed, deliveries. */
const LOAD = `
local n = 0
for i = 2, #ARGV, 5 do
  if redis.call('HSETNX', KEYS[1], 'c:' .. ARGV[i], ARGV[i + 3]) == 1 then
    redis.call('HSET', KEYS[1], 'u:' .. ARGV[i + 2], ARGV[i])
    redis.call('HSETNX', KEYS[1], 'a:' .. ARGV[i], ARGV[i + 4])
    redis.call('ZADD', KEYS[2], 'NX', ARGV[i + 1], ARGV[i])
    n = n + 1
  end
end
redis.call('HSET', KEYS[1], 'loaded', '1')
return n`;

/** Drops commands from the mirror (ended: answered or cancelled). ARGV: device, ids. */
const DROP_LUA = `
local function drop(id)
  local packed = redis.call('HGET', KEYS[1], 'c:' .. id)
  if packed then
    local uuid = string.match(packed, '^[^|]*|([^|]*)|')
    if uuid then redis.call('HDEL', KEYS[1], 'u:' .. uuid) end
  end
  redis.call('HDEL', KEYS[1], 'c:' .. id, 'a:' .. id, 'n:' .. id)
  redis.call('ZREM', KEYS[2], id)
end`;

const DROP = `${DROP_LUA}
for i = 2, #ARGV do drop(ARGV[i]) end
return 1`;

/** The command a CommandUUID names: {loaded, id, deliveries, packed}. */
const RESOLVE = `
if redis.call('HGET', KEYS[1], 'loaded') ~= '1' then return {0} end
local id = redis.call('HGET', KEYS[1], 'u:' .. ARGV[1])
if not id then return {1} end
return {1, id, redis.call('HGET', KEYS[1], 'a:' .. id) or '0', redis.call('HGET', KEYS[1], 'c:' .. id) or ''}`;

/**
 * Settles the last answer (ARGV[3] 'final': drop the command; 'not-now': flag it) and hands out the next
 * command: the lowest sequence number not flagged NotNow (an Idle poll clears the flags first). Counts the
 * delivery. ARGV: device, idle ('1'/'0'), settle kind, settled id. Returns {loaded, id, deliveries, packed}.
 */
const NEXT = `${DROP_LUA}
if redis.call('HGET', KEYS[1], 'loaded') ~= '1' then return {0} end
if ARGV[3] == 'final' then drop(ARGV[4]) elseif ARGV[3] == 'not-now' then
  if redis.call('HEXISTS', KEYS[1], 'c:' .. ARGV[4]) == 1 then redis.call('HSET', KEYS[1], 'n:' .. ARGV[4], '1') end
end
local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
if #ids == 0 then return {1} end
for _, id in ipairs(ids) do
  if ARGV[2] == '1' then redis.call('HDEL', KEYS[1], 'n:' .. id) end
  if redis.call('HEXISTS', KEYS[1], 'n:' .. id) == 0 then
    local deliveries = redis.call('HINCRBY', KEYS[1], 'a:' .. id, 1)
    return {1, id, tostring(deliveries), redis.call('HGET', KEYS[1], 'c:' .. id) or ''}
  end
end
return {1}`;

/** The next sequence number of a device, or nil when its counter is unknown (then seeded from the database). */
const NEXT_SEQ = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[1] == '' then return false end
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
return redis.call('INCR', KEYS[1])`;

/** The mirror's view of one command: enough to send it and to name its answer. */
export interface MirroredCommand {
  id: string;
  deliveries: number;
  seq: number;
  commandUuid: string;
  requestType: string;
  /** 'd' deflated, 'r' raw. */
  encoding: 'd' | 'r';
  bytes: Buffer;
}

/** "seq|uuid|requestType|encoding|base64": the uuid is read back by the Lua scripts. */
export function pack(command: QueuedCommand): string {
  const [encoding, bytes] = command.plistDeflated
    ? ['d', command.plistDeflated]
    : ['r', command.plist ?? Buffer.alloc(0)];
  return `${command.seq}|${command.commandUuid}|${command.requestType}|${encoding}|${bytes.toString('base64')}`;
}

function unpack(id: string, deliveries: string, packed: string): MirroredCommand {
  const [seq, commandUuid, requestType, encoding, base64] = packed.split('|');
  return {
    id,
    deliveries: Number(deliveries),
    seq: Number(seq),
    commandUuid,
    requestType,
    encoding: encoding === 'r' ? 'r' : 'd',
    bytes: Buffer.from(base64 ?? '', 'base64'),
  };
}

type Reply = [number, string?, string?, string?];

export class CommandMirror {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private keys(deviceId: string): [string, string] {
    return [`${this.prefix}mq:${deviceId}`, `${this.prefix}mz:${deviceId}`];
  }

  async add(command: QueuedCommand): Promise<void> {
    await runScript(
      this.redis,
      ADD,
      2,
      ...this.keys(command.deviceId),
      command.id,
      command.seq,
      command.commandUuid,
      pack(command),
      command.deviceId,
    );
  }

  async load(deviceId: string, commands: readonly QueuedCommand[]): Promise<void> {
    const args = commands.flatMap((c) => [c.id, String(c.seq), c.commandUuid, pack(c), String(c.deliveries)]);
    await runScript(this.redis, LOAD, 2, ...this.keys(deviceId), deviceId, ...args);
  }

  async drop(deviceId: string, ids: readonly string[]): Promise<void> {
    await runScript(this.redis, DROP, 2, ...this.keys(deviceId), deviceId, ...ids);
  }

  /** Forgets the device's mirror (rebuilt from the database on its next use). */
  async invalidate(deviceId: string): Promise<void> {
    await this.redis.hdel(this.keys(deviceId)[0], 'loaded');
  }

  /** undefined: the mirror is not loaded; null: no pending command has that CommandUUID. */
  async resolve(deviceId: string, commandUuid: string): Promise<MirroredCommand | null | undefined> {
    const [loaded, id, deliveries, packed] = (await runScript(
      this.redis,
      RESOLVE,
      1,
      this.keys(deviceId)[0],
      commandUuid,
    )) as Reply;
    if (loaded === 0) return undefined;
    return id ? unpack(id, deliveries ?? '0', packed ?? '') : null;
  }

  /** undefined: the mirror is not loaded (nothing was settled); null: nothing to send. */
  async next(
    deviceId: string,
    idle: boolean,
    settle?: { id: string; kind: 'final' | 'not-now' },
  ): Promise<MirroredCommand | null | undefined> {
    const [loaded, id, deliveries, packed] = (await runScript(
      this.redis,
      NEXT,
      2,
      ...this.keys(deviceId),
      deviceId,
      idle ? '1' : '0',
      settle?.kind ?? '',
      settle?.id ?? '',
    )) as Reply;
    if (loaded === 0) return undefined;
    return id ? unpack(id, deliveries ?? '0', packed ?? '') : null;
  }

  /** The device's next sequence number; `seed` (the database's highest) is asked for only when Redis has none. */
  async nextSeq(deviceId: string, seed: () => Promise<number>): Promise<number> {
    const key = `${this.prefix}mseq:${deviceId}`;
    const first = (await runScript(this.redis, NEXT_SEQ, 1, key, '')) as number | null;
    if (first !== null) return Number(first);
    return Number(await runScript(this.redis, NEXT_SEQ, 1, key, String(await seed())));
  }
}
