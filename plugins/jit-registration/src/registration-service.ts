import type {
  DeclarativeManagement,
  DeviceCommandService,
  DeviceDirectory,
  DeviceReadiness,
  DeviceReadinessService,
  DeviceReadinessStep,
  ManagedItem,
  ManagedItemSource,
} from 'enrollment-gateway/sdk';
import { DECLARATIONS_STATUS_ITEM, declarationOutcome, stableUuid } from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import { APP_STATUS_ITEMS, appStateIn, appStatusFrom } from './ddm-apps.js';
import { SSO_DECLARATION_IDENTIFIER } from './ddm-sso.js';
import { AUTHENTICATOR_BUNDLE_ID, AUTHENTICATOR_STORE_ID } from './sso-policy.js';
import { buildSsoProfile } from './sso-profile.js';
import {
  type JitDevice,
  type JitDeviceStorage,
  STEP_ORDER,
  type StepName,
  type StepRecord,
} from './storage/jit-devices.js';
import type { SsoPolicyStore } from './storage/sso-policy-store.js';

const ORIGIN = 'jit-registration';
/** ManagementFlags bit 1: iOS removes the app when the MDM profile is removed. */
const REMOVE_WITH_MDM_PROFILE = 1;

/**
 * ready: Authenticator is managed; waiting: ask again later; failed: the device refused an install (the outcome is
 * known, asking again changes nothing); superseded: the device enrolled again and a newer run checks it; gone: the
 * device is no longer managed.
 */
export type ReadinessCheck = 'ready' | 'waiting' | 'failed' | 'superseded' | 'gone';

/** Puts Authenticator and the SSO profile on enrolled devices and tracks when they are ready for registration. */
export class RegistrationService implements DeviceReadinessService, ManagedItemSource {
  constructor(
    private readonly devices: JitDeviceStorage,
    private readonly policies: SsoPolicyStore,
    private readonly commands: () => DeviceCommandService,
    private readonly directory: () => DeviceDirectory,
    private readonly profile: { identifierBase: string; organization: string },
    private readonly logger: Logger,
    /** The ddm plugin's status, when it runs: devices that report their apps by declarative status. */
    private readonly ddm: () => DeclarativeManagement | undefined = () => undefined,
  ) {}

  async get(deviceId: string): Promise<DeviceReadiness | undefined> {
    const doc = await this.devices.get(deviceId);
    return doc ? toReadiness(doc) : undefined;
  }

  /**
   * What unenrollment must remove: the app and the profile this plugin queued for the device, unless the device
   * refused to install them (or a declaration installed the profile).
   */
  async installedOn(deviceId: string): Promise<ManagedItem[]> {
    const doc = await this.devices.get(deviceId);
    if (!doc) return [];
    const items: ManagedItem[] = [];
    if (doc.steps['install-app'] && doc.steps['install-app'].state !== 'failed') {
      items.push({ kind: 'application', identifier: doc.appBundleId, displayName: 'Microsoft Authenticator' });
    }
    // A profile a declaration installed leaves with the declarations (iOS removes them with management).
    const sso = doc.steps['install-sso-profile'];
    if (doc.profileDelivery === 'command' && sso && sso.state !== 'failed') {
      items.push({ kind: 'profile', identifier: doc.profileIdentifier, displayName: 'Microsoft Enterprise SSO' });
    }
    return items;
  }

  /**
   * Starts the registration `eventId` (a device.enrolled) asks for; a repeat of that event changes nothing; returns
   * the run. The SSO profile goes by InstallProfile, or, to a device that takes declarations, by a legacy declaration
   * (legacyProfileFor): decided once per run and stored with it, so a device never gets both.
   */
  async start(deviceId: string, eventId: string): Promise<string> {
    const { value: policy } = await this.policies.current();
    const profile = buildSsoProfile(policy, this.profile);
    const now = new Date();
    // The run is named by the event: a repeat delivery finds it begun, and its steps are recorded once.
    const runId = stableUuid(eventId, 'jit registration run');
    const byDeclaration = (await this.ddm()?.takesDeclarations?.(deviceId)) === true;
    await this.devices.begin(deviceId, runId, {
      appBundleId: AUTHENTICATOR_BUNDLE_ID,
      appStoreId: AUTHENTICATOR_STORE_ID,
      profileIdentifier: profile.identifier,
      profileDelivery: byDeclaration ? 'declaration' : 'command',
    });
    // A repeat delivery follows the decision the run stored, whatever the answer is now.
    const delivery = (await this.devices.get(deviceId))?.profileDelivery ?? 'command';
    const commands = this.commands();
    // CommandUUIDs derived from the event: a repeat delivery queues nothing twice.
    const [app] = await commands.enqueue([deviceId], {
      commandUuid: stableUuid(eventId, 'jit InstallApplication'),
      requestType: 'InstallApplication',
      payload: { iTunesStoreID: AUTHENTICATOR_STORE_ID, ManagementFlags: REMOVE_WITH_MDM_PROFILE },
      origin: ORIGIN,
    });
    const [sso] =
      delivery === 'command'
        ? await commands.enqueue([deviceId], {
            commandUuid: stableUuid(eventId, 'jit InstallProfile'),
            requestType: 'InstallProfile',
            payload: { Payload: profile.bytes },
            origin: ORIGIN,
          })
        : [undefined];
    if (!app || (delivery === 'command' && !sso)) {
      await this.devices.observe(deviceId, runId, { kind: 'not-managed' }, 'not-managed');
      this.logger.warn({ deviceId }, 'device is not managed; nothing queued');
      return runId;
    }
    const queued = { state: 'queued', updatedAt: now } as const;
    await this.setStep(deviceId, runId, 'install-app', { ...queued, commandUuid: app.commandUuid }, 'queued-app');
    const ssoStep = sso ? { ...queued, commandUuid: sso.commandUuid } : { ...queued, detail: 'by declaration' };
    await this.setStep(deviceId, runId, 'install-sso-profile', ssoStep, 'queued-sso');
    // The device may have synced before this run began (ddm's own device.enrolled handler runs beside this one):
    // a set that now holds the profile is sent again; an unchanged one queues nothing.
    if (delivery === 'declaration') await this.ddm()?.requestSync([deviceId]);
    return runId;
  }

  /**
   * The SSO profile for a device whose run delivers it by declaration (legacyProfilesPoint): built from the policy
   * in force, so a policy change reaches the device with its next sync. Undefined for every other device.
   */
  async legacyProfileFor(deviceId: string): Promise<Buffer | undefined> {
    const doc = await this.devices.get(deviceId);
    if (doc?.profileDelivery !== 'declaration') return undefined;
    const { value: policy } = await this.policies.current();
    return buildSsoProfile(policy, this.profile).bytes;
  }

  /** Follows the device's answers: the install commands' outcome, and any ManagedApplicationList. */
  async onCommandResult(event: {
    deviceId: string;
    commandUuid: string;
    requestType: string;
    status: string;
    result: Record<string, unknown>;
  }): Promise<void> {
    const doc = await this.devices.get(event.deviceId);
    if (!doc) return;
    const now = new Date();
    const failed = event.status === 'Error' || event.status === 'CommandFormatError';
    for (const name of ['install-app', 'install-sso-profile'] as const) {
      if (doc.steps[name]?.commandUuid !== event.commandUuid) continue;
      if (event.status === 'NotNow') return;
      const state = failed ? 'failed' : name === 'install-sso-profile' ? 'done' : 'acknowledged';
      const record = { state, commandUuid: event.commandUuid, updatedAt: now } as const;
      await this.setStep(
        event.deviceId,
        doc.runId,
        name,
        failed ? { ...record, detail: `device answered ${event.status}` } : record,
        `${name}:${event.commandUuid}`,
      );
      return;
    }
    if (event.requestType !== 'ManagedApplicationList' || event.status !== 'Acknowledged') return;
    if (doc.pendingListUuid === event.commandUuid) {
      await this.devices.observe(
        event.deviceId,
        doc.runId,
        { kind: 'list-answered', commandUuid: event.commandUuid },
        `list-answered:${event.commandUuid}`,
      );
    }
    const list = event.result.ManagedApplicationList as Record<string, { Status?: unknown }> | undefined;
    const status = list?.[doc.appBundleId]?.Status;
    if (typeof status === 'string') await this.recordAppStatus(doc, status, event.commandUuid);
  }

  /**
   * One readiness attempt: ready when the device record shows Authenticator managed; otherwise asks the device
   * for its managed apps (unless that question is still unanswered) and reports 'waiting'.
   */
  async check(deviceId: string, lastAttempt: boolean, runId?: string): Promise<ReadinessCheck> {
    const doc = await this.devices.get(deviceId);
    if (!doc) return 'gone';
    if (runId !== undefined && doc.runId !== runId) return 'superseded';
    if (doc.state === 'ready') return 'ready';
    if (doc.state === 'needs-attention') return 'failed';
    const device = await this.directory().get(deviceId);
    if (device?.state !== 'enrolled') return 'gone';
    const app = device.managedApps.find((a) => a.identifier === doc.appBundleId);
    if (app?.status) await this.recordAppStatus(doc, app.status);
    if (app?.status === 'Managed') return 'ready';
    const byStatus = await this.statusOfApp(deviceId, doc.appBundleId);
    if (byStatus.status) await this.recordAppStatus(doc, byStatus.status);
    if (byStatus.status === 'Managed') return 'ready';
    if (lastAttempt) {
      await this.setStep(deviceId, doc.runId, 'confirm-app', {
        state: 'failed',
        detail: app?.status ? `app still ${app.status}` : 'device never reported the app',
        updatedAt: new Date(),
      });
      return 'waiting';
    }
    // A device that reports its apps by declarative status tells the change itself: no ManagedApplicationList.
    if (!doc.pendingListUuid && !byStatus.reports) {
      const [queued] = await this.commands().enqueue([deviceId], {
        requestType: 'ManagedApplicationList',
        payload: { Identifiers: [doc.appBundleId] },
        origin: ORIGIN,
      });
      if (queued) {
        await this.devices.observe(
          deviceId,
          doc.runId,
          { kind: 'list-asked', commandUuid: queued.commandUuid },
          `list-asked:${queued.commandUuid}`,
        );
      }
    }
    return 'waiting';
  }

  /**
   * A declarative status report changed the device's app lists or its declarations (ddm.statusChanged): the app's
   * state, and the SSO declaration's outcome, are recorded as observations of the run, as a ManagedApplicationList
   * or InstallProfile answer is, under the event's id (a redelivery adds none).
   */
  async onDdmStatus(event: { deviceId: string; changes: { name: string; valueJson: string }[] }, eventId: string) {
    const lists = event.changes.filter((c) => (APP_STATUS_ITEMS as readonly string[]).includes(c.name));
    const declarations = event.changes.find((c) => c.name === DECLARATIONS_STATUS_ITEM);
    if (lists.length === 0 && !declarations) return;
    const doc = await this.devices.get(event.deviceId);
    if (!doc) return;
    // The SSO step follows its declaration even once the device is ready (a new policy the device refuses).
    if (declarations) await this.recordSsoDeclaration(doc, declarations.valueJson, eventId);
    if (doc.state === 'ready' || doc.state === 'needs-attention') return;
    const states = lists.map((c) => appStateIn(JSON.parse(c.valueJson) as unknown, doc.appBundleId));
    const status = states.find((s) => s === 'Managed') ?? states.find((s) => s !== undefined);
    if (status) await this.recordAppStatus(doc, status, undefined, `ddm:${eventId}`);
  }

  /** The SSO declaration's status as the install step, for a run that delivers the profile by declaration. */
  private async recordSsoDeclaration(doc: JitDevice & { runId: string }, valueJson: string, eventId: string) {
    if (doc.profileDelivery !== 'declaration') return;
    const outcome = declarationOutcome(JSON.parse(valueJson) as unknown, SSO_DECLARATION_IDENTIFIER);
    const current = doc.steps['install-sso-profile'];
    if (!outcome || (current?.state === outcome.state && current.detail === outcome.detail)) return;
    const record = { ...outcome, updatedAt: new Date() };
    await this.setStep(doc.deviceId, doc.runId, 'install-sso-profile', record, `ddm:${eventId}:sso`);
  }

  /** The app as the device's latest declarative status has it (nothing without the ddm plugin). */
  private async statusOfApp(deviceId: string, bundleId: string): Promise<{ reports: boolean; status?: string }> {
    const ddm = this.ddm();
    return ddm ? appStatusFrom(await ddm.status(deviceId), bundleId) : { reports: false };
  }

  private async recordAppStatus(
    doc: JitDevice & { runId: string },
    status: string,
    commandUuid?: string,
    key?: string,
  ) {
    const managed = status === 'Managed';
    const now = new Date();
    const confirm: StepRecord = {
      state: managed ? 'done' : 'queued',
      commandUuid,
      detail: `Authenticator ${status}`,
      updatedAt: now,
    };
    await this.setStep(doc.deviceId, doc.runId, 'confirm-app', confirm, key && `${key}:confirm-app`);
    if (managed) {
      const done = { state: 'done', updatedAt: now } as const;
      await this.setStep(doc.deviceId, doc.runId, 'install-app', done, key && `${key}:install-app`);
    }
  }

  /** Records a step's new state (merged over what the step had: the readiness is folded when read). */
  private async setStep(deviceId: string, runId: string, step: StepName, record: StepRecord, key?: string) {
    await this.devices.observe(deviceId, runId, { kind: 'step', step, record }, key);
  }
}

export function toReadiness(doc: JitDevice): DeviceReadiness {
  const steps: DeviceReadinessStep[] = [];
  for (const name of STEP_ORDER) {
    const step = doc.steps?.[name];
    if (step) steps.push({ name, ...step });
  }
  return { deviceId: doc.deviceId, state: doc.state, steps, updatedAt: doc.updatedAt };
}
