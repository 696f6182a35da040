import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { deliveryJobId, EVENT_DELIVERY_QUEUE } from '../../core/events/bus.js';
import type { EventMeta } from '../../core/sdk/index.js';
import { emitter, recorder } from '../fixtures/event-plugins.js';
import { recordedEvent, recordWithoutDelivery } from '../support/events.js';
import { eventually } from '../support/eventually.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { finished as exited, spawnTs, waitForLine } from '../support/process.js';

const db = (gw: TestGateway) => {
  const found = gw.gateway.context('recorder').mongo.db;
  if (!found) throw new Error('no database');
  return found;
};
const checkOut = (gw: TestGateway, eventId: string, udid = `U-${eventId}`) =>
  gw.gateway.context('emitter').events.emit('device.checkedOut', { deviceId: `d-${eventId}`, udid }, { eventId });
const effects = async (gw: TestGateway) =>
  (await db(gw).collection('test_event_effects').find().toArray()).map((d) => String(d._id)).sort();
const runs = async (gw: TestGateway) =>
  (await db(gw).collection('test_event_runs').find().toArray()).map((d) => String(d.eventId)).sort();
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('kernel: durable events (at-least-once delivery, exactly-once effect)', function () {
  this.timeout(90_000);
  const gateways: TestGateway[] = [];
  let child: ChildProcess | undefined;
  const start = async (options: Parameters<typeof startTestGateway>[0]) => {
    const gw = await startTestGateway(options);
    gateways.push(gw);
    return gw;
  };
  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    for (const gw of gateways.splice(0)) await gw.stop();
  });

  it('a subscriber that fails twice and then succeeds gets each event once in effect', async () => {
    const calls = new Map<string, number[]>();
    const gw = await start({
      label: 'evretry',
      config: { events: { backoffMs: 50 } },
      plugins: [
        emitter,
        recorder({
          before(meta: EventMeta) {
            const attempts = calls.get(meta.eventId) ?? [];
            attempts.push(meta.attempt);
            calls.set(meta.eventId, attempts);
            if (attempts.length <= 2) throw new Error(`flaky ${attempts.length}`);
          },
        }),
      ],
    });
    const ids = ['retry-a', 'retry-b', 'retry-c'];
    for (const id of ids) expect(await checkOut(gw, id)).to.deep.equal({ recorded: true });
    await eventually(async () => expect(await effects(gw)).to.deep.equal(ids), 20_000);
    for (const id of ids) expect(calls.get(id), id).to.deep.equal([1, 2, 3]);
    expect(await runs(gw), 'one successful run per event').to.deep.equal(ids);
    const markers = await db(gw).collection('core_event_deliveries').find().toArray();
    expect(markers.map((m) => m.eventId).sort()).to.deep.equal(ids);
    // Only news is logged: the first failure of each event, not every retry.
    const warned = gw.logs.filter((l) => l.msg === 'event handler failed; retrying with backoff');
    expect(warned.map((l) => l.eventId).sort()).to.deep.equal(ids);
    expect(gw.logs.filter((l) => l.msg === 'event handler failed again')).to.have.length(0);

    // A later emit of a delivered event finds the marker: the handler does not run again.
    expect(await checkOut(gw, 'retry-a')).to.deep.equal({ recorded: false });
    await settle(500);
    expect(calls.get('retry-a')).to.have.length(3);
  });

  it('a duplicate emit with the same event id is recorded once and handled once', async () => {
    const seen: EventMeta[] = [];
    const gw = await start({
      label: 'evdup',
      plugins: [emitter, recorder({ before: (meta) => void seen.push(meta) })],
    });
    const results = await Promise.all([checkOut(gw, 'dup-1', 'FIRST'), checkOut(gw, 'dup-1', 'SECOND')]);
    expect(results.map((r) => r.recorded).sort()).to.deep.equal([false, true]);
    await eventually(async () => expect(await effects(gw)).to.deep.equal(['dup-1']));
    await checkOut(gw, 'dup-1', 'THIRD');
    await settle(500);
    expect(seen.map((m) => m.eventId)).to.deep.equal(['dup-1']);
    expect(
      await db(gw)
        .collection('core_events')
        .countDocuments({ _id: 'dup-1' as never }),
    ).to.equal(1);
    const recorded = await recordedEvent(gw.gateway, 'dup-1');
    expect(recorded).to.include({ event: 'device.checkedOut', emitter: 'emitter' });
    // The payload delivered is the one recorded first, whichever call that was.
    const effect = await db(gw)
      .collection('test_event_effects')
      .findOne({ _id: 'dup-1' as never });
    expect(effect?.udid)
      .to.be.oneOf(['FIRST', 'SECOND'])
      .and.equal((recorded?.payload as { udid: string } | undefined)?.udid);
  });

  it('the sweep delivers an event recorded by an emitter that died before queuing it, and one whose job was lost', async () => {
    const fast = { sweepIntervalMs: 200, redeliverAfterMs: 300 };
    // Roles split as in production: the serve process records and queues, nothing runs its handlers.
    const api = await start({
      label: 'evsweep',
      role: 'serve',
      config: { events: fast },
      plugins: [emitter, recorder()],
    });
    // 1) Recorded, then the process died before queuing: the outbox document alone, as emit inserts it.
    await recordWithoutDelivery(api.gateway, {
      eventId: 'crashed-before-queue',
      name: 'device.checkedOut',
      payload: { deviceId: 'd-crash', udid: 'U-CRASH' },
      emitter: 'emitter',
    });
    // 2) Recorded and queued, then Redis lost the job.
    expect(await checkOut(api, 'job-lost')).to.deep.equal({ recorded: true });
    const queue = api.gateway.context('emitter').queue(EVENT_DELIVERY_QUEUE).queue;
    const jobId = deliveryJobId('job-lost', 'recorder');
    expect(jobId, 'BullMQ refuses ":" in job ids').to.not.include(':');
    expect(await queue.getJob(jobId)).to.not.equal(undefined);
    await queue.remove(jobId);
    expect(await queue.getJob(jobId)).to.equal(undefined);

    const worker = await start({
      label: 'evsweepw',
      role: 'work',
      mongodbUri: api.mongodbUri,
      redisPrefix: api.redisPrefix,
      config: { events: fast },
      plugins: [emitter, recorder()],
    });
    await eventually(
      async () => expect(await effects(worker)).to.deep.equal(['crashed-before-queue', 'job-lost']),
      20_000,
    );
    expect(await runs(worker)).to.deep.equal(['crashed-before-queue', 'job-lost']);
    const swept = worker.logs.filter((l) => l.msg === 're-queued deliveries of recorded events whose job was gone');
    expect(swept.reduce((sum, l) => sum + Number(l.requeued), 0)).to.equal(2);
  });

  it('a worker without the subscriber (an older replica) hands the delivery back; a worker with it delivers it', async () => {
    // The sweep is far off: only the hand-back can deliver within the test.
    const events = { sweepIntervalMs: 600_000, redeliverAfterMs: 600_000 };
    const api = await start({ label: 'evmixed', role: 'serve', config: { events }, plugins: [emitter, recorder()] });
    const shared = { mongodbUri: api.mongodbUri, redisPrefix: api.redisPrefix, config: { events } };
    const older = await start({ label: 'evmixedold', role: 'work', ...shared, plugins: [emitter] });
    expect(await checkOut(api, 'mixed-1')).to.deep.equal({ recorded: true });
    const queue = api.gateway.context('emitter').queue(EVENT_DELIVERY_QUEUE).queue;
    const jobId = deliveryJobId('mixed-1', 'recorder');
    // The older replica took it and, having no handler, put it back for later instead of finishing it.
    const taken = await eventually(async () => {
      const state = await (await queue.getJob(jobId))?.getState();
      expect(state).to.be.oneOf(['delayed', 'completed']);
      return state;
    }, 20_000);
    expect(taken).to.equal('delayed');
    expect(older.logs.some((l) => l.msg === 'event handler failed; retrying with backoff')).to.equal(false);
    // With both running, which worker takes the job when it is due again is a race the older one may win a few
    // times (each loss costs 2 s): the upgrade finishing is what makes delivery certain, so the older one stops.
    await older.stop();
    const newer = await start({ label: 'evmixednew', role: 'work', ...shared, plugins: [emitter, recorder()] });
    await eventually(async () => expect(await effects(newer)).to.deep.equal(['mixed-1']), 20_000);
    expect(await runs(newer)).to.deep.equal(['mixed-1']);
  });

  it('a delivery that used up its tries is tried again by the sweep, and given up (logged) past giveUpAfterMs', async () => {
    let calls = 0;
    const gw = await start({
      label: 'evgiveup',
      config: { events: { attempts: 1, sweepIntervalMs: 200, redeliverAfterMs: 300, giveUpAfterMs: 2_000 } },
      plugins: [
        emitter,
        recorder({
          before(meta) {
            calls++;
            if (meta.eventId === 'broken' || calls === 1) throw new Error('not yet');
          },
        }),
      ],
    });
    await checkOut(gw, 'late');
    await eventually(async () => expect(await effects(gw)).to.deep.equal(['late']), 20_000);
    expect(gw.logs.some((l) => l.msg === 'event handler failed on its last try; the sweep retries it')).to.equal(true);

    // A handler that never succeeds for one event: the sweep retries it until it is giveUpAfterMs old.
    await checkOut(gw, 'broken');
    const gaveUp = await eventually(() => {
      const line = gw.logs.find((l) => l.msg === 'gave up delivering an event');
      expect(line).to.not.equal(undefined);
      return line;
    }, 20_000);
    expect(gaveUp).to.include({ eventId: 'broken', level: 50 });
    expect(gaveUp?.subscribers).to.deep.equal(['recorder']);
    expect(await effects(gw)).to.deep.equal(['late']);
  });

  it('a worker process killed mid-handler loses no event: another worker delivers each one, once in effect', async () => {
    // A stalled delivery comes back through BullMQ's stall check, or (when a loaded machine stalls it twice and
    // BullMQ fails it) through the sweep: either way none is lost, which is what this test holds.
    const events = { lockDurationMs: 1_000, sweepIntervalMs: 2_000, redeliverAfterMs: 2_000 };
    const api = await start({ label: 'evkill', role: 'serve', config: { events }, plugins: [emitter, recorder()] });
    child = spawnTs('test/fixtures/event-worker.ts', [], {
      MONGODB_URI: process.env.MONGODB_URI,
      REDIS_URL: process.env.REDIS_URL,
      EVENTS_DB_URI: api.mongodbUri,
      EVENTS_REDIS_PREFIX: api.redisPrefix,
      EVENTS_CONFIG: JSON.stringify(events),
      TEST_LOG_LEVEL: 'warn',
    });
    const childExit = exited(child, 80_000);
    let output = '';
    child.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    await waitForLine(child, /^ready/m, 45_000);

    const ids = ['kill-1', 'kill-2', 'kill-3'];
    for (const id of ids) await checkOut(api, id);
    // Every handler is running in the child (and will never finish there).
    await eventually(() => {
      const started = [...output.matchAll(/^handler-start (\S+)$/gm)].map((m) => m[1]).sort();
      expect(started).to.deep.equal(ids);
    }, 20_000);
    child.kill('SIGKILL');
    expect((await childExit).code).to.equal(null);
    expect(await effects(api), 'nothing was applied by the killed worker').to.deep.equal([]);

    const replacement = await start({
      label: 'evkill2',
      role: 'work',
      mongodbUri: api.mongodbUri,
      redisPrefix: api.redisPrefix,
      config: { events },
      plugins: [emitter, recorder()],
    });
    await eventually(async () => expect(await effects(replacement)).to.deep.equal(ids), 30_000);
    // The marker follows the effect (the handler ran, then the delivery was marked).
    await eventually(async () => {
      const markers = await db(replacement).collection('core_event_deliveries').find().toArray();
      expect(markers.map((m) => m.eventId).sort()).to.deep.equal(ids);
    }, 10_000);
  });
});
