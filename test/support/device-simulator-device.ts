/**
 * The simulated iPhone (import it from ./device-simulator.js). It enrolls with the gateway the way iOS does: downloads and verifies the signed enrollment
 * profile, gets its identity by SCEP, checks in (Authenticate, TokenUpdate, CheckOut) and answers MDM commands,
 * signing every message with an Mdm-Signature header. Used by e2e tests, `npm run simulate` and benchmarks.
 *
 *   const device = await SimulatedDevice.create({ baseUrl: gw.url, publicUrl: 'https://gateway.test' });
 *   await device.downloadProfile(profileUrl);
 *   await device.enroll();
 *   const answered = await device.poll();
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { signDetached } from '../../plugins/mdm/src/pki/index.js';
import { buildPlist, type PlistInput } from '../../plugins/mdm/src/protocol/index.js';
import { type AcmeTampering, runAcmeEnrollment } from './device-simulator-acme.js';
import { PropertiesAttester, replaceEnrollmentProfile } from './device-simulator-attest.js';
import {
  DeviceHttpClient,
  DeviceHttpError,
  DeviceSimulatorError,
  type ExchangePhase,
  generateRsaKeyPair,
  type HttpResult,
  type RsaKeyPair,
} from './device-simulator-http.js';
import { type DeviceInfo, defaultDeviceInfo } from './device-simulator-info.js';
import { type EnrollmentProfile, readEnrollmentProfile } from './device-simulator-profile.js';
import { type DeviceIdentity, runScepEnrollment } from './device-simulator-scep.js';
import { type CommandScript, DeviceState } from './device-simulator-state.js';

import {
  type AnsweredCommand,
  type EnrollTimings,
  type ExchangeRecord,
  parseCommandEnvelope,
  type SimulatedDeviceOptions,
} from './device-simulator-types.js';

export type {
  AnsweredCommand,
  EnrollTimings,
  ExchangeRecord,
  SimulatedDeviceOptions,
} from './device-simulator-types.js';
export { parseCommandEnvelope } from './device-simulator-types.js';

export class SimulatedDevice {
  readonly info: DeviceInfo;
  readonly state: DeviceState;
  readonly http: DeviceHttpClient;
  /** Bounded log of every exchange, oldest first. */
  readonly exchanges: ExchangeRecord[] = [];
  enrollment?: EnrollmentProfile;
  /** The SCEP CA certificate (GetCACert). */
  scepCaCertPem?: string;
  readonly pushToken = randomBytes(32);
  readonly pushMagic = randomUUID().toUpperCase();
  readonly unlockToken = randomBytes(48);
  /** Set after a successful TokenUpdate; cleared by CheckOut or removal of the enrollment profile. */
  enrolled = false;
  /** Switched off or out of coverage: poll() talks to nobody and answers nothing (unreachable-device tests). */
  silent = false;
  /**
   * Replaces the Mdm-Signature header for negative tests: return a different header, or undefined to send none.
   * Default: a valid detached signature over the exact body.
   */
  signatureOverride?: (body: Buffer) => string | undefined;
  /** Answers DevicePropertiesAttestation (iOS 16+) when the device has an attestation root. */
  readonly propertiesAttester?: PropertiesAttester;
  /** Sent as `Authorization: Bearer …` on check-ins and reports, as account-driven enrollments do after sign-in. */
  bearerToken?: string;
  /** Run after each poll session, while the device is still enrolled (device-simulator-ddm.ts syncs here). */
  readonly afterSession: (() => Promise<void>)[] = [];
  private currentIdentity?: DeviceIdentity;
  private keyPair?: RsaKeyPair;

  private constructor(private readonly options: SimulatedDeviceOptions) {
    this.info = defaultDeviceInfo(options);
    this.state = new DeviceState(this.info, options.installPolls ?? 1);
    if (options.attestation) this.propertiesAttester = new PropertiesAttester(options.attestation, this.info);
    this.http = new DeviceHttpClient(options.baseUrl, options.publicUrl, options.agents);
    this.keyPair = options.keyPair;
  }

  static async create(options: SimulatedDeviceOptions): Promise<SimulatedDevice> {
    const device = new SimulatedDevice(options);
    // Take the key now so a fleet's key pool is drained up front, not on the timed SCEP path.
    device.keyPair ??= options.keyPool ? await options.keyPool.take() : undefined;
    return device;
  }

  get udid(): string {
    return this.info.udid;
  }

  /** How the device names itself in check-ins and reports: its UDID, or with User Enrollment its EnrollmentID. */
  get deviceKeys(): { UDID: string } | { EnrollmentID: string } {
    const ue = this.options.userEnrollment;
    return ue ? { EnrollmentID: ue.enrollmentId } : { UDID: this.info.udid };
  }

  /** The SCEP-issued identity; throws before enroll(). */
  get identity(): DeviceIdentity {
    if (!this.currentIdentity) throw new DeviceSimulatorError('not-ready', 'device has no identity yet (enroll first)');
    return this.currentIdentity;
  }

  get hasIdentity(): boolean {
    return this.currentIdentity !== undefined;
  }

  /** What Safari does with a profile link: GET it, insist on the aspen-config type, then install it. */
  async downloadProfile(profileUrl: string): Promise<EnrollmentProfile> {
    const result = await this.http.request(profileUrl, {
      method: 'GET',
      headers: {
        'user-agent': `Mozilla/5.0 (iPhone; CPU iPhone OS ${this.info.osVersion.replace(/\./g, '_')} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1`,
        accept: '*/*',
      },
    });
    this.record('profile', 'GET', result, 0);
    if (result.status !== 200) throw new DeviceHttpError('profile', result.status, result.body, result.url);
    const type = String(result.headers['content-type'] ?? '');
    if (!type.startsWith('application/x-apple-aspen-config')) {
      throw new DeviceSimulatorError('profile-content-type', `profile served as "${type}"`);
    }
    return this.installProfileFile(result.body);
  }

  /** Installs an enrollment profile from its bytes (e.g. a file a browser test downloaded). Verifies it first. */
  installProfileFile(bytes: Buffer | Uint8Array): EnrollmentProfile {
    return this.adoptEnrollment(readEnrollmentProfile(Buffer.from(bytes), this.options.now?.() ?? new Date()));
  }

  /** Makes a verified enrollment profile the installed one (first install, or its replacement by InstallProfile). */
  adoptEnrollment(enrollment: EnrollmentProfile): EnrollmentProfile {
    if (this.state.enrollmentProfileId) this.state.profiles.delete(this.state.enrollmentProfileId);
    this.enrollment = enrollment;
    this.state.profiles.set(enrollment.profile.identifier, enrollment.profile);
    this.state.enrollmentProfileId = enrollment.profile.identifier;
    this.state.accessRights = enrollment.mdm.accessRights;
    return enrollment;
  }

  /** Makes `identity` the device's own: from SCEP or ACME, or issued out of band (device-simulator-direct.ts). */
  adoptIdentity(identity: DeviceIdentity, caCertPem: string): void {
    this.currentIdentity = identity;
    this.scepCaCertPem = caCertPem;
    this.state.identity = { certDer: identity.certDer, key: identity.keyPair.privateKey };
  }

  /** SCEP (unless an identity exists), then Authenticate and TokenUpdate. */
  async enroll(): Promise<EnrollTimings> {
    const started = performance.now();
    if (!this.currentIdentity) await this.obtainIdentity();
    const scepDone = performance.now();
    await this.authenticate();
    const authenticated = performance.now();
    await this.tokenUpdate();
    const done = performance.now();
    return {
      scepMs: scepDone - started,
      authenticateMs: authenticated - scepDone,
      tokenUpdateMs: done - authenticated,
      totalMs: done - started,
    };
  }

  /** SCEP PKCSReq with the profile's challenge and subject, or ACME when the profile carries an ACME payload. */
  async obtainIdentity(): Promise<DeviceIdentity> {
    const enrollment = this.requireProfile();
    if (enrollment.acme) return this.obtainAcmeIdentity(enrollment.acme);
    const scep = this.requireScep();
    const keyPair = await this.keyForScep(scep.keySize, this.keyPair);
    this.keyPair = keyPair;
    const result = await runScepEnrollment({
      client: this.http,
      settings: scep,
      keyPair,
      record: (phase, method, r, n) => this.record(phase, method, r, n),
    });
    this.adoptIdentity(result.identity, result.caCertPem);
    return result.identity;
  }

  /**
   * ACME with device-attest-01 for `settings` (the enrollment profile's payload, or a renewal payload): the new
   * identity replaces the current one.
   */
  async obtainAcmeIdentity(
    settings: NonNullable<EnrollmentProfile['acme']>,
    tamper?: AcmeTampering,
  ): Promise<DeviceIdentity> {
    const attestation = this.options.attestation;
    if (!attestation)
      throw new DeviceSimulatorError('not-ready', 'ACME needs an attestation root (options.attestation)');
    const result = await runAcmeEnrollment({
      client: this.http,
      settings,
      device: { serialNumber: this.info.serialNumber, udid: this.info.udid, osVersion: this.info.osVersion },
      attestation,
      record: (phase, method, r, n) => this.record(phase, method, r, n),
      tamper,
    });
    this.adoptIdentity(result.identity, result.caCertPem);
    return result.identity;
  }

  /**
   * What iOS does when the enrollment profile is removed: the SCEP identity goes with it, so the next enroll()
   * starts with SCEP again.
   */
  discardIdentity(): void {
    this.currentIdentity = undefined;
    this.state.identity = undefined;
  }

  /** SCEP RenewalReq for a fresh key, signed with the current identity; the new identity replaces it. */
  async renewIdentity(): Promise<DeviceIdentity> {
    const previous = this.identity;
    const scep = this.requireScep();
    const keyPair = await this.keyForScep(scep.keySize, undefined);
    const result = await runScepEnrollment({
      client: this.http,
      settings: scep,
      keyPair,
      renewWith: previous,
      record: (phase, method, r, n) => this.record(phase, method, r, n),
    });
    this.keyPair = keyPair;
    this.adoptIdentity(result.identity, result.caCertPem);
    return result.identity;
  }

  authenticate(): Promise<void> {
    const i = this.info;
    const names = this.options.authenticateWithNames;
    return this.checkIn({
      MessageType: 'Authenticate',
      ...this.deviceKeys,
      Topic: this.requireProfile().mdm.topic,
      OSVersion: i.osVersion,
      BuildVersion: i.buildVersion,
      ProductName: i.productName,
      // User Enrollment keeps the serial number from the organisation.
      SerialNumber: this.options.userEnrollment ? undefined : i.serialNumber,
      Model: names ? i.model : undefined,
      ModelName: names ? i.modelName : undefined,
      DeviceName: names ? i.deviceName : undefined,
    });
  }

  async tokenUpdate(): Promise<void> {
    const mdm = this.requireProfile().mdm;
    await this.checkIn({
      MessageType: 'TokenUpdate',
      ...this.deviceKeys,
      Topic: mdm.topic,
      Token: this.pushToken,
      PushMagic: this.pushMagic,
      // iOS only hands out the UnlockToken when the server may clear the passcode (AccessRights bit 4).
      // Never with User Enrollment, which ignores AccessRights.
      UnlockToken: mdm.accessRights & 4 && !this.options.userEnrollment ? this.unlockToken : undefined,
    });
    this.enrolled = true;
  }

  /** What the device sends when the user removes the enrollment profile. Local MDM state goes with it. */
  async checkOut(): Promise<void> {
    await this.checkIn({ MessageType: 'CheckOut', ...this.deviceKeys, Topic: this.requireProfile().mdm.topic });
    this.enrolled = false;
    this.state.unenroll();
  }

  /** PUT a check-in message as-is; the caller judges the response. */
  sendCheckin(message: Record<string, PlistInput | undefined>): Promise<HttpResult> {
    return this.putSigned(
      'checkin',
      this.requireProfile().mdm.checkInUrl,
      'application/x-apple-aspen-mdm-checkin',
      message,
    );
  }

  /** PUT a command report (or Idle) as-is; the caller judges the response. */
  sendReport(report: Record<string, PlistInput | undefined>): Promise<HttpResult> {
    return this.putSigned('command', this.requireProfile().mdm.serverUrl, 'application/x-apple-aspen-mdm', report);
  }

  /** Programs the answer to the next command(s) of a type, e.g. { RequestType: 'DeviceInformation', respond: 'NotNow' }. */
  script(rule: CommandScript): this {
    this.state.script(rule);
    return this;
  }

  /**
   * One MDM session, as after a push: Idle, then answer each command in the next request until the server answers
   * with an empty body (or `stopAfter` commands were answered). Returns the commands answered in order; a silent
   * device answers nothing.
   */
  async poll(options: { maxCommands?: number; stopAfter?: number } = {}): Promise<AnsweredCommand[]> {
    if (this.silent) return [];
    const max = options.maxCommands ?? this.options.maxCommandsPerPoll ?? 100;
    this.state.advanceTime();
    const answered: AnsweredCommand[] = [];
    let report: Record<string, PlistInput | undefined> = { ...this.deviceKeys, Status: 'Idle' };
    let unenrolled = false;
    for (;;) {
      const result = await this.sendReport(report);
      if (result.status !== 200) throw new DeviceHttpError('command', result.status, result.body, result.url);
      // After removing the MDM profile the device stops processing commands and (if asked to) checks out.
      if (unenrolled) {
        this.enrolled = false;
        if (this.enrollment?.mdm.checkOutWhenRemoved) {
          await this.checkIn({ MessageType: 'CheckOut', ...this.deviceKeys, Topic: this.requireProfile().mdm.topic });
        }
        break;
      }
      if (result.body.length === 0) break;
      // The session ends here (the user walked out of coverage): the command just received stays unanswered.
      if (options.stopAfter !== undefined && answered.length >= options.stopAfter) break;
      if (answered.length >= max) {
        throw new DeviceSimulatorError('too-many-commands', `server sent more than ${max} commands in one session`);
      }
      const { commandUuid, command } = parseCommandEnvelope(result.body);
      this.state.propertiesAttestation = await this.propertiesAttester?.chainFor(command);
      let answer = this.state.answer(command);
      if (answer.replaceEnrollment) answer = await replaceEnrollmentProfile(this, answer.replaceEnrollment);
      unenrolled = answer.unenrolled === true;
      report = {
        ...this.deviceKeys,
        CommandUUID: commandUuid,
        Status: answer.status,
        ...answer.keys,
        ErrorChain: answer.errorChain,
      };
      answered.push({
        commandUuid,
        requestType: String(command.RequestType),
        command,
        status: answer.status,
        report,
        errorChain: answer.errorChain,
      });
    }
    if (this.enrolled) for (const hook of this.afterSession) await hook();
    return answered;
  }

  /** The Mdm-Signature header value for `body` (base64 detached CMS by the identity certificate). */
  signBody(body: Buffer): string {
    const identity = this.identity;
    return signDetached(body, identity.certPem, identity.keyPair.privateKey, {
      digest: this.options.signatureDigest ?? 'sha256',
    });
  }

  /** signBody, on the signing pool's threads when the device has one. */
  private async signBodyOnPool(body: Buffer): Promise<string> {
    const pool = this.options.signingPool;
    if (!pool) return this.signBody(body);
    const { certPem, keyPem } = this.identity;
    return pool.sign({ body, certPem, keyPem, digest: this.options.signatureDigest ?? 'sha256' });
  }

  private async checkIn(message: Record<string, PlistInput | undefined>): Promise<void> {
    const result = await this.sendCheckin(message);
    if (result.status !== 200 || result.body.length !== 0) {
      throw new DeviceHttpError('checkin', result.status, result.body, result.url);
    }
  }

  private async putSigned(
    phase: 'checkin' | 'command',
    url: string,
    contentType: string,
    message: Record<string, PlistInput | undefined>,
  ): Promise<HttpResult> {
    const body = buildPlist(message);
    const headers: Record<string, string> = { 'content-type': contentType, 'user-agent': 'MDM/1.0' };
    const signature = this.signatureOverride
      ? this.signatureOverride(body)
      : this.enrollment?.mdm.signMessage
        ? await this.signBodyOnPool(body)
        : undefined;
    if (signature !== undefined) headers['mdm-signature'] = signature;
    if (this.bearerToken) headers.authorization = `Bearer ${this.bearerToken}`;
    const result = await this.http.request(url, { method: 'PUT', headers, body });
    this.record(phase, 'PUT', result, body.length, message);
    return result;
  }

  private requireScep(): NonNullable<EnrollmentProfile['scep']> {
    const scep = this.requireProfile().scep;
    if (!scep) throw new DeviceSimulatorError('not-ready', 'the enrollment profile has no SCEP payload');
    return scep;
  }

  private requireProfile(): EnrollmentProfile {
    if (!this.enrollment) throw new DeviceSimulatorError('not-ready', 'no enrollment profile installed');
    return this.enrollment;
  }

  private async keyForScep(keySize: number, preferred: RsaKeyPair | undefined): Promise<RsaKeyPair> {
    const fits = (key: RsaKeyPair | undefined) => key?.privateKey.asymmetricKeyDetails?.modulusLength === keySize;
    if (fits(preferred)) return preferred as RsaKeyPair;
    const pool = this.options.keyPool;
    if (pool && pool.modulusLength === keySize) return pool.take();
    return generateRsaKeyPair(keySize);
  }

  private record(
    phase: ExchangePhase,
    method: string,
    result: HttpResult,
    requestBytes: number,
    request?: Record<string, PlistInput | undefined>,
  ): void {
    this.exchanges.push({
      at: new Date(),
      phase,
      method,
      url: result.url,
      status: result.status,
      durationMs: result.durationMs,
      requestBytes,
      request,
      responseBody: result.body,
    });
    const max = this.options.maxExchanges ?? 200;
    if (this.exchanges.length > max) this.exchanges.splice(0, this.exchanges.length - max);
  }
}
