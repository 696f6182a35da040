import { expect } from 'chai';
import { deviceDirectoryRef, pushServiceRef } from 'enrollment-gateway/sdk';
import { type ApnsStandin, type IssuedPushCertificate, standinReplies } from '../../../test/support/apns-standin.js';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { adminHeaders, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import {
  type ApnsTestBed,
  createApnsTestBed,
  installCertificate,
  metricValue,
  sleep,
  startStandin,
  waitFor,
} from './support/harness.js';

const PUBLIC_URL = 'https://gateway.test';
const COALESCE_MS = 300;

describe('apns worker: pushes through the queue to a real HTTP/2 stand-in, with mdm devices', function () {
  this.timeout(60_000);
  let bed: ApnsTestBed;
  let standin: ApnsStandin;
  let gw: TestGateway;
  let certificate: IssuedPushCertificate;

  const enrolled = async (userId: string) => {
    const minted = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId }),
    });
    expect(minted.status).to.equal(201);
    const { profileUrl } = (await minted.json()) as { profileUrl: string };
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(profileUrl);
    await device.enroll();
    const list = (await (await gw.fetch('/api/mdm/devices?limit=200', { headers: adminHeaders() })).json()) as {
      items: { id: string; udid: string }[];
    };
    const id = list.items.find((d) => d.udid === device.udid)?.id;
    if (!id) throw new Error('device not listed');
    return { device, id, token: device.pushToken.toString('hex') };
  };
  const enqueue = async (deviceId: string, requestType = 'DeviceInformation') => {
    const res = await gw.fetch(`/api/mdm/devices/${deviceId}/commands`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ requestType }),
    });
    expect(res.status).to.equal(202);
  };
  // Through the SDK: `pushable` is true while push credentials exist and APNs did not mark their token invalid.
  const pushable = async (deviceId: string) =>
    Boolean((await gw.gateway.context('mdm').resolve(deviceDirectoryRef).get(deviceId))?.pushable);
  const outcomes = (token: string) => standin.requestsFor(token).map((r) => r.outcome);

  before(async () => {
    bed = await createApnsTestBed();
    standin = await startStandin(bed);
    certificate = await bed.pki.issuePushCertificate();
    gw = await startTestGateway({
      label: 'apnsworker',
      enable: ['mdm', 'admin-access', 'apns'],
      plugins: [testAdminTokens],
      config: {
        plugins: {
          apns: {
            endpoint: standin.url,
            caFile: bed.caFile,
            coalesceMs: COALESCE_MS,
            retryBaseDelayMs: 20,
            retryMaxDelayMs: 100,
            requeueDelaySeconds: 1,
          },
        },
      },
    });
    await installCertificate(gw, certificate);
  });
  after(async () => {
    await gw?.stop();
    await standin?.close();
    bed?.cleanup();
  });

  it('e2e: a command enqueued through the mdm admin API sends exactly one push with the device PushMagic', async () => {
    const { device, id, token } = await enrolled('e2e');
    await sleep(COALESCE_MS * 2);
    standin.requests.splice(0);
    await enqueue(id);
    const [push] = await waitFor(() => standin.requestsFor(token).length > 0 && standin.requestsFor(token), 'the push');
    await sleep(COALESCE_MS * 2);
    expect(standin.requestsFor(token)).to.have.length(1);
    expect(push).to.include({
      method: 'POST',
      topic: certificate.topic,
      pushType: 'mdm',
      priority: '10',
      outcome: 200,
    });
    expect(push.path).to.equal(`/3/device/${token}`);
    expect(JSON.parse(push.body)).to.deep.equal({ mdm: device.pushMagic });
    expect(Number(push.expiration)).to.be.greaterThan(Date.now() / 1000);
    const answered = await device.poll();
    expect(answered.map((a) => a.requestType)).to.deep.equal(['DeviceInformation']);
    expect(await metricValue(gw, 'gateway_apns_pushes_sent_total')).to.be.at.least(1);
  });

  it('coalesces: ten commands in one window make one push, and the next window pushes again', async () => {
    const { id, token } = await enrolled('coalesce');
    await sleep(COALESCE_MS * 2);
    standin.requests.splice(0);
    const queue = gw.gateway.context('apns').queue('apns-push').queue;
    await Promise.all(Array.from({ length: 10 }, (_, i) => enqueue(id, i % 2 ? 'ProfileList' : 'DeviceInformation')));
    // BullMQ ignored nine of the ten "flush-<window>" adds: one delayed job waits for the window to close.
    const counts = await queue.getJobCounts('delayed', 'wait', 'active');
    expect(counts.delayed + counts.wait + counts.active).to.be.at.most(2);
    await waitFor(() => standin.requestsFor(token).length > 0, 'the coalesced push');
    await sleep(COALESCE_MS * 3);
    expect(standin.requestsFor(token)).to.have.length(1);

    const push = gw.gateway.context('apns').resolve(pushServiceRef);
    await Promise.all(Array.from({ length: 10 }, () => push.wake([id])));
    await waitFor(() => standin.requestsFor(token).length === 2, 'a second push after the first window');
    await sleep(COALESCE_MS * 3);
    expect(standin.requestsFor(token)).to.have.length(2);
  });

  it('400 BadDeviceToken marks the token invalid, stops pushes, and the next TokenUpdate re-enables them', async () => {
    const { device, id, token } = await enrolled('badtoken');
    standin.behave(token, standinReplies.error(400, 'BadDeviceToken'), standinReplies.ok());
    await enqueue(id);
    await waitFor(async () => !(await pushable(id)), 'the token to be marked invalid');
    expect(outcomes(token)).to.deep.equal([400]);
    await enqueue(id, 'ProfileList');
    await sleep(COALESCE_MS * 3);
    expect(outcomes(token), 'no push to an invalid token').to.deep.equal([400]);
    expect(await metricValue(gw, 'gateway_apns_pushes_failed_total', 'reason="invalid-token"')).to.be.at.least(1);

    await device.tokenUpdate();
    expect(await pushable(id)).to.equal(true);
    await enqueue(id, 'DeviceInformation');
    await waitFor(() => outcomes(token).length === 2, 'a push after TokenUpdate');
    expect(outcomes(token)).to.deep.equal([400, 200]);
  });

  it('410 Unregistered marks the token invalid', async () => {
    const { id, token } = await enrolled('unregistered');
    standin.behave(token, standinReplies.error(410, 'Unregistered', { timestamp: Date.now() }));
    await enqueue(id);
    await waitFor(async () => !(await pushable(id)), 'the token to be marked invalid');
    expect(outcomes(token)).to.deep.equal([410]);
  });

  it('500 then success: retried with backoff inside the job, sent once', async () => {
    const { id, token } = await enrolled('servererror');
    standin.behave(token, standinReplies.error(500, 'InternalServerError'), standinReplies.ok());
    await enqueue(id);
    await waitFor(() => outcomes(token).includes(200), 'the retried push');
    expect(outcomes(token)).to.deep.equal([500, 200]);
  });

  it('GOAWAY: the refused push is retried on a new connection', async () => {
    const { id, token } = await enrolled('goaway');
    const sessionsBefore = standin.counters.sessions;
    standin.behave(token, standinReplies.goaway(), standinReplies.ok());
    await enqueue(id);
    await waitFor(() => outcomes(token).includes(200), 'the push after GOAWAY');
    expect(outcomes(token)).to.deep.equal(['goaway', 200]);
    expect(standin.counters.sessions).to.be.greaterThan(sessionsBefore);
  });

  it('429: only that device waits for Retry-After, then it is pushed again', async () => {
    const { id, token } = await enrolled('throttled');
    standin.behave(token, standinReplies.error(429, 'TooManyRequests', { retryAfterSeconds: 1 }), standinReplies.ok());
    await enqueue(id);
    await waitFor(() => outcomes(token).length === 1, 'the throttled push');
    const throttledAt = Date.now();
    await waitFor(() => outcomes(token).includes(200), 'the push after Retry-After', 15_000);
    expect(Date.now() - throttledAt).to.be.at.least(800);
    expect(outcomes(token)).to.deep.equal([429, 200]);
    expect(await metricValue(gw, 'gateway_apns_pushes_failed_total', 'reason="throttled"')).to.be.at.least(1);
  });

  it('403: alert and stop sending; devices wait and are pushed once a renewed certificate is installed', async () => {
    const refused = await enrolled('forbidden');
    const waiting = await enrolled('held');
    standin.behave(refused.token, standinReplies.error(403, 'BadCertificate'), standinReplies.ok());
    await enqueue(refused.id);
    await waitFor(() => outcomes(refused.token).length === 1, 'the refused push');
    const status = await waitFor(async () => {
      const body = (await (await gw.fetch('/api/apns/certificate', { headers: adminHeaders() })).json()) as {
        sending: { paused: boolean; reason?: string };
      };
      return body.sending.paused && body.sending;
    }, 'sending to pause');
    expect(status.reason).to.match(/BadCertificate/);
    expect(await metricValue(gw, 'gateway_apns_alerts_total', 'kind="certificate"')).to.be.at.least(1);
    expect(gw.logs.some((l) => l.level === 50 && String(l.msg).includes('sending is paused'))).to.equal(true);

    await enqueue(waiting.id);
    await sleep(COALESCE_MS * 4);
    expect(outcomes(waiting.token), 'nothing is sent while paused').to.deep.equal([]);

    const renewed = await bed.pki.issuePushCertificate({ topic: certificate.topic });
    await installCertificate(gw, renewed);
    await waitFor(
      () => outcomes(refused.token).includes(200) && outcomes(waiting.token).includes(200),
      'both devices pushed after the renewal',
    );
    expect(outcomes(refused.token)).to.deep.equal([403, 200]);
    expect(outcomes(waiting.token)).to.deep.equal([200]);
    const after = (await (await gw.fetch('/api/apns/certificate', { headers: adminHeaders() })).json()) as {
      sending: { paused: boolean };
    };
    expect(after.sending.paused).to.equal(false);
  });
});
