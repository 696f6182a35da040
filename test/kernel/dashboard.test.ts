import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { createApnsTestBed, installCertificate, waitFor } from '../../plugins/apns/test/support/harness.js';
import { ApnsStandin } from '../support/apns-standin.js';
import { SimulatedDevice } from '../support/device-simulator.js';
import { adminHeaders, testAdminTokens } from '../support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const PUBLIC_URL = 'https://gateway.test';
const dashboardPath = new URL('../../config/grafana/gateway.json', import.meta.url);

interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
}

/** Names in a PromQL expression that are ours (functions, labels and keywords never start with gateway_). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(gateway_[a-zA-Z0-9_:]*)/g)].map((m) => m[1]);
}

/** Every series name /metrics shows, plus each histogram's _bucket/_sum/_count (present before a first observation). */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      names.add(type[1]);
      if (type[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(type[1] + suffix);
    } else if (line && !line.startsWith('#')) {
      names.add(line.split(/[{ ]/)[0]);
    }
  }
  return names;
}

/** Sum of the samples of `name` whose labels include every `labels` pair. */
function sampleSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z0-9_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}

describe('ops: the Grafana dashboard matches /metrics after an enrollment and a command round trip', function () {
  this.timeout(90_000);
  let gw: TestGateway;
  let standin: ApnsStandin;
  let cleanup: () => void = () => undefined;

  before(async () => {
    const bed = await createApnsTestBed();
    cleanup = bed.cleanup;
    standin = await ApnsStandin.start({ pki: bed.pki });
    gw = await startTestGateway({
      label: 'dashboard',
      enable: ['mdm', 'admin-access', 'apns'],
      plugins: [testAdminTokens],
      config: { plugins: { apns: { endpoint: standin.url, caFile: bed.caFile, coalesceMs: 100 } } },
    });
    await installCertificate(gw, await bed.pki.issuePushCertificate());
  });
  after(async () => {
    await gw?.stop();
    await standin?.close();
    cleanup();
  });

  it('every metric the dashboard queries is exposed, and the MDM counters moved', async () => {
    const before = await gw.metrics();
    const minted = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId: 'dashboard-user' }),
    });
    expect(minted.status).to.equal(201);
    const { profileUrl } = (await minted.json()) as { profileUrl: string };
    const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(profileUrl);
    await device.enroll();
    const list = (await (await gw.fetch('/api/mdm/devices', { headers: adminHeaders() })).json()) as {
      items: { id: string; udid: string }[];
    };
    const deviceId = list.items.find((d) => d.udid === device.udid)?.id;
    const queued = await gw.fetch(`/api/mdm/devices/${deviceId}/commands`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ requestType: 'DeviceInformation' }),
    });
    expect(queued.status).to.equal(202);
    await waitFor(() => standin.requestsFor(device.pushToken.toString('hex')).some((r) => r.outcome === 200), 'a push');
    const answered = await device.poll();
    expect(answered.map((a) => a.requestType)).to.include('DeviceInformation');
    // Refusals count too: an unsigned check-in and a SCEP message that is not one.
    expect((await gw.fetch('/mdm/checkin', { method: 'PUT', body: '<plist/>' })).status).to.equal(400);
    const scep = await gw.fetch('/scep?operation=PKIOperation', { method: 'POST', body: 'not a pki message' });
    expect(scep.status).to.equal(400);

    const after = await waitFor(async () => {
      const text = await gw.metrics();
      return sampleSum(text, 'gateway_apns_pushes_sent_total') > 0 && text;
    }, 'the push counter');
    const moved = (name: string, labels: Record<string, string> = {}) =>
      expect(
        sampleSum(after, name, labels) - sampleSum(before, name, labels),
        `${name} ${JSON.stringify(labels)}`,
      ).to.be.greaterThan(0);
    moved('gateway_mdm_enrollment_sessions_issued_total');
    moved('gateway_mdm_scep_certificates_issued_total');
    moved('gateway_mdm_scep_requests_refused_total', { reason: 'bad-message' });
    moved('gateway_mdm_checkins_total', { message_type: 'Authenticate', outcome: 'accepted' });
    moved('gateway_mdm_checkins_total', { message_type: 'TokenUpdate', outcome: 'accepted' });
    moved('gateway_mdm_checkins_total', { outcome: 'refused' });
    moved('gateway_mdm_enrollments_completed_total');
    moved('gateway_mdm_commands_queued_total', { request_type: 'DeviceInformation' });
    moved('gateway_mdm_commands_delivered_total', { request_type: 'DeviceInformation' });
    moved('gateway_mdm_commands_answered_total', { request_type: 'DeviceInformation', status: 'Acknowledged' });
    moved('gateway_apns_pushes_sent_total');

    const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as Dashboard;
    const exposed = exposedNames(after);
    const queried = dashboard.panels.flatMap((panel) =>
      panel.targets.flatMap((target) => metricNames(target.expr).map((name) => ({ panel: panel.title, name }))),
    );
    expect(queried.length).to.be.greaterThan(20);
    expect(queried.filter(({ name }) => !exposed.has(name))).to.deep.equal([]);
    // Prometheus naming over everything this gateway exposes: counters end in _total, gauges never do.
    const typed = [...after.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1], type: m[2] }));
    expect(typed.filter((m) => m.type === 'counter' && !m.name.endsWith('_total'))).to.deep.equal([]);
    expect(typed.filter((m) => m.type !== 'counter' && m.name.endsWith('_total'))).to.deep.equal([]);
    for (const name of new Set(queried.map((q) => q.name))) {
      if (name.endsWith('_total')) expect(after, name).to.match(new RegExp(`^# TYPE ${name} counter$`, 'm'));
    }
  });
});
