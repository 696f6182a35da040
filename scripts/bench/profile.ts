/**
 * Signed enrollment profiles per second on one core: building the Configuration profile, encoding
 * it as plist and CMS-signing it, exactly as the download route does (without database I/O).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  createCertificateAuthority,
  createProfileSigner,
  issueSigningCertificate,
  loadCertificateAuthority,
} from '../../plugins/mdm/src/pki/index.js';
import { buildEnrollmentProfile, buildPlist } from '../../plugins/mdm/src/protocol/index.js';
import { option, percentiles } from './_stats.js';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const count = option(args, 'count', 5000);
  const ca = loadCertificateAuthority(createCertificateAuthority({ commonName: 'Bench CA', validityDays: 30 }));
  const signing = issueSigningCertificate(ca, { commonName: 'Bench Signing', validityDays: 30 });
  const signer = createProfileSigner({ certPem: signing.certPem, key: signing.keyPem, chainPems: [ca.certPem] });
  const one = () => {
    const id = randomUUID();
    const profile = buildEnrollmentProfile({
      identifier: 'com.example.bench.enrollment',
      displayName: 'Bench Management',
      organization: 'Bench',
      profileUuid: id.toUpperCase(),
      rootCertificate: { der: ca.certDer },
      scep: {
        url: 'https://gw.example/scep',
        challenge: randomBytes(24).toString('base64url'),
        subject: [
          ['O', 'Bench'],
          ['CN', `enrollment-${id}`],
        ],
      },
      mdm: {
        serverUrl: 'https://gw.example/mdm/connect',
        checkInUrl: 'https://gw.example/mdm/checkin',
        topic: 'com.apple.mgmt.External.bench',
      },
    });
    return signer.sign(buildPlist(profile));
  };
  for (let i = 0; i < 200; i++) one();
  const samples: number[] = [];
  let bytes = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    bytes = one().length;
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const stats = percentiles(samples);
  console.log(
    `${count} signed profiles (${bytes} bytes each) in ${seconds.toFixed(2)} s: ${(count / seconds).toFixed(0)}/s, p50 ${stats.p50} ms, p99 ${stats.p99} ms`,
  );
  return {
    profiles: count,
    profileBytes: bytes,
    perSecond: Math.round(count / seconds),
    ...Object.fromEntries(Object.entries(stats).map(([k, v]) => [`${k}Ms`, v])),
  };
}
