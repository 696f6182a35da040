/**
 * A simulated device enrolled out of band, for MDM servers that run no SCEP or profile service of their own
 * (NanoMDM, in `npm run bench -- nanomdm`): the identity certificate is issued directly by a CA the server
 * trusts, and the MDM payload is given as settings instead of read from a signed enrollment profile. From there
 * the device checks in and answers commands exactly as after a real enrollment (same signing, same plists).
 */
import { randomUUID } from 'node:crypto';
import { type CertificateAuthority, issueDeviceCertificate } from '../../plugins/mdm/src/pki/index.js';
import type { SimulatedDevice } from './device-simulator-device.js';
import type { RsaKeyPair } from './device-simulator-http.js';
import type { EnrollmentProfile, MdmSettings } from './device-simulator-profile.js';
import { toIdentity } from './device-simulator-scep.js';

export interface OutOfBandEnrollment {
  /** Issues the identity certificate (clientAuth, as a SCEP CA would). */
  ca: CertificateAuthority;
  /** The key the device was created with (SimulatedDeviceOptions.keyPair): its certificate certifies it. */
  keyPair: RsaKeyPair;
  mdm: Pick<MdmSettings, 'serverUrl' | 'checkInUrl' | 'topic' | 'accessRights'>;
}

/** What installing an enrollment profile and running SCEP leaves on the device, without either exchange. */
export function installOutOfBand(device: SimulatedDevice, enrollment: OutOfBandEnrollment): void {
  const { ca, keyPair } = enrollment;
  const issued = issueDeviceCertificate(ca, {
    publicKey: keyPair.publicKey,
    subject: [{ type: 'CN', value: device.udid }],
    validityDays: 30,
  });
  const profile: EnrollmentProfile = {
    profile: {
      identifier: `out-of-band.mdm.${device.udid}`,
      uuid: randomUUID().toUpperCase(),
      version: 1,
      removalDisallowed: false,
      encrypted: false,
      signerCertificates: [],
      payloads: [],
      payloadContent: [],
      installedBy: 'enrollment',
    },
    plist: {},
    caCertPem: ca.certPem,
    caCertDer: ca.certDer,
    signerCertDer: ca.certDer,
    signerSubject: ca.certificate.subject,
    mdm: {
      ...enrollment.mdm,
      identityCertificateUuid: randomUUID().toUpperCase(),
      signMessage: true,
      checkOutWhenRemoved: false,
      serverCapabilities: [],
    },
  };
  device.adoptEnrollment(profile);
  device.adoptIdentity(toIdentity(issued.certDer, keyPair), ca.certPem);
}
