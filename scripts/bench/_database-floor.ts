/**
 * The database's own ceiling for the check-in benchmark: the same MongoDB operations the gateway issues per
 * poll → command → Acknowledged round trip, sent by the bare driver at the same concurrency, with no HTTP,
 * signatures, plists or gateway in between. It runs in a copy of the benchmarked database as it was before the
 * measured phase (the same devices, the same commands, queued again), so the collections have the same size.
 *
 * Per device: Idle → claim the next command; then per command: record the answer (findOneAndUpdate), store it
 * (insert into mdm_command_results), claim the next command.
 */
import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import { cpuSeconds } from './_proc.js';

export interface FloorResult {
  roundTripsPerSecond: number;
  roundTrips: number;
  seconds: number;
  cpuMsPerRoundTrip: Record<string, number | null>;
}

export async function databaseFloor(options: {
  sourceUri: string;
  concurrency: number;
  pids: { ferretdb?: number };
  postgresCpu?: () => number;
}): Promise<FloorResult> {
  const source = await mongoose.createConnection(options.sourceUri).asPromise();
  const floorUri = new URL(options.sourceUri);
  floorUri.pathname = `${floorUri.pathname}_floor_${randomBytes(2).toString('hex')}`;
  const floor = await mongoose.createConnection(floorUri.toString(), { maxPoolSize: 100 }).asPromise();
  try {
    const db = floor.db!;
    const devices = await source.collection('mdm_devices').find({}).toArray();
    const commands = await source.collection('mdm_commands').find({}).toArray();
    await db.collection('mdm_devices').insertMany(devices);
    await db.collection('mdm_commands').createIndex({ deviceId: 1, commandUuid: 1 }, { unique: true });
    await db.collection('mdm_commands').createIndex({ deviceId: 1, state: 1, seq: 1 });
    await db.collection('mdm_commands').createIndex({ state: 1, respondedAt: 1 });
    await db.collection('mdm_command_results').createIndex({ commandId: 1 });
    await db.collection('mdm_command_results').createIndex({ at: 1 });
    await db.collection('mdm_commands').insertMany(
      commands.map(({ respondedAt, sentAt, errorChain, resultRaw, ...command }) => ({
        ...command,
        state: 'queued',
        attempts: 0,
      })),
    );
    const queue = db.collection('mdm_commands');
    const results = db.collection('mdm_command_results');
    const perDevice = new Map<string, string[]>();
    for (const command of commands) {
      const list = perDevice.get(command.deviceId) ?? [];
      list.push(command.commandUuid);
      perDevice.set(command.deviceId, list);
    }
    const claimNext = (deviceId: string, states: string[]) =>
      queue.findOneAndUpdate(
        { deviceId, state: { $in: states } },
        { $set: { state: 'sent', sentAt: new Date() }, $inc: { attempts: 1 } },
        { sort: { seq: 1 } },
      );
    const deviceIds = [...perDevice.keys()];
    const before = {
      ferretdb: options.pids.ferretdb ? cpuSeconds(options.pids.ferretdb) : Number.NaN,
      postgresql: options.postgresCpu?.() ?? Number.NaN,
    };
    let roundTrips = 0;
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < deviceIds.length) {
          const deviceId = deviceIds[next++];
          let sent = await claimNext(deviceId, ['queued', 'sent', 'not-now']);
          while (sent) {
            const answered = await queue.findOneAndUpdate(
              { deviceId, commandUuid: sent.commandUuid, state: 'sent' },
              { $set: { state: 'acknowledged', respondedAt: new Date() } },
            );
            if (!answered) throw new Error('floor: the command just sent was not found');
            await results.insertOne({
              _id: `${answered._id}:${answered.attempts}` as never,
              commandId: answered._id,
              deviceId,
              raw: randomBytes(900),
              at: new Date(),
            });
            roundTrips++;
            sent = await claimNext(deviceId, ['queued', 'sent']);
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
        postgresql: options.postgresCpu ? ms(options.postgresCpu(), before.postgresql) : null,
      },
    };
  } finally {
    await floor.dropDatabase().catch(() => undefined);
    await floor.close();
    await source.close();
  }
}
