import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import {
  type EnrolledDevice,
  eventsDelivered,
  eventually,
  type PluginHarness,
  startPluginHarness,
} from 'enrollment-gateway/testing';
import { formatViolations, validateCommand } from '../../../test/support/apple-schema.js';
import { parseCommandEnvelope } from '../../../test/support/device-simulator.js';
import { TestAttestationRoot } from '../../../test/support/device-simulator-acme.js';
import acme from '../index.js';

interface AttestedBody {
  udid: string;
  serialNumber: string | null;
  osVersion: string | null;
  sepOsVersion: string | null;
  fresh: boolean;
  attestedSince: string;
}

describe('acme: DevicePropertiesAttestation is verified and its properties stored', function () {
  this.timeout(90_000);
  let h: PluginHarness;
  let root: TestAttestationRoot;
  let user = 0;

  before(async () => {
    root = await TestAttestationRoot.create();
    h = await startPluginHarness({
      plugins: [acme],
      label: 'acmeprops',
      config: { plugins: { acme: { attestationRootsPem: root.rootPem } } },
    });
  });
  after(() => h?.stop());

  const enroll = (osVersion = '17.5', attestation = root): Promise<EnrolledDevice> =>
    h.enrollDevice({ userId: `props-${++user}`, osVersion, attestation });

  const attested = (deviceId: string) => h.adminFetch(`/api/acme/devices/${deviceId}/attestation`);

  async function refusals(reason: string): Promise<number> {
    const pattern = new RegExp(
      `^gateway_acme_property_attestation_refusals_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`,
      'm',
    );
    return Number((await h.metrics()).match(pattern)?.[1] ?? 0);
  }

  it('asks an enrolled iOS 17 device with a fresh nonce, checks the chain, and stores what Apple attested', async () => {
    const { device, deviceId } = await enroll();
    const answered = await device.poll();
    const ask = answered.find((a) => a.requestType === 'DeviceInformation');
    if (!ask) return expect.fail('no DeviceInformation was queued after enrollment');
    const violations = validateCommand('DeviceInformation', ask.command);
    expect(violations, formatViolations(violations)).to.deep.equal([]);
    expect(ask.command.Queries).to.include('DevicePropertiesAttestation');
    expect(ask.command.DeviceAttestationNonce).to.be.instanceOf(Buffer).with.property('length', 32);
    await eventsDelivered(h.gateway.gateway);
    const res = await eventually(async () => {
      const r = await attested(deviceId);
      expect(r.status).to.equal(200);
      return r;
    });
    const body = (await res.json()) as AttestedBody;
    expect(body).to.include({
      udid: device.udid,
      serialNumber: device.info.serialNumber,
      osVersion: '17.5',
      sepOsVersion: '17.5',
      fresh: true,
    });
    const list = await h.adminFetch('/api/mdm/devices');
    expect(JSON.stringify(await list.json())).to.include(`OS 17.5 (sepOS 17.5), serial ${device.info.serialNumber}`);
  });

  it("keeps a cached attestation (Apple's rate limit) as not fresh, dated by the nonce it carries", async () => {
    const { device, deviceId } = await enroll();
    await device.poll();
    await eventsDelivered(h.gateway.gateway);
    const first = (await (await eventually(() => okAttestation(deviceId))).json()) as AttestedBody;
    const attester = device.propertiesAttester;
    if (!attester) return expect.fail('the simulated device cannot attest');
    attester.rateLimited = true;
    const again = await h.adminFetch(`/api/acme/devices/${deviceId}/attestation`, { method: 'POST' });
    expect(again.status).to.equal(202);
    const { commandUuid } = (await again.json()) as { commandUuid: string };
    expect((await device.poll()).map((a) => a.commandUuid)).to.deep.equal([commandUuid]);
    await eventsDelivered(h.gateway.gateway);
    const latest = (await (await attested(deviceId)).json()) as AttestedBody;
    expect(latest).to.include({ fresh: false, attestedSince: first.attestedSince });
  });

  /** Ends a session before the answer: the nonce sent, with DeviceInformation left queued. */
  async function sentNonce(device: EnrolledDevice['device']): Promise<Buffer> {
    await device.poll({ stopAfter: 0 });
    const last = device.exchanges.at(-1);
    if (!last) throw new Error('no exchange recorded');
    const nonce = parseCommandEnvelope(last.responseBody).command.DeviceAttestationNonce;
    if (!Buffer.isBuffer(nonce)) throw new Error('DeviceInformation carried no nonce');
    return nonce;
  }

  /** The device answers DeviceInformation with `chain` as its attestation. */
  async function answerWith(device: EnrolledDevice['device'], chain: Buffer[]): Promise<void> {
    const QueryResponses = { DevicePropertiesAttestation: chain, UDID: device.udid };
    device.script({ RequestType: 'DeviceInformation', respond: 'Acknowledged', result: { QueryResponses } });
    expect((await device.poll()).map((a) => a.requestType)).to.deep.equal(['DeviceInformation']);
    await eventsDelivered(h.gateway.gateway);
  }

  it('refuses a chain to another root, even carrying the right nonce, and stores nothing', async () => {
    const before = await refusals('chain');
    const { device, deviceId } = await enroll();
    const other = await TestAttestationRoot.create('Other Root');
    await answerWith(device, await other.attest({ ...claimsOf(device), freshness: await sentNonce(device) }));
    expect((await attested(deviceId)).status).to.equal(404);
    expect(await refusals('chain')).to.equal(before + 1);
  });

  it('refuses a freshness code that is none of the nonces sent to the device', async () => {
    const before = await refusals('freshness');
    const { device, deviceId } = await enroll();
    await answerWith(device, await root.attest({ ...claimsOf(device), freshness: randomBytes(32) }));
    expect((await attested(deviceId)).status).to.equal(404);
    expect(await refusals('freshness')).to.equal(before + 1);
  });

  it("refuses an attestation of another device's UDID, even carrying the right nonce", async () => {
    const before = await refusals('device-mismatch');
    const { device, deviceId } = await enroll();
    const other = await enroll();
    await answerWith(device, await root.attest({ ...claimsOf(other.device), freshness: await sentNonce(device) }));
    expect((await attested(deviceId)).status).to.equal(404);
    expect(await refusals('device-mismatch')).to.equal(before + 1);
  });

  it('does not ask an iOS 15 device, and refuses to', async () => {
    const { device, deviceId } = await enroll('15.7');
    expect((await device.poll()).map((a) => a.requestType)).to.not.include('DeviceInformation');
    const res = await h.adminFetch(`/api/acme/devices/${deviceId}/attestation`, { method: 'POST' });
    expect(res.status).to.equal(409);
  });

  async function okAttestation(deviceId: string): Promise<Response> {
    const res = await attested(deviceId);
    expect(res.status).to.equal(200);
    return res;
  }
});

function claimsOf(device: EnrolledDevice['device']) {
  return {
    serialNumber: device.info.serialNumber,
    udid: device.info.udid,
    osVersion: device.info.osVersion,
    publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
  };
}
