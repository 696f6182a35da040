import { expect } from 'chai';
import forge from 'node-forge';
import { parse as parsePlist } from 'plist';
import type { IssuedPushCertificate } from '../../../test/support/apns-standin.js';
import { adminHeaders, testAdminTokens } from '../../../test/support/fixture-plugins.js';
import { startTestGateway, type TestGateway } from '../../../test/support/gateway.js';
import { type ApnsTestBed, createApnsTestBed, metricValue, uploadPem, waitFor } from './support/harness.js';

const DAY = 86_400_000;

interface CertificateStatus {
  installed: boolean;
  topic: string;
  fingerprint: string;
  notAfter: string;
  daysLeft: number;
  warnings: { threshold: number; level: string; message: string }[];
}

function p12Of(cert: IssuedPushCertificate, password: string): string {
  const asn1 = forge.pkcs12.toPkcs12Asn1(
    forge.pki.privateKeyFromPem(cert.keyPem),
    [forge.pki.certificateFromPem(cert.certPem)],
    password,
    { algorithm: '3des' },
  );
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary').toString('base64');
}

describe('apns certificate API: CSR, vendor signing, upload, renewal and expiry warnings', function () {
  this.timeout(60_000);
  let bed: ApnsTestBed;
  let gw: TestGateway;
  let first: IssuedPushCertificate;

  const status = async (): Promise<CertificateStatus> =>
    (await (await gw.fetch('/api/apns/certificate', { headers: adminHeaders() })).json()) as CertificateStatus;
  const post = (path: string, body: unknown) =>
    gw.fetch(`/api/apns${path}`, { method: 'POST', headers: adminHeaders(), body: JSON.stringify(body) });
  const expectRefused = async (res: Response, status: number, reason: string) => {
    const body = (await res.json()) as { reason: string; detail: string };
    expect(res.status, body.detail).to.equal(status);
    expect(res.headers.get('content-type')).to.match(/application\/problem\+json/);
    expect(body.reason).to.equal(reason);
  };
  const start = (mongodbUri?: string) =>
    startTestGateway({
      label: 'apnscert',
      mongodbUri,
      enable: ['admin-access', 'apns'],
      plugins: [testAdminTokens],
      config: { plugins: { apns: { endpoint: 'https://127.0.0.1:9', caFile: bed.caFile } } },
    });

  before(async () => {
    bed = await createApnsTestBed();
    gw = await start();
  });
  after(async () => {
    await gw?.stop();
    bed?.cleanup();
  });

  it('guards the API: 401 without credentials, 403 without the scope', async () => {
    expect((await gw.fetch('/api/apns/certificate')).status).to.equal(401);
    expect((await gw.fetch('/api/apns/certificate', { headers: adminHeaders('reader') })).status).to.equal(403);
    const empty = await status();
    expect(empty.installed).to.equal(false);
    expect(empty.warnings[0].level).to.equal('critical');
  });

  it('generates a key and CSR (key sealed under apns:<id>), signs it as a vendor, installs what Apple issues', async () => {
    const res = await post('/csr', { commonName: 'Example MDM', organization: 'Example Org' });
    expect(res.status).to.equal(201);
    const { id, csrPem } = (await res.json()) as { id: string; csrPem: string };
    expect(csrPem).to.match(/BEGIN CERTIFICATE REQUEST/);
    const ctx = gw.gateway.context('apns');
    const doc = await ctx.mongo.collection('apns_certificates').findOne({ _id: id as never });
    expect(doc?.state).to.equal('pending');
    expect(JSON.stringify(doc)).not.to.match(/PRIVATE KEY/);
    const keyPem = ctx.keyVault.open(doc?.keySealed as string, `apns:${id}`).toString('utf8');

    const vendor = await bed.pki.issuePushCertificate({ mdm: false });
    const signed = await post('/csr/vendor-sign', { vendorCertPem: vendor.certPem, vendorKeyPem: vendor.keyPem });
    expect(signed.status).to.equal(200);
    const { requestFile } = (await signed.json()) as { requestFile: string };
    const request = parsePlist(Buffer.from(requestFile, 'base64').toString('utf8')) as Record<string, string>;
    expect(Object.keys(request).sort()).to.deep.equal([
      'PushCertCertificateChain',
      'PushCertRequestCSR',
      'PushCertSignature',
    ]);

    // Apple's certificate for that CSR: same key; the upload carries only the certificate.
    first = await bed.pki.issuePushCertificate({ keyPem });
    const installed = await post('/certificate', { pem: first.certPem });
    expect(installed.status, await installed.clone().text()).to.equal(201);
    const current = await status();
    expect(current).to.include({ installed: true, topic: first.topic });
    expect(current.daysLeft).to.be.within(363, 365);
    expect(JSON.stringify(current)).not.to.match(/PRIVATE KEY|keySealed/);
    const pending = await ctx.mongo.collection('apns_certificates').countDocuments({ state: 'pending' });
    expect(pending, 'the CSR key was consumed').to.equal(0);
    const audit = await ctx.mongo
      .collection('audit_log')
      .find({ action: /^apns\./ })
      .toArray();
    expect(audit.map((entry) => entry.action)).to.include.members([
      'apns.csr.create',
      'apns.csr.vendor-sign',
      'apns.certificate.install',
    ]);
  });

  it('refuses bad uploads with 400 problem+json and keeps the previous certificate in use', async () => {
    const before = await status();
    const other = await bed.pki.issuePushCertificate({ topic: first.topic });
    const stranger = await bed.pki.issuePushCertificate({ topic: first.topic });
    const cases: [string, Promise<Response>, string][] = [
      ['not a PEM', post('/certificate', { pem: 'hello, this is not a certificate' }), 'unsupported-file'],
      [
        'not a PKCS#12',
        post('/certificate', { p12Base64: Buffer.from('zip file?').toString('base64') }),
        'unsupported-file',
      ],
      [
        'wrong p12 password',
        post('/certificate', { p12Base64: p12Of(other, 'right'), password: 'wrong' }),
        'bad-password',
      ],
      [
        'expired',
        bed.pki
          .issuePushCertificate({
            topic: first.topic,
            notBefore: new Date(Date.now() - 30 * DAY),
            notAfter: new Date(Date.now() - DAY),
          })
          .then((cert) => uploadPem(gw, cert)),
        'expired',
      ],
      [
        'not an MDM push certificate',
        bed.pki.issuePushCertificate({ mdm: false }).then((cert) => uploadPem(gw, cert)),
        'not-mdm-push',
      ],
      ['key mismatch', uploadPem(gw, { certPem: other.certPem, keyPem: stranger.keyPem }), 'key-mismatch'],
      ['key mismatch (no key, unknown to the gateway)', post('/certificate', { pem: other.certPem }), 'key-mismatch'],
    ];
    for (const [what, response, reason] of cases) {
      const res = await response;
      const body = (await res.json()) as { reason: string; detail: string };
      expect(res.status, `${what}: ${body.detail}`).to.equal(400);
      expect(body.reason, what).to.equal(reason);
    }
    expect((await status()).fingerprint).to.equal(before.fingerprint);
    const p12 = await post('/certificate', { p12Base64: p12Of(other, 'right'), password: 'right' });
    expect(p12.status, 'a good .p12 with the same topic is a renewal').to.equal(201);
    expect(((await p12.json()) as { renewed: boolean }).renewed).to.equal(true);
  });

  it('refuses a renewal with another topic unless replaceTopic is set, and then warns about orphaned devices', async () => {
    const before = await status();
    const foreign = await bed.pki.issuePushCertificate();
    await expectRefused(await uploadPem(gw, foreign), 409, 'topic-changed');
    expect((await status()).topic).to.equal(before.topic);

    const replaced = await uploadPem(gw, foreign, { replaceTopic: true });
    expect(replaced.status).to.equal(201);
    const body = (await replaced.json()) as { topicChanged: boolean; warnings: string[] };
    expect(body.topicChanged).to.equal(true);
    expect(body.warnings.join(' ')).to.match(/orphaned/);
    expect((await status()).topic).to.equal(foreign.topic);
    first = foreign;
  });

  it('warns 30, 7 and 1 days before expiry: log (once per threshold), metric, and the checklist', async () => {
    const maintenance = gw.gateway.context('apns').queue('apns-maintenance');
    const expiryLogs = () => gw.logs.filter((l) => typeof l.threshold === 'number');
    for (const [days, threshold, level] of [
      [20, 30, 40],
      [5, 7, 50],
      [0.5, 1, 50],
    ] as const) {
      const cert = await bed.pki.issuePushCertificate({
        topic: first.topic,
        notAfter: new Date(Date.now() + days * DAY),
      });
      expect((await uploadPem(gw, cert)).status).to.equal(201);
      const view = await status();
      expect(view.daysLeft).to.equal(Math.floor(days) - (days >= 1 ? 1 : 0));
      expect(view.warnings.map((w) => w.threshold)).to.deep.equal([threshold]);
      expect(view.warnings[0].level).to.equal(threshold === 30 ? 'warning' : 'critical');
      const seen = expiryLogs().length;
      await maintenance.add('expiry-check', { kind: 'expiry-check' });
      const log = await waitFor(() => expiryLogs().length > seen && expiryLogs().at(-1), `the ${threshold}-day log`);
      expect(log).to.include({ threshold, level });
      expect(await metricValue(gw, 'gateway_apns_certificate_days_left')).to.equal(view.daysLeft);
    }
    const logged = expiryLogs().length;
    const job = await maintenance.add('expiry-check', { kind: 'expiry-check' });
    await waitFor(
      async () =>
        (await job.getState()) === 'completed' || (await maintenance.queue.getJob(String(job.id))) === undefined,
      'the repeated check',
    );
    expect(expiryLogs().length, 'announced once per threshold').to.equal(logged);
    expect(await metricValue(gw, 'gateway_apns_alerts_total', 'kind="certificate-expiring"')).to.equal(3);

    // A restarted gateway says it again at start-up.
    const { mongodbUri } = gw;
    await gw.stop();
    gw = await start(mongodbUri);
    const startup = gw.logs.filter((l) => l.threshold === 1);
    expect(startup).to.have.length(1);
  });
});
