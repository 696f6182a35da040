import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { adminNavigationPoint, definePlugin } from 'enrollment-gateway/sdk';
import {
  type EnrolledDevice,
  eventually,
  HARNESS_READER_TOKEN,
  type PluginHarness,
  startPluginHarness,
} from 'enrollment-gateway/testing';
import { issueTestLeaf } from '../../../test/support/test-tls.js';
import webhooks from '../index.js';
import { type ReceivedDelivery, WebhookReceiver } from './receiver.js';

const SECRETS = {
  '/all': 'all-events-secret-0123456789',
  '/results': 'results-from-a-file-0123456789',
  '/flaky': 'flaky-receiver-secret-0123456789',
  '/down': 'down-receiver-secret-0123456789',
};

/** Stands in for the unenrollment plugin at the SDK boundary: the only emitter of device.unenrolled. */
const unenrollmentStandIn = definePlugin({
  name: 'unenrollment-standin',
  version: '1.0.0',
  coreApi: '^2.0.0',
  emits: ['device.unenrolled'],
  register() {},
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface DeadLetterView {
  deliveryId: string;
  id: string;
  eventId: string;
  endpoint: string;
  type: string;
  attempts: number;
  replays: number;
  lastStatus: number | null;
  lastError: string;
  data: Record<string, unknown>;
}

describe('webhooks: signed deliveries through BullMQ, retries, dead letters and replay', function () {
  this.timeout(90_000);
  let receiver: WebhookReceiver;
  let h: PluginHarness;
  let enrolled: EnrolledDevice;
  const secretDir = mkdtempSync(path.join(tmpdir(), 'webhook-secret-'));

  const deadLetters = async (endpoint?: string) => {
    const res = await h.adminFetch(`/api/webhooks/dead-letters${endpoint ? `?endpoint=${endpoint}` : ''}`);
    expect(res.status).to.equal(200);
    return ((await res.json()) as { items: DeadLetterView[] }).items;
  };
  const ofType = (deliveries: ReceivedDelivery[], type: string) => deliveries.filter((d) => d.envelope.type === type);

  before(async () => {
    receiver = await WebhookReceiver.start(SECRETS, issueTestLeaf());
    const secretFile = path.join(secretDir, 'results.secret');
    writeFileSync(secretFile, `${SECRETS['/results']}\n`);
    h = await startPluginHarness({
      label: 'webhooks',
      plugins: [webhooks, unenrollmentStandIn],
      enable: ['admin-center'],
      config: {
        plugins: {
          webhooks: {
            maxAttempts: 3,
            backoffMs: 300,
            failedSweepIntervalMs: 200,
            timeoutMs: 3_000,
            endpoints: [
              { name: 'all', url: receiver.url('/all'), secret: SECRETS['/all'] },
              { name: 'results', url: receiver.url('/results'), secretFile, events: ['command.result'] },
              { name: 'flaky', url: receiver.url('/flaky'), secret: SECRETS['/flaky'], events: ['device.enrolled'] },
              { name: 'down', url: receiver.url('/down'), secret: SECRETS['/down'], events: ['device.enrolled'] },
              // Nothing listens there any more: connection refused on every attempt.
              {
                name: 'gone',
                url: `https://127.0.0.1:${await closedPort()}/hook`,
                secret: SECRETS['/down'],
                events: ['device.enrolled'],
              },
            ],
          },
        },
      },
    });
    receiver.failFirst('/flaky', 2, 500);
    receiver.respond('/down', () => 503);
    enrolled = await h.enrollDevice({ userId: 'alice' });
  });
  after(async () => {
    await h?.stop();
    await receiver?.close();
    rmSync(secretDir, { recursive: true, force: true });
  });

  it('delivers device.enrolled as JSON, signed with HMAC-SHA256 over "<timestamp>.<body>", to subscribed endpoints', async () => {
    const [delivery] = await eventually(() => {
      const found = ofType(receiver.on('/all'), 'device.enrolled');
      expect(found).to.have.length(1);
      return found;
    });
    expect(delivery.verified, 'the receiver verified the HMAC').to.equal(true);
    expect(delivery.status).to.equal(204);
    expect(delivery.headers['content-type']).to.equal('application/json');
    expect(delivery.headers['webhook-id']).to.equal(delivery.envelope.id);
    expect(delivery.headers['webhook-attempt']).to.equal('1');
    expect(delivery.headers['webhook-signature']).to.match(/^v1=[0-9a-f]{64}$/);
    expect(Math.abs(Number(delivery.headers['webhook-timestamp']) - Date.now() / 1000)).to.be.below(30);
    expect(delivery.envelope).to.include({ type: 'device.enrolled' });
    expect(delivery.envelope.data).to.include({ deviceId: enrolled.deviceId, udid: enrolled.device.udid });
    expect(receiver.on('/results'), 'results only wants command.result').to.have.length(0);
  });

  it('retries a failing receiver with exponential backoff, keeping the event id, until it accepts', async () => {
    const attempts = await eventually(() => {
      const found = receiver.on('/flaky');
      expect(found.map((d) => d.status)).to.deep.equal([500, 500, 204]);
      return found;
    }, 20_000);
    expect(attempts.map((d) => d.headers['webhook-attempt'])).to.deep.equal(['1', '2', '3']);
    expect(new Set(attempts.map((d) => d.envelope.id)).size).to.equal(1);
    expect(attempts.every((d) => d.verified)).to.equal(true);
    // BullMQ's exponential backoff: 300 ms, then 600 ms.
    expect(attempts[1].receivedAt - attempts[0].receivedAt).to.be.at.least(280);
    expect(attempts[2].receivedAt - attempts[1].receivedAt).to.be.at.least(580);
    expect(await deadLetters('flaky')).to.deep.equal([]);
    const metrics = await h.metrics();
    expect(metrics).to.include(
      'gateway_webhook_deliveries_total{endpoint="flaky",outcome="retry",plugin="webhooks"} 2',
    );
    expect(metrics).to.include(
      'gateway_webhook_deliveries_total{endpoint="flaky",outcome="delivered",plugin="webhooks"} 1',
    );
  });

  it('dead-letters a delivery after the last attempt and lists it in the admin API with the last error', async () => {
    const [down] = await eventually(async () => {
      const items = await deadLetters('down');
      expect(items).to.have.length(1);
      return items;
    }, 20_000);
    expect(receiver.on('/down').map((d) => d.status)).to.deep.equal([503, 503, 503]);
    expect(down).to.include({ endpoint: 'down', type: 'device.enrolled', attempts: 3, replays: 0, lastStatus: 503 });
    expect(down.lastError).to.equal('HTTP 503: refused with 503');
    expect(down.data).to.include({ udid: enrolled.device.udid });

    const [gone] = await eventually(async () => {
      const items = await deadLetters('gone');
      expect(items).to.have.length(1);
      return items;
    }, 20_000);
    expect(gone.lastStatus).to.equal(null);
    expect(gone.lastError).to.match(/ECONNREFUSED/);
    expect(gone.eventId, 'one event, one id for every endpoint').to.equal(down.eventId);

    type Page = { items: DeadLetterView[]; nextCursor: string | null };
    const first = (await (await h.adminFetch('/api/webhooks/dead-letters?limit=1')).json()) as Page;
    expect(first.items).to.have.length(1);
    const second = (await (
      await h.adminFetch(`/api/webhooks/dead-letters?limit=1&cursor=${first.nextCursor}`)
    ).json()) as Page;
    expect([...first.items, ...second.items].map((d) => d.endpoint).sort()).to.deep.equal(['down', 'gone']);
    expect(second.nextCursor).to.equal(null);
    expect((await h.adminFetch('/api/webhooks/dead-letters?cursor=bogus')).status).to.equal(400);

    const one = await h.adminFetch(`/api/webhooks/dead-letters/${down.id}`);
    expect(one.status).to.equal(200);
    expect(((await one.json()) as DeadLetterView).id).to.equal(down.id);
    const endpoints = (await (await h.adminFetch('/api/webhooks/endpoints')).json()) as {
      items: { name: string; url: string; deadLetters: number; secret?: string }[];
    };
    expect(endpoints.items.find((e) => e.name === 'down')).to.include({ deadLetters: 1 });
    expect(
      endpoints.items.every((e) => e.secret === undefined),
      'secrets never leave the gateway',
    ).to.equal(true);
  });

  it('guards the admin API: 401 without credentials, 403 without the webhooks scopes', async () => {
    expect((await h.fetch('/api/webhooks/dead-letters')).status).to.equal(401);
    const reader = await h.adminFetch('/api/webhooks/dead-letters', { token: HARNESS_READER_TOKEN });
    expect(reader.status).to.equal(403);
    const [down] = await deadLetters('down');
    const replay = await h.adminFetch(`/api/webhooks/dead-letters/${down.id}/replay`, {
      method: 'POST',
      token: HARNESS_READER_TOKEN,
    });
    expect(replay.status).to.equal(403);
    expect((await h.adminFetch('/api/webhooks/dead-letters/not-an-id')).status).to.equal(400);
    expect(await deadLetters('down')).to.have.length(1);
  });

  it('replays a dead letter once, even when two replays arrive together, and audits it', async () => {
    const [down] = await deadLetters('down');
    receiver.respond('/down', () => 204);
    const before = receiver.on('/down').length;
    const answers = await Promise.all(
      [1, 2].map(() => h.adminFetch(`/api/webhooks/dead-letters/${down.id}/replay`, { method: 'POST' })),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses, 'the later one may find the entry already gone').to.satisfy(
      (all: number[]) => all.includes(202) && all.every((s) => s === 202 || s === 404),
    );
    const replayed = await eventually(() => {
      const found = receiver.on('/down').slice(before);
      expect(found).to.have.length(1);
      return found[0];
    });
    expect(replayed).to.include({ verified: true, status: 204 });
    expect(replayed.envelope.id, 'a replay keeps the event id').to.equal(down.eventId);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(receiver.on('/down').slice(before), 'no second delivery').to.have.length(1);
    expect(await deadLetters('down')).to.deep.equal([]);
    const audit = await h.context('webhooks').mongo.collection('audit_log').find({ 'target.id': down.id }).toArray();
    expect(audit.map((entry) => entry.action)).to.include('webhooks.deadLetter.replay');
    expect(audit[0].actor).to.include({ id: 'test-admin' });
  });

  it('discards a dead letter, audited; a second discard is 404', async () => {
    const [gone] = await deadLetters('gone');
    const res = await h.adminFetch(`/api/webhooks/dead-letters/${gone.id}`, { method: 'DELETE' });
    expect(res.status).to.equal(204);
    expect((await h.adminFetch(`/api/webhooks/dead-letters/${gone.id}`, { method: 'DELETE' })).status).to.equal(404);
    const audit = await h.context('webhooks').mongo.collection('audit_log').findOne({ 'target.id': gone.id });
    expect(audit?.action).to.equal('webhooks.deadLetter.discard');
  });

  it('a replay that dies again comes back as a new entry (….r1), and the replayed one is gone', async () => {
    receiver.respond('/down', () => 503);
    const pinged = await h.adminFetch('/api/webhooks/endpoints/down/ping', { method: 'POST' });
    expect(pinged.status).to.equal(202);
    const { deliveryId } = (await pinged.json()) as { deliveryId: string };
    const first = await eventually(async () => {
      const found = (await deadLetters('down')).filter((d) => d.deliveryId === deliveryId);
      expect(found).to.have.length(1);
      return found[0];
    }, 20_000);
    expect(first).to.include({ id: deliveryId, replays: 0 });
    const replay = await h.adminFetch(`/api/webhooks/dead-letters/${deliveryId}/replay`, { method: 'POST' });
    expect(replay.status).to.equal(202);
    const again = await eventually(async () => {
      const found = (await deadLetters('down')).filter((d) => d.deliveryId === deliveryId);
      expect(found.map((d) => d.id)).to.deep.equal([`${deliveryId}.r1`]);
      return found[0];
    }, 20_000);
    expect(again).to.include({ eventId: first.eventId, replays: 1, attempts: 3 });
    expect((await h.adminFetch(`/api/webhooks/dead-letters/${deliveryId}`)).status).to.equal(404);
    const one = await h.adminFetch(`/api/webhooks/dead-letters/${deliveryId}.r1`);
    expect(one.status).to.equal(200);
    expect((await h.adminFetch(`/api/webhooks/dead-letters/${deliveryId}.r1`, { method: 'DELETE' })).status).to.equal(
      204,
    );
    receiver.respond('/down', () => 204);
  });

  it('sends command results (with a secret read from a file) and check-outs, honouring each event filter', async () => {
    const enqueue = await h.adminFetch(`/api/mdm/devices/${enrolled.deviceId}/commands`, {
      method: 'POST',
      body: JSON.stringify({ requestType: 'DeviceInformation', payload: { Queries: ['OSVersion', 'ProductName'] } }),
    });
    expect(enqueue.ok, `enqueue answered ${enqueue.status}`).to.equal(true);
    await enrolled.device.poll();
    const result = await eventually(() => {
      const found = ofType(receiver.on('/results'), 'command.result').filter(
        (d) => d.envelope.data.requestType === 'DeviceInformation',
      );
      expect(found).to.have.length(1);
      return found[0];
    });
    expect(result.verified).to.equal(true);
    expect(result.envelope.data).to.deep.include({
      deviceId: enrolled.deviceId,
      status: 'Acknowledged',
      result: { QueryResponses: { OSVersion: '17.5', ProductName: 'iPhone15,4' } },
    });

    await enrolled.device.checkOut();
    const checkedOut = await eventually(() => {
      const found = ofType(receiver.on('/all'), 'device.checkedOut');
      expect(found).to.have.length(1);
      return found[0];
    });
    expect(checkedOut.envelope.data).to.deep.equal({ deviceId: enrolled.deviceId, udid: enrolled.device.udid });
    expect(ofType(receiver.on('/results'), 'device.checkedOut')).to.have.length(0);
    expect(receiver.deliveries.every((d) => d.verified)).to.equal(true);
  });

  it('sends device.unenrolled', async () => {
    await h
      .context('unenrollment-standin')
      .events.emit(
        'device.unenrolled',
        { deviceId: enrolled.deviceId, udid: enrolled.device.udid, reason: 'checkout', unreachable: false },
        { eventId: 'unenrolled:webhooks-test' },
      );
    const delivery = await eventually(() => {
      const found = ofType(receiver.on('/all'), 'device.unenrolled');
      expect(found).to.have.length(1);
      return found[0];
    });
    expect(delivery.verified).to.equal(true);
    expect(delivery.envelope.data).to.include({ reason: 'checkout', unreachable: false });
  });

  it('pings one endpoint from the admin API, and adds a Webhooks entry to the admin center navigation', async () => {
    const ping = await h.adminFetch('/api/webhooks/endpoints/results/ping', { method: 'POST' });
    expect(ping.status).to.equal(202);
    await eventually(() => expect(ofType(receiver.on('/results'), 'webhook.ping')).to.have.length(1));
    expect(ofType(receiver.on('/all'), 'webhook.ping')).to.have.length(0);
    expect((await h.adminFetch('/api/webhooks/endpoints/nope/ping', { method: 'POST' })).status).to.equal(404);

    const openapi = (await (await h.fetch('/api/openapi.json')).json()) as { paths: Record<string, object> };
    expect(Object.keys(openapi.paths)).to.include.members([
      '/api/webhooks/dead-letters',
      '/api/webhooks/dead-letters/{id}/replay',
    ]);

    const entries = h.contributions(adminNavigationPoint).filter((c) => c.plugin === 'webhooks');
    const center = await h.adminFetch('/admin/audit', { headers: { accept: 'text/html' } });
    expect(center.status).to.equal(200);
    expect(await center.text(), 'the admin center lists the entry').to.include(
      '<a href="/admin/webhooks">Webhooks</a>',
    );
    expect(entries.map((c) => c.value)).to.deep.equal([
      { id: 'webhooks', label: 'Webhooks', path: '/admin/webhooks', scope: 'webhooks:read', order: 200 },
    ]);
  });

  it('a fact raised twice (its emitter crashed after raising it) keeps its event id: one delivery, one Webhook-Id', async () => {
    const emit = (eventId: string) =>
      h
        .context('unenrollment-standin')
        .events.emit(
          'device.unenrolled',
          { deviceId: enrolled.deviceId, udid: enrolled.device.udid, reason: 'admin', unreachable: false, eventId },
          { eventId },
        );
    await emit('unenrolled:repeat-test');
    const first = await eventually(() => {
      const found = ofType(receiver.on('/all'), 'device.unenrolled').filter((d) => d.envelope.data.reason === 'admin');
      expect(found).to.have.length(1);
      return found[0];
    });
    await emit('unenrolled:repeat-test');
    await emit('unenrolled:another-fact');
    const all = await eventually(() => {
      const found = ofType(receiver.on('/all'), 'device.unenrolled').filter((d) => d.envelope.data.reason === 'admin');
      expect(found).to.have.length(2);
      return found;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(
      ofType(receiver.on('/all'), 'device.unenrolled').filter((d) => d.envelope.data.reason === 'admin'),
    ).to.have.length(2);
    expect(first.headers['webhook-id']).to.equal(first.envelope.id);
    expect(all[1].envelope.id).not.to.equal(first.envelope.id);
  });

  it('dead-letters a delivery BullMQ failed on its own (stalled, its worker died), once, and drops the failed job', async () => {
    const queue = h.context('webhooks').queue('webhook-deliveries').queue;
    const eventId = randomUUID();
    const deliveryId = `${eventId}.all`;
    const job = await queue.add(
      'device.enrolled',
      {
        deliveryId,
        eventId,
        endpoint: 'all',
        type: 'device.enrolled',
        occurredAt: new Date().toISOString(),
        data: { deviceId: enrolled.deviceId },
        replays: 0,
      },
      // Out of the workers' reach, then failed the way BullMQ fails a job that stalled too often.
      { jobId: deliveryId, attempts: 1, delay: 3_600_000 },
    );
    // A worker took it (active) and died; BullMQ then fails it as stalled, without our processor running.
    const redis = h.context('webhooks').createRedis('stall-test');
    await redis.zrem(queue.keys.delayed, deliveryId);
    await redis.lpush(queue.keys.active, deliveryId);
    redis.disconnect();
    await job.moveToFailed(new Error('job stalled more than allowable limit'), '0', false);
    expect(await job.getState()).to.equal('failed');
    const [dead] = await eventually(async () => {
      const items = (await deadLetters('all')).filter((d) => d.id === deliveryId);
      expect(items).to.have.length(1);
      return items;
    }, 20_000);
    expect(dead).to.include({ eventId, type: 'device.enrolled', replays: 0 });
    expect(dead.lastError).to.equal('job stalled more than allowable limit');
    await eventually(async () => expect(await queue.getJob(deliveryId)).to.equal(undefined));
    // A discard stays discarded: the failed job is gone, so no later sweep brings the dead letter back.
    expect((await h.adminFetch(`/api/webhooks/dead-letters/${deliveryId}`, { method: 'DELETE' })).status).to.equal(204);
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect((await deadLetters('all')).filter((d) => d.id === deliveryId)).to.have.length(0);
  });
});
