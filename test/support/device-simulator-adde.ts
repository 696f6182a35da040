/**
 * Account-driven enrollment as Settings plays it (Apple's simple authentication flow), around a SimulatedDevice:
 *
 *   const adde = await AccountDrivenDevice.create({ baseUrl: gw.url, publicUrl, userIdentifier: 'bob@contoso.test',
 *     webAuthenticate: (url) => browser.follow(url) });   // returns the apple-remotemanagement-user-login:// URL
 *   await adde.enroll();   // discovery → 401 → web sign-in → token → profile → SCEP → check-in (EnrollmentID)
 *
 * With User Enrollment ('mdm-byod', the default) the machine info has no UDID or serial number and every check-in
 * names the device by EnrollmentID; 'mdm-adde' sends them as a device enrollment does.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createSelfSignedCertificate, signProfile } from '../../plugins/mdm/src/pki/index.js';
import { buildPlist } from '../../plugins/mdm/src/protocol/index.js';
import { SimulatedDevice } from './device-simulator-device.js';
import { DeviceSimulatorError, generateRsaKeyPair, type HttpResult } from './device-simulator-http.js';
import type { SimulatedDeviceOptions } from './device-simulator-types.js';

export const CALLBACK_PREFIX = 'apple-remotemanagement-user-login://authentication-results';

export interface AccountDrivenOptions extends SimulatedDeviceOptions {
  /** What the user types in Settings → VPN & Device Management ("user@domain"). */
  userIdentifier: string;
  /** Which server of the discovery document to enroll with. Default 'mdm-byod' (User Enrollment). */
  version?: 'mdm-byod' | 'mdm-adde';
  /**
   * Plays the web view (ASWebAuthenticationSession): opens `url`, signs the user in, and returns the URL the
   * sign-in finally redirects to (apple-remotemanagement-user-login://authentication-results?access-token=…).
   */
  webAuthenticate: (url: string) => Promise<string>;
}

/** Reads `Bearer method="apple-as-web" url="…"`; undefined when the header is anything else. */
export function parseBearerChallenge(header: string | undefined): { method: string; url: string } | undefined {
  if (!header || !/^Bearer\s/i.test(header)) return undefined;
  const params = new Map([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const method = params.get('method');
  const url = params.get('url');
  return method && url ? { method, url } : undefined;
}

export class AccountDrivenDevice {
  /** The access token of the last sign-in, also sent on later MDM requests. */
  accessToken?: string;
  private signer?: { certPem: string; keyPem: string };

  private constructor(
    readonly device: SimulatedDevice,
    private readonly options: AccountDrivenOptions,
  ) {}

  static async create(options: AccountDrivenOptions): Promise<AccountDrivenDevice> {
    const byod = (options.version ?? 'mdm-byod') === 'mdm-byod';
    const userEnrollment = byod
      ? (options.userEnrollment ?? { enrollmentId: randomBytes(20).toString('hex').toUpperCase() })
      : undefined;
    return new AccountDrivenDevice(await SimulatedDevice.create({ ...options, userEnrollment }), options);
  }

  get isUserEnrollment(): boolean {
    return (this.options.version ?? 'mdm-byod') === 'mdm-byod';
  }

  /** GET https://<domain>/.well-known/com.apple.remotemanagement (here: the gateway, as the domain's proxy rule). */
  async discover(): Promise<HttpResult> {
    const query = new URLSearchParams({ 'user-identifier': this.options.userIdentifier, 'model-family': 'iPhone' });
    const publicUrl = this.options.publicUrl ?? this.options.baseUrl;
    return this.device.http.request(`${publicUrl}/.well-known/com.apple.remotemanagement?${query}`, {
      method: 'GET',
      headers: { accept: 'application/json' },
    });
  }

  /** The BaseURL of the server for this device's mode, from a discovery answer. */
  baseUrlFrom(result: HttpResult): string {
    if (result.status !== 200) throw new DeviceSimulatorError('not-ready', `discovery answered ${result.status}`);
    const doc = JSON.parse(result.body.toString('utf8')) as { Servers?: { Version?: string; BaseURL?: string }[] };
    const server = doc.Servers?.find((s) => s.Version === (this.options.version ?? 'mdm-byod'));
    if (!server?.BaseURL) throw new DeviceSimulatorError('not-ready', 'discovery names no server for this mode');
    return server.BaseURL;
  }

  /** The MachineInfo dictionary (other/machineinfo.yaml): no UDID or serial number with User Enrollment. */
  machineInfoDict(): Record<string, string> {
    const i = this.device.info;
    const ue = this.isUserEnrollment;
    return {
      PRODUCT: i.productName,
      VERSION: i.buildVersion,
      OS_VERSION: i.osVersion,
      LANGUAGE: 'en',
      ...(ue ? {} : { UDID: i.udid, SERIAL: i.serialNumber }),
    };
  }

  /** The machine info plist as the device signs it (CMS SignedData by its identity). */
  async machineInfo(): Promise<Buffer> {
    this.signer ??= await this.deviceIdentity();
    return signProfile(buildPlist(this.machineInfoDict()), this.signer.certPem, this.signer.keyPem);
  }

  /** POST the machine info to BaseURL, with the access token when given. */
  async postMachineInfo(baseUrl: string, token?: string, body?: Buffer): Promise<HttpResult> {
    const headers: Record<string, string> = { 'content-type': 'application/pkcs7-signature' };
    if (token) headers.authorization = `Bearer ${token}`;
    return this.device.http.request(baseUrl, { method: 'POST', headers, body: body ?? (await this.machineInfo()) });
  }

  /** Opens the challenge's url with user-identifier added, as Settings does; returns the access token. */
  async signIn(challengeUrl: string): Promise<string> {
    const url = new URL(challengeUrl);
    url.searchParams.set('user-identifier', this.options.userIdentifier);
    const callback = await this.options.webAuthenticate(url.toString());
    if (!callback.startsWith(`${CALLBACK_PREFIX}?`))
      throw new DeviceSimulatorError('not-ready', `the sign-in ended at ${callback.slice(0, 200)}`);
    const token = new URL(callback).searchParams.get('access-token');
    if (!token) throw new DeviceSimulatorError('not-ready', 'the sign-in returned no access-token');
    return token;
  }

  /** The whole flow: discovery → 401 → web sign-in → token → profile → SCEP → Authenticate → TokenUpdate. */
  async enroll(): Promise<void> {
    const baseUrl = this.baseUrlFrom(await this.discover());
    const first = await this.postMachineInfo(baseUrl);
    const challenge = parseBearerChallenge(String(first.headers['www-authenticate'] ?? ''));
    if (first.status !== 401 || challenge?.method !== 'apple-as-web')
      throw new DeviceSimulatorError('not-ready', `expected the apple-as-web challenge, got ${first.status}`);
    const token = await this.signIn(challenge.url);
    const second = await this.postMachineInfo(baseUrl, token);
    const type = String(second.headers['content-type'] ?? '');
    if (second.status !== 200 || !type.startsWith('application/x-apple-aspen-config'))
      throw new DeviceSimulatorError('not-ready', `profile request answered ${second.status} (${type})`);
    this.device.installProfileFile(second.body);
    this.accessToken = token;
    // Later MDM requests carry the token (Apple's simple authentication flow).
    this.device.bearerToken = token;
    await this.device.enroll();
  }

  /** A stand-in for the Apple-issued device identity that signs the machine info. */
  private async deviceIdentity(): Promise<{ certPem: string; keyPem: string }> {
    const keys = await generateRsaKeyPair(2048);
    const cert = createSelfSignedCertificate({
      subject: [{ type: 'CN', value: `device-${randomUUID()}` }],
      publicKey: keys.publicKey,
      privateKey: keys.privateKey,
      validityDays: 1,
    });
    return { certPem: cert.certPem, keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  }
}
