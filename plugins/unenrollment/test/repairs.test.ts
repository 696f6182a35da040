import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { deviceDirectoryRef, deviceRetirementRef } from 'enrollment-gateway/sdk';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { recordWithoutDelivery } from '../../../test/support/events.js';
import { eventually } from '../../../test/support/eventually.js';
import {
  adminHeaders,
  fixtureUserDirectory,
  recordingPush,
  TEST_TOPIC,
  testAdminTokens,
} from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import {
  assertIdentityRefused,
  assertNothingSecretLeft,
  certificatesOf,
  deviceRecord,
  enrolledDevice,
  finished,
  keepPolling,
  MDM_PROFILE,
  mint,
  mongo,
  PUBLIC_URL,
  service,
  stepStates,
  unenrolledRecorder,
} from './support.js';

const WEBHOOK_SECRET = 'unenrollment-webhook-secret-0123456789';

interface Delivery {
  webhookId: string;
  envelope: { id: string; type: string; data: Record<string, unknown> };
}

/** The far end of the webhooks plugin: records what arrives (the webhooks tests check signatures). */
async function webhookReceiver() {
  const deliveries: Delivery[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      deliveries.push({ webhookId: String(req.headers['webhook-id']), envelope: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    deliveries,
    url: `http://127.0.0.1:${port}/hook`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('unenrollment: what a crash, a lost event or a race leaves behind is repaired', function () {
  this.timeout(120_000);
  let gw: TestGateway;
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
  const events = unenrolledRecorder();
  const directory = fixtureUserDirectory({
    users: [{ id: 'frank', upn: 'frank@example.com', displayName: 'Frank', enabled: true, groups: [] }],
  });

  before(async () => {
    receiver = await webhookReceiver();
    gw = await startTestGateway({
      label: 'unenrollrepair',
      enable: ['mdm', 'admin-access', 'jit-registration', 'unenrollment', 'webhooks'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin, directory.plugin, events.plugin],
      config: {
        events: { sweepIntervalMs: 300, redeliverAfterMs: 300 },
        plugins: {
          unenrollment: {
            acknowledgementTimeoutMs: 4_000,
            pollIntervalMs: 100,
            retryBackoffMs: 50,
            sweepIntervalMs: 500,
          },
          webhooks: {
            endpoints: [
              {
                name: 'hook',
                url: receiver.url,
                secret: WEBHOOK_SECRET,
                allowHttp: true,
                events: ['device.unenrolled'],
              },
            ],
          },
        },
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await receiver?.close();
  });

  it('a CheckOut whose process died after recording the event, before queuing it: the core sweep delivers it', async () => {
    const { device, id } = await enrolledDevice(gw, 'gina');
    const { enrollmentId } = await deviceRecord(gw, device.udid);
    // Exactly what mdm's CheckOut leaves when it dies there: the recorded event and its writes, no job.
    await recordWithoutDelivery(gw.gateway, {
      eventId: `device.checkedOut:${enrollmentId}`,
      name: 'device.checkedOut',
      payload: { deviceId: id, udid: device.udid },
      emitter: 'mdm',
    });
    await mongo(gw)
      .collection('mdm_lifecycle')
      .insertOne({
        _id: `${enrollmentId}:checked-out` as never,
        enrollmentId,
        kind: 'checked-out',
        deviceId: id,
        at: new Date(),
      });
    const done = await finished(gw, id);
    expect(done.trigger).to.equal('checkout');
    expect(done.requestedBy).to.deep.equal({ kind: 'device', id: device.udid });
    expect(stepStates(done)).to.include({
      'revoke-certificates': 'done',
      'erase-secrets': 'done',
      'mark-retired': 'done',
    });
    expect((await deviceRecord(gw, device.udid)).state).to.equal('retired');
    await assertIdentityRefused(device);
    await assertNothingSecretLeft(gw, device, id);
    // A CheckOut the device sends again records nothing new: still one unenrollment.
    expect(await mongo(gw).collection('unenrollments').countDocuments({ deviceId: id })).to.equal(1);
  });

  it('a crash after the audit record and the announcement, before they were marked done: neither is repeated to anyone who can tell', async () => {
    const { device, id } = await enrolledDevice(gw, 'hank');
    const polling = keepPolling(device);
    await service(gw).start({ deviceId: id, trigger: 'user', requestedBy: { kind: 'user', id: 'hank' } });
    const done = await finished(gw, id);
    await polling.stop();
    const webhook = await eventually(() => {
      const found = receiver.deliveries.filter((d) => d.envelope.data.deviceId === id);
      expect(found).to.have.length(1);
      return found[0];
    });

    // What a worker killed after both side effects, before either step was marked done, leaves in MongoDB.
    const doc = await mongo(gw).collection('unenrollments').findOne({ deviceId: id });
    const steps = (doc?.steps ?? []) as { name: string }[];
    const index = (name: string) => steps.findIndex((s) => s.name === name);
    await mongo(gw)
      .collection('unenrollments')
      .updateOne(
        { deviceId: id },
        {
          $set: {
            state: 'in-progress',
            [`steps.${index('audit-record')}.state`]: 'running',
            [`steps.${index('announce')}.state`]: 'running',
          },
          $unset: { completedAt: '' },
        },
      );
    const again = await eventually(async () => {
      const current = await service(gw).get(id);
      expect(current?.state).to.equal('completed');
      expect(current?.completedAt?.getTime()).to.be.greaterThan(done.completedAt?.getTime() ?? 0);
      return current;
    }, 20_000);
    expect(stepStates(again as never)).to.include({ 'audit-record': 'done', announce: 'done' });
    // The repeat says what it found, not what it did the first time.
    const details = Object.fromEntries((again?.steps ?? []).map((s) => [s.name, s.detail]));
    expect(details['audit-record']).to.equal('the audit record was written before');
    expect(details.announce).to.equal(
      `device.unenrolled was announced before (event unenrolled:${doc?._id}); its delivery was checked again`,
    );
    expect(
      await mongo(gw).collection('audit_log').countDocuments({ action: 'device.unenroll', 'target.id': id }),
    ).to.equal(1);
    // The repeat emit finds the event recorded and delivered: subscribers see the fact once, and so does the
    // webhook receiver, under the same id.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const raised = events.seen.filter((e) => e.deviceId === id);
    expect(raised).to.have.length(1);
    expect(raised[0].eventId).to.equal(`unenrolled:${doc?._id}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const deliveries = receiver.deliveries.filter((d) => d.envelope.data.deviceId === id);
    expect(deliveries.map((d) => d.webhookId)).to.deep.equal([webhook.envelope.id]);
    expect(webhook.webhookId).to.equal(webhook.envelope.id);
  });

  it('a device answering RemoveProfile of its MDM profile with CheckOut counts it as removed', async () => {
    const { device, id } = await enrolledDevice(gw, 'ivy');
    await service(gw).start({ deviceId: id, trigger: 'user', requestedBy: { kind: 'user', id: 'ivy' } });
    // The app and the SSO profile go as usual, one answer per session, so the MDM profile removal is not answered.
    await eventually(async () => {
      const current = await service(gw).get(id);
      const items = current?.steps.filter(
        (s) => s.name.startsWith('remove-app:') || s.name.startsWith('remove-profile:'),
      );
      if (!items?.every((s) => s.state === 'done')) await device.poll({ stopAfter: 1 });
      expect(items?.map((s) => s.state)).to.deep.equal(['done', 'done']);
    });
    // What a real iPhone does: it removes the MDM profile and says CheckOut instead of Acknowledged.
    device.script({ RequestType: 'RemoveProfile', respond: 'NotNow', times: Number.POSITIVE_INFINITY });
    await eventually(async () => {
      const answered = await device.poll();
      expect(answered.map((a) => a.requestType)).to.include('RemoveProfile');
    });
    expect(
      (await service(gw).get(id))?.steps.find((s) => s.name === `remove-mdm-profile:${MDM_PROFILE}`)?.state,
    ).to.equal('running');
    await device.checkOut();
    const done = await finished(gw, id);
    expect(done.state).to.equal('completed');
    const step = done.steps.find((s) => s.name === `remove-mdm-profile:${MDM_PROFILE}`);
    expect(step?.state).to.equal('done');
    const audit = await mongo(gw).collection('audit_log').findOne({ action: 'device.unenroll', 'target.id': id });
    expect(audit?.after.removed).to.include(`RemoveProfile ${MDM_PROFILE}`);
  });

  it('a device being retired cannot renew its identity; a TokenUpdate after the erase is erased again', async () => {
    const { device, id } = await enrolledDevice(gw, 'jack');
    const retirement = gw.gateway.context('unenrollment').resolve(deviceRetirementRef);
    const record = await deviceRecord(gw, device.udid);
    const target = { deviceId: id, enrollmentId: record.enrollmentId as string };
    await retirement.eraseSecrets(target);
    // The TokenUpdate that was verified before the erase and writes after it.
    await device.tokenUpdate();
    expect(await mongo(gw).collection('mdm_push_credentials').countDocuments({ deviceId: id })).to.equal(1);

    await retirement.begin(target);
    const renewal = (await device.renewIdentity().catch((error: unknown) => error)) as { reason?: string };
    expect(renewal.reason, 'a CertRep FAILURE').to.equal('scep-failure');
    // Refused before anything was issued: the enrollment still has its one identity.
    expect((await certificatesOf(gw, id)).filter((c) => !c.revokedAt)).to.have.length(1);
    await retirement.revokeIdentity(target, 'test');
    await retirement.clearCommands(target);
    const completed = await retirement.complete(target);
    expect(completed.applied).to.equal(true);
    expect(completed.removed.join(', ')).to.match(/push token .*written again/);
    await assertIdentityRefused(device);
    await assertNothingSecretLeft(gw, device, id);
  });

  it('bulk retirement of a user cancels a session whose profile is being installed: that device cannot enroll', async () => {
    const { id } = await enrolledDevice(gw, 'frank');
    const installing = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await installing.downloadProfile(await mint(gw, 'frank'));
    await installing.obtainIdentity();
    const frank = directory.users.get('frank');
    if (!frank) throw new Error('frank is missing from the fixture');
    directory.users.set('frank', { ...frank, enabled: false });
    const res = await gw.fetch('/api/unenrollment/users/frank/retire', { method: 'POST', headers: adminHeaders() });
    expect(res.status).to.equal(202);
    const body = (await res.json()) as { unenrollments: { deviceId: string }[]; cancelledEnrollments: number };
    expect(body.unenrollments.map((u) => u.deviceId)).to.deep.equal([id]);
    expect(body.cancelledEnrollments).to.equal(1);
    const refused = (await installing.authenticate().catch((error: unknown) => error)) as { status?: number };
    expect(refused.status).to.equal(403);
    expect(await gw.gateway.context('unenrollment').resolve(deviceDirectoryRef).getByUdid(installing.udid)).to.equal(
      undefined,
    );
  });
});
