import { expect } from 'chai';
import forge from 'node-forge';
import { type ApnsStandin, type IssuedPushCertificate, standinReplies } from '../../../test/support/apns-standin.js';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { adminHeaders, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import {
  type ApnsTestBed,
  createApnsTestBed,
  installCertificate,
  metricValue,
  startStandin,
  uploadPem,
  waitFor,
} from './support/harness.js';

const PUBLIC_URL = 'https://gateway.test';

/** An MDM-looking push certificate that signs itself (what a hand-made certificate looks like). */
function selfSignedPushCertificate(topic: string): { certPem: string; keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '0a1b2c3d';
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 86_400_000);
  const subject = [
    { type: '0.9.2342.19200300.100.1.1', value: topic },
    { name: 'commonName', value: 'APSP:self-signed' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

interface Checklist {
  needsAttention: boolean;
  items: { item: string; ok: boolean; warnings?: string[] }[];
}

/** Failed pushes are logged, counted, stored per device and shown on the device page, certificate page and checklist. */
describe('apns: push failures are visible', function () {
  this.timeout(120_000);
  let bed: ApnsTestBed;
  let standin: ApnsStandin;
  let gw: TestGateway;
  let certificate: IssuedPushCertificate;
  let healthyDevice = '';

  const enrolled = async (userId: string) => {
    const minted = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId }),
    });
    expect(minted.status, await minted.clone().text()).to.equal(201);
    const { profileUrl } = (await minted.json()) as { profileUrl: string };
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(profileUrl);
    await device.enroll();
    const list = (await (await gw.fetch('/api/mdm/devices?limit=200', { headers: adminHeaders() })).json()) as {
      items: { id: string; udid: string }[];
    };
    const id = list.items.find((d) => d.udid === device.udid)?.id as string;
    return { id, token: device.pushToken.toString('hex') };
  };
  const pushNow = (deviceId: string) =>
    gw.fetch(`/api/mdm/devices/${deviceId}/push`, { method: 'POST', headers: adminHeaders() });
  const lastPush = async (deviceId: string) =>
    (await (await gw.fetch(`/api/apns/devices/${deviceId}/push`, { headers: adminHeaders() })).json()) as {
      last?: { result: string; reason?: string; detail?: string; status?: number };
    };
  const page = async (path: string) => {
    const res = await gw.fetch(path, { headers: adminHeaders() });
    expect(res.status, path).to.equal(200);
    return res.text();
  };
  const checklist = async () =>
    (await (await gw.fetch('/api/setup/checklist', { headers: adminHeaders() })).json()) as Checklist;
  const failureLines = () => gw.logs.filter((line) => String(line.msg).startsWith('APNs pushes failed'));

  before(async () => {
    bed = await createApnsTestBed();
    standin = await startStandin(bed);
    certificate = await bed.pki.issuePushCertificate();
    gw = await startTestGateway({
      label: 'pushfail',
      enable: ['mdm', 'admin-access', 'apns', 'enrollment-profiles', 'admin-center'],
      plugins: [testAdminTokens],
      config: {
        plugins: {
          apns: {
            endpoint: standin.url,
            caFile: bed.caFile,
            coalesceMs: 50,
            sendAttempts: 1,
            requeueDelaySeconds: 3600,
            failureLogIntervalSeconds: 1,
          },
        },
      },
    });
    await installCertificate(gw, certificate);
    const profile = await gw.fetch('/api/enrollment-profiles', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ name: 'Everyone', enrollmentType: 'web-based', assignments: { allUsers: true } }),
    });
    expect(profile.status).to.equal(201);
  });
  after(async () => {
    await gw?.stop();
    await standin?.close();
    bed?.cleanup();
  });

  it('a healthy push shows as delivered and leaves the checklist without warnings', async () => {
    const { id, token } = await enrolled('healthy');
    healthyDevice = id;
    expect((await pushNow(id)).status).to.equal(202);
    await waitFor(() => standin.requestsFor(token).some((r) => r.outcome === 200), 'the push');
    await waitFor(async () => (await lastPush(id)).last?.result === 'sent', 'the stored outcome');
    expect(await page(`/admin/devices/${id}`)).to.include('last push delivered to APNs');
    const list = await checklist();
    expect(list.items.find((i) => i.item === 'push-certificate')?.warnings).to.equal(undefined);
    expect(await page('/admin/push-certificate')).to.match(/<dt>Sending<\/dt><dd>active<\/dd>/);
  });

  it('400, 410, 429 and 500 answers are logged with their reason, counted, and shown per device', async () => {
    const cases = [
      {
        reply: standinReplies.error(400, 'PayloadTooLarge'),
        reason: 'rejected',
        detail: 'PayloadTooLarge',
        status: 400,
      },
      { reply: standinReplies.error(410, 'Unregistered'), reason: 'invalid-token', detail: 'Unregistered' },
      {
        reply: standinReplies.error(429, 'TooManyRequests', { retryAfterSeconds: 3600 }),
        reason: 'throttled',
        status: 429,
      },
      { reply: standinReplies.error(500, 'InternalServerError'), reason: 'retryable', detail: 'InternalServerError' },
    ];
    const devices = [];
    for (const [index, c] of cases.entries()) {
      const device = await enrolled(`failing-${index}`);
      standin.behave(device.token, c.reply);
      devices.push({ ...device, ...c });
    }
    const before = Object.fromEntries(
      await Promise.all(
        cases.map(async (c) => [
          c.reason,
          (await metricValue(gw, 'gateway_apns_pushes_failed_total', `reason="${c.reason}"`)) ?? 0,
        ]),
      ),
    );
    for (const device of devices) expect((await pushNow(device.id)).status).to.equal(202);

    for (const device of devices) {
      const { last } = await waitFor(async () => {
        const pushed = await lastPush(device.id);
        return pushed.last?.result === 'failed' && pushed;
      }, `the failed outcome of ${device.reason}`);
      expect(last).to.include({ result: 'failed', reason: device.reason });
      if (device.detail) expect(last?.detail).to.include(device.detail);
      if (device.status) expect(last?.status).to.equal(device.status);
      const html = await page(`/admin/devices/${device.id}`);
      expect(html).to.include(`last push failed`).and.include(device.reason);
      expect(html).not.to.include('reachable');
      expect(
        await metricValue(gw, 'gateway_apns_pushes_failed_total', `reason="${device.reason}"`),
        `counter for ${device.reason}`,
      ).to.be.greaterThan(before[device.reason] as number);
    }

    // Never silent: every reason reaches the log, summed into few lines, with examples naming the device.
    const lines = await waitFor(() => {
      const seen = failureLines();
      const reasons = new Set(seen.flatMap((l) => Object.keys(l.failed as object)));
      return cases.every((c) => reasons.has(c.reason)) && seen;
    }, 'log lines for every reason');
    expect(lines.length).to.be.at.most(4);
    expect(lines[0]).to.include({ level: 40 });
    const examples = lines.flatMap((l) => l.examples as { deviceId: string }[]).map((e) => e.deviceId);
    expect(examples).to.include.members(devices.map((d) => d.id));

    // 4 failed and 1 went through: the certificate page and the checklist say pushes are failing.
    const certPage = await page('/admin/push-certificate');
    expect(certPage).to.match(/<dt>Sending<\/dt><dd>failing<\/dd>/);
    expect(certPage).to.include('pushes are failing').and.include('failed (throttled)');
    const list = await checklist();
    expect(list.needsAttention).to.equal(true);
    const pushItem = list.items.find((i) => i.item === 'push-certificate');
    expect(pushItem?.ok, 'failing pushes do not block enrollment').to.equal(true);
    expect(pushItem?.warnings?.join(' ')).to.include('pushes are failing');
    expect(await page('/admin/setup'))
      .to.include('pushes are failing')
      .and.include('done, but');
  });

  it('a 403 (certificate refused) pauses sending, and every surface says so', async () => {
    const { id, token } = await enrolled('refused');
    standin.behave(token, standinReplies.error(403, 'BadCertificate'));
    const before = (await metricValue(gw, 'gateway_apns_pushes_failed_total', 'reason="certificate"')) ?? 0;
    await pushNow(id);
    await waitFor(async () => (await lastPush(id)).last?.reason === 'certificate', 'the certificate failure');
    expect((await lastPush(id)).last?.detail).to.include('BadCertificate');
    expect(await metricValue(gw, 'gateway_apns_pushes_failed_total', 'reason="certificate"')).to.be.greaterThan(before);
    await waitFor(() => failureLines().some((l) => (l.failed as Record<string, number>).certificate), 'the log');
    expect(await page(`/admin/devices/${id}`))
      .to.include('last push failed')
      .and.include('BadCertificate');
    expect(await page('/admin/push-certificate')).to.match(/<dt>Sending<\/dt><dd>paused: APNs refused the certificate/);
    const pushItem = (await checklist()).items.find((i) => i.item === 'push-certificate');
    expect(pushItem?.warnings?.join(' ')).to.include('sending is paused');
  });

  it('refuses a self-signed push certificate with the reason, and warns about one expiring within 30 days', async () => {
    const selfSigned = selfSignedPushCertificate(certificate.topic);
    const refused = await uploadPem(gw, { certPem: selfSigned.certPem, keyPem: selfSigned.keyPem });
    const body = (await refused.json()) as { reason?: string; detail?: string };
    expect(refused.status).to.equal(400);
    expect(body.reason).to.equal('self-signed');
    expect(body.detail).to.include('self-signed');

    const expiring = await bed.pki.issuePushCertificate({
      topic: certificate.topic,
      notAfter: new Date(Date.now() + 10 * 86_400_000),
    });
    await installCertificate(gw, expiring);
    const pushItem = (await checklist()).items.find((i) => i.item === 'push-certificate');
    expect(pushItem?.warnings?.join(' ')).to.match(/expires in (9|10) day/);
    expect(await page('/admin/push-certificate')).to.match(/expires in (9|10) day/);
  });

  it('a device enrolled under another topic shows as wrong topic after the topic was replaced', async () => {
    const replacement = await bed.pki.issuePushCertificate();
    expect((await uploadPem(gw, replacement, { replaceTopic: true })).status).to.equal(201);
    expect((await pushNow(healthyDevice)).status).to.equal(202);
    const { last } = await waitFor(async () => {
      const pushed = await lastPush(healthyDevice);
      return pushed.last?.reason === 'topic-mismatch' && pushed;
    }, 'the topic mismatch');
    expect(last?.detail).to.include(certificate.topic).and.include(replacement.topic);
    const pushItem = (await checklist()).items.find((i) => i.item === 'push-certificate');
    expect(pushItem?.warnings?.join(' ')).to.include('enrolled under another push topic');
    expect(await page('/admin/push-certificate')).to.include('enrolled under another push topic');
  });
});
