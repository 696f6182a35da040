import { randomBytes, X509Certificate } from 'node:crypto';
import { expect } from 'chai';
import { deviceDirectoryRef } from 'enrollment-gateway/sdk';
import fc from 'fast-check';
import { SimulatedDevice } from '../../../test/support/device-simulator.js';
import { adminHeaders, recordingPush, TEST_TOPIC, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import {
  fuzzParameters,
  fuzzRuns,
  mutatedBytes,
  mutatedDict,
  mutatedPlistText,
  noise,
} from '../../../test/support/fuzz.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { presenceFlushed } from '../../../test/support/presence.js';
import { buildPkcsReq, derToPem } from '../src/pki/index.js';
import { buildPlist, type PlistInput } from '../src/protocol/index.js';
import { newRsaKeyPair } from './pki-fixtures.js';

const PUBLIC_URL = 'https://gateway.test';

/**
 * What devices send, fuzzed through the real HTTP path of one gateway: SCEP PKIOperation, check-in and the
 * command endpoint (signed by a really enrolled simulator). Every answer is below 500 and never 401, and a
 * refused request leaves every collection as it was.
 */
describe('fuzz: device endpoints over HTTP never answer 5xx or 401 and store nothing they refuse', () => {
  let gw: TestGateway;
  let device: SimulatedDevice;
  const statuses = new Map<number, number>();

  /** Document count of every collection of the gateway's database. */
  const counts = async (): Promise<Record<string, number>> => {
    const db = gw.gateway.context('mdm').mongo.db;
    if (!db) throw new Error('no database');
    const out: Record<string, number> = {};
    for (const { name } of await db.listCollections().toArray()) {
      out[name] = await db.collection(name).countDocuments();
    }
    return out;
  };

  const send = async (path: string, init: RequestInit): Promise<number> => {
    const res = await gw.fetch(path, init);
    await res.arrayBuffer();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    expect(res.status, `${init.method} ${path} answered ${res.status}`).to.be.below(500);
    expect(res.status, 'a device must never see 401').not.to.equal(401);
    return res.status;
  };

  /** Sends one fuzzed request; if it was refused, nothing may have been written. */
  const refusedChangesNothing = async (request: () => Promise<number>, mayStoreOnSuccess = true) => {
    const before = await counts();
    const status = await request();
    if (status >= 400 || !mayStoreOnSuccess) {
      const after = await counts();
      const changed = Object.keys({ ...before, ...after }).filter((name) => before[name] !== after[name]);
      expect(changed, `collections changed by a ${status}`).to.deep.equal([]);
    }
  };

  before(async function () {
    this.timeout(120_000);
    gw = await startTestGateway({
      label: 'fuzzdev',
      enable: ['mdm', 'admin-access'],
      plugins: [testAdminTokens, recordingPush({ topic: TEST_TOPIC }).plugin],
    });
    const mint = await gw.fetch('/api/mdm/enrollments', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ userId: 'fuzzer' }),
    });
    const { profileUrl } = (await mint.json()) as { profileUrl: string };
    device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: PUBLIC_URL });
    await device.downloadProfile(profileUrl);
    await device.enroll();
    // The enrollment's sighting creates the device's presence record in the work role's next flush: before the
    // first case, so the flush does not change a count in the middle of one.
    const mdm = gw.gateway.context('mdm');
    await presenceFlushed(mdm.redis, mdm.redisKeyPrefix);
  });
  after(async () => {
    await gw?.stop();
    console.log(`      statuses seen: ${JSON.stringify(Object.fromEntries(statuses))}`);
  });

  describe('SCEP PKIOperation', () => {
    let messages: Buffer[];
    before(async () => {
      const ca = Buffer.from(await (await gw.fetch('/scep?operation=GetCACert')).arrayBuffer());
      const caCertPem = derToPem(new X509Certificate(ca).raw);
      const keyPair = newRsaKeyPair();
      const subject = [{ type: 'CN', value: 'fuzzed device' }];
      const request = (options: Partial<Parameters<typeof buildPkcsReq>[0]>) =>
        buildPkcsReq({ subject, keyPair, caCertPem, transactionId: randomBytes(16).toString('hex'), ...options }).der;
      messages = [
        // A well-formed request whose challenge no enrollment issued: every mutation of it must issue nothing.
        request({ challenge: 'not-a-challenge-the-gateway-issued', cipher: 'aes-256-cbc', digest: 'sha256' }),
        request({ challenge: '', cipher: 'des-ede3-cbc', digest: 'sha1' }),
        // A renewal signed by an identity the gateway never issued.
        request({
          messageType: 'RenewalReq',
          signer: { certPem: device.identity.certPem, key: newRsaKeyPair().privateKey },
        }),
      ];
    });

    it('mutated real PKCS#7 requests by POST: nothing issued, nothing stored', async function () {
      this.timeout(60_000 + fuzzRuns(200) * 500);
      const body = fc.oneof(fc.constantFrom(...messages), fc.constantFrom(...messages).chain(mutatedBytes), noise);
      await fc.assert(
        fc.asyncProperty(body, (der) =>
          refusedChangesNothing(
            () =>
              send('/scep?operation=PKIOperation', {
                method: 'POST',
                headers: { 'content-type': 'application/x-pki-message' },
                body: der,
              }),
            false,
          ),
        ),
        fuzzParameters(200),
      );
    });

    it('mutated requests by GET (base64 in the query, some not base64 at all)', async function () {
      this.timeout(60_000 + fuzzRuns(100) * 500);
      const message = fc.oneof(
        fc
          .constantFrom(...messages)
          .chain(mutatedBytes)
          .map((der) => der.toString('base64')),
        fc.string({ maxLength: 200 }),
      );
      await fc.assert(
        fc.asyncProperty(message, (text) =>
          refusedChangesNothing(
            () => send(`/scep?operation=PKIOperation&message=${encodeURIComponent(text)}`, { method: 'GET' }),
            false,
          ),
        ),
        fuzzParameters(100),
      );
    });
  });

  describe('check-in and command endpoints, signed by the enrolled device', () => {
    const checkins = () => [
      { MessageType: 'TokenUpdate', UDID: device.udid, Topic: TEST_TOPIC, Token: randomBytes(32), PushMagic: 'm' },
      { MessageType: 'Authenticate', UDID: device.udid, Topic: TEST_TOPIC, OSVersion: '17.5', BuildVersion: '21F79' },
    ];
    const reports = () => [
      { UDID: device.udid, Status: 'Idle' },
      { UDID: device.udid, Status: 'Acknowledged', CommandUUID: '7F1F4A52-4C1A-4E0B-9A57-000000000000' },
      {
        UDID: device.udid,
        Status: 'Error',
        CommandUUID: '7F1F4A52-4C1A-4E0B-9A57-000000000001',
        ErrorChain: [{ ErrorCode: 12021, ErrorDomain: 'MCMDMErrorDomain' }],
      },
    ];
    const bodies = (seeds: Record<string, unknown>[]) => {
      const built = seeds.map((dict) => buildPlist(dict as PlistInput));
      return fc.oneof(
        fc.constantFrom(...built).chain(mutatedBytes),
        fc.constantFrom(...built).chain(mutatedPlistText),
        fc
          .constantFrom(...seeds)
          .chain(mutatedDict)
          .map((dict) => buildPlist(dict as PlistInput)),
      );
    };
    const put = (path: string, body: Buffer, signature: string) =>
      send(path, {
        method: 'PUT',
        headers: { 'content-type': 'application/x-apple-aspen-mdm-checkin', 'mdm-signature': signature },
        body,
      });

    it('PUT /mdm/checkin with mutated, correctly signed bodies', async function () {
      this.timeout(60_000 + fuzzRuns(150) * 500);
      await fc.assert(
        fc.asyncProperty(bodies(checkins()), (body) =>
          refusedChangesNothing(() => put('/mdm/checkin', body, device.signBody(body))),
        ),
        fuzzParameters(150),
      );
    });

    it('PUT /mdm/connect with mutated, correctly signed reports', async function () {
      this.timeout(60_000 + fuzzRuns(150) * 500);
      await fc.assert(
        fc.asyncProperty(bodies(reports()), (body) =>
          refusedChangesNothing(() => put('/mdm/connect', body, device.signBody(body))),
        ),
        fuzzParameters(150),
      );
    });

    it('genuine bodies with mutated signatures are refused and change nothing', async function () {
      this.timeout(60_000 + fuzzRuns(100) * 500);
      const body = buildPlist(checkins()[0]);
      const signature = Buffer.from(device.signBody(body), 'base64');
      const header = fc.oneof(
        mutatedBytes(signature).map((der) => der.toString('base64')),
        fc.string({ maxLength: 100 }).filter((s) => /^[\t\x20-\x7e]*$/.test(s)),
      );
      await fc.assert(
        fc.asyncProperty(header, fc.constantFrom('/mdm/checkin', '/mdm/connect'), async (value, path) => {
          const before = await counts();
          const status = await put(path, body, value);
          // The header could only verify if the mutation left the signature intact (e.g. appended base64 junk).
          if (status >= 400) expect(await counts()).to.deep.equal(before);
        }),
        fuzzParameters(100),
      );
    });

    it('the device still talks normally after the fuzzing', async () => {
      // A mutated Authenticate that was still valid re-authenticates (pending until the next TokenUpdate).
      await device.tokenUpdate();
      const record = await gw.gateway.context('mdm').resolve(deviceDirectoryRef).getByUdid(device.udid);
      expect(record?.state).to.equal('enrolled');
      await device.poll();
    });
  });
});
