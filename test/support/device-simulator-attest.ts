/**
 * What iOS 16+ does besides ACME enrollment with Apple's attestation and the MDM identity:
 * - DevicePropertiesAttestation: DeviceInformation with that query (and an optional DeviceAttestationNonce of up to
 *   32 bytes) answers Apple's certificate chain for the device's properties, leaf first, the nonce itself as the
 *   freshness code. iOS keeps the last attestation: no nonce, the cached nonce, or a new one within Apple's rate limit
 *   (7 days) all get the cached one back.
 * - An enrollment profile replaced by InstallProfile (same identifier, same ServerURL/CheckInURL/Topic): iOS installs
 *   the identity payload it names — ACME for a renewal — and signs with the new identity from then on.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { PlistDict } from '../../plugins/mdm/src/protocol/index.js';
import type { TestAttestationRoot } from './device-simulator-acme.js';
import { DeviceSimulatorError } from './device-simulator-http.js';
import type { DeviceInfo } from './device-simulator-info.js';
import { type EnrollmentProfile, readEnrollmentProfile } from './device-simulator-profile.js';
import { type CommandAnswer, errorChain } from './device-simulator-state.js';

export class PropertiesAttester {
  /** Apple's rate limit: while true, a new nonce still gets the cached attestation (a test sets it). */
  rateLimited = false;
  private cached?: { nonce?: string; chain: Buffer[] };

  constructor(
    private readonly root: TestAttestationRoot,
    private readonly info: DeviceInfo,
  ) {}

  /** The chain to answer `command` with, or undefined when it does not ask for an attestation (or iOS < 16). */
  async chainFor(command: PlistDict): Promise<Buffer[] | undefined> {
    const queries = Array.isArray(command.Queries) ? command.Queries : [];
    if (command.RequestType !== 'DeviceInformation' || !queries.includes('DevicePropertiesAttestation')) return;
    if (Number.parseInt(this.info.osVersion, 10) < 16) return;
    const nonce = Buffer.isBuffer(command.DeviceAttestationNonce) ? command.DeviceAttestationNonce : undefined;
    const key = nonce?.toString('base64');
    if (this.cached && (nonce === undefined || this.cached.nonce === key || this.rateLimited)) return this.cached.chain;
    const chain = await this.root.attest({
      serialNumber: this.info.serialNumber,
      udid: this.info.udid,
      osVersion: this.info.osVersion,
      sepOsVersion: this.info.osVersion,
      freshness: nonce,
      publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
    });
    this.cached = { nonce: key, chain };
    return chain;
  }
}

/** The parts of a simulated device that replacing its enrollment profile touches. */
export interface ReenrollableDevice {
  enrollment?: EnrollmentProfile;
  adoptEnrollment(enrollment: EnrollmentProfile): EnrollmentProfile;
  obtainIdentity(): Promise<unknown>;
}

const installError = (message: string): CommandAnswer => ({
  status: 'Error',
  keys: {},
  errorChain: errorChain(4001, 'MCInstallationErrorDomain', message),
});

/**
 * InstallProfile of the enrollment profile: refused unless the MDM settings are unchanged; else the new profile
 * replaces the old and its identity payload runs (ACME with a fresh attestation). On failure the old profile and
 * identity stay.
 */
export async function replaceEnrollmentProfile(device: ReenrollableDevice, bytes: Buffer): Promise<CommandAnswer> {
  const previous = device.enrollment;
  if (!previous) return installError('The device is not enrolled.');
  let next: EnrollmentProfile;
  try {
    next = readEnrollmentProfile(bytes);
  } catch (error) {
    return installError(error instanceof DeviceSimulatorError ? error.message : String(error));
  }
  const same = (['serverUrl', 'checkInUrl', 'topic'] as const).every((key) => next.mdm[key] === previous.mdm[key]);
  if (!same) return installError('The new MDM payload does not match the old payload.');
  device.adoptEnrollment(next);
  try {
    await device.obtainIdentity();
  } catch (error) {
    device.adoptEnrollment(previous);
    return installError(`The identity could not be obtained: ${(error as Error).message}`);
  }
  return { status: 'Acknowledged', keys: {} };
}
