/**
 * The storage's own ceiling for the check-in benchmark: the operations the gateway issues per poll → command →
 * Acknowledged round trip, sent by the bare drivers at the same concurrency, with no HTTP, signatures, plists or
 * gateway in between. Per round trip: resolve the answered CommandUUID in the device's Redis mirror, insert the
 * final result record (mdm_command_results) and the command.result event (core_events) into a copy of the
 * benchmarked database's collections (same sizes), and settle the answer / hand out the next command in the
 * mirror: the same Lua scripts the gateway runs (src/services/command-mirror.ts), under a prefix of its own.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import mongoose from 'mongoose';
import { CommandMirror } from '../../plugins/mdm/src/services/command-mirror.js';
import type { QueuedCommand } from '../../plugins/mdm/src/storage/command-store.js';
import { cpuSeconds } from './_proc.js';

export interface FloorResult {
  roundTripsPerSecond: number;
  roundTrips: number;
  seconds: number;
  cpuMsPerRoundTrip: Record<string, number | null>;
}

export async function databaseFloor(options: {
  sourceUri: string;
  redisUrl: string;
  concurrency: number;
  pids: { ferretdb?: number; redis?: number };
  postgresCpu?: () => number;
}): Promise<FloorResult> {
  const source = await mongoose.createConnection(options.sourceUri).asPromise();
  const floorUri = new URL(options.sourceUri);
  floorUri.pathname = `${floorUri.pathname}_floor_${randomBytes(2).toString('hex')}`;
  const floor = await mongoose.createConnection(floorUri.toString(), { maxPoolSize: 100 }).asPromise();
  const redis = new Redis(options.redisUrl);
  const prefix = `floor-${randomBytes(3).toString('hex')}:`;
  const mirror = new CommandMirror(redis, prefix);
  try {
    const db = floor.db!;
    // The collections the round trip writes, as large as the benchmarked ones (under other ids: the floor
    // records the same answers again).
    for (const name of ['mdm_command_results', 'core_events']) {
      const docs = await source.collection(name).find({}).toArray();
      if (docs.length > 0)
        await db.collection(name).insertMany(docs.map((doc) => ({ ...doc, _id: `${String(doc._id)}:copy` as never })));
    }
    const commands = await source.collection('mdm_commands').find({}).sort({ seq: 1 }).toArray();
    const perDevice = new Map<string, QueuedCommand[]>();
    for (const c of commands) {
      const list = perDevice.get(c.deviceId) ?? [];
      list.push({
        id: String(c._id),
        deviceId: c.deviceId,
        seq: c.seq,
        commandUuid: c.commandUuid,
        requestType: c.requestType,
        plistDeflated: c.plistDeflated ? Buffer.from(c.plistDeflated.buffer) : undefined,
        deliveries: 0,
        createdAt: c.createdAt,
      });
      perDevice.set(c.deviceId, list);
    }
    for (const [deviceId, list] of perDevice) await mirror.load(deviceId, list);
    const results = db.collection('mdm_command_results');
    const events = db.collection('core_events');
    const deviceIds = [...perDevice.keys()];
    const before = {
      ferretdb: options.pids.ferretdb ? cpuSeconds(options.pids.ferretdb) : Number.NaN,
      redis: options.pids.redis ? cpuSeconds(options.pids.redis) : Number.NaN,
      postgresql: options.postgresCpu?.() ?? Number.NaN,
    };
    let roundTrips = 0;
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < deviceIds.length) {
          const deviceId = deviceIds[next++];
          let sent = await mirror.next(deviceId, true);
          while (sent) {
            const answered = await mirror.resolve(deviceId, sent.commandUuid);
            if (!answered) throw new Error('floor: the command just sent was not found');
            const id = `${answered.id}:final`;
            await results.insertOne({
              _id: id as never,
              commandId: new mongoose.Types.ObjectId(answered.id),
              deviceId,
              state: 'acknowledged',
              final: true,
              raw: randomBytes(900),
              at: new Date(),
            });
            await events.insertOne({
              _id: `command.result:${id}` as never,
              event: 'command.result',
              payload: new mongoose.mongo.Binary(randomBytes(700)),
              emitter: 'mdm',
              at: new Date(),
            });
            roundTrips++;
            sent = await mirror.next(deviceId, false, { id: answered.id, kind: 'final' });
          }
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const ms = (after: number, start: number) =>
      Number.isNaN(after) ? null : +(((after - start) * 1000) / roundTrips).toFixed(2);
    return {
      roundTripsPerSecond: Math.round(roundTrips / seconds),
      roundTrips,
      seconds: +seconds.toFixed(2),
      cpuMsPerRoundTrip: {
        ferretdb: options.pids.ferretdb ? ms(cpuSeconds(options.pids.ferretdb), before.ferretdb) : null,
        redis: options.pids.redis ? ms(cpuSeconds(options.pids.redis), before.redis) : null,
        postgresql: options.postgresCpu ? ms(options.postgresCpu(), before.postgresql) : null,
      },
    };
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await floor.dropDatabase().catch(() => undefined);
    await floor.close();
    await source.close();
  }
}
