import type {
  DeviceCommandService,
  DeviceDirectory,
  DeviceReadiness,
  DeviceReadinessService,
  DeviceReadinessState,
  DeviceReadinessStep,
  ManagedItem,
  ManagedItemSource,
} from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import { type JitDeviceDoc, type JitModels, STEP_ORDER, type StepName } from './models.js';
import type { SsoPolicyStore } from './policy-store.js';
import { AUTHENTICATOR_BUNDLE_ID, AUTHENTICATOR_STORE_ID } from './sso-policy.js';
import { buildSsoProfile } from './sso-profile.js';

const ORIGIN = 'jit-registration';
/** ManagementFlags bit 1: iOS removes the app when the MDM profile is removed. */
const REMOVE_WITH_MDM_PROFILE = 1;

export type ReadinessCheck = 'ready' | 'waiting' | 'gone';

/** Puts Authenticator and the SSO profile on enrolled devices and tracks when they are ready for registration. */
export class RegistrationService implements DeviceReadinessService, ManagedItemSource {
  constructor(
    private readonly models: JitModels,
    private readonly policies: SsoPolicyStore,
    private readonly commands: () => DeviceCommandService,
    private readonly directory: () => DeviceDirectory,
    private readonly profile: { identifierBase: string; organization: string },
    private readonly logger: Logger,
  ) {}

  async get(deviceId: string): Promise<DeviceReadiness | undefined> {
    const doc = await this.models.devices.findById(deviceId).lean<JitDeviceDoc>();
    return doc ? toReadiness(doc) : undefined;
  }

  /**
   * What unenrollment must remove: the app and the profile this plugin queued for the device, unless the device
   * refused to install them.
   */
  async installedOn(deviceId: string): Promise<ManagedItem[]> {
    const doc = await this.models.devices.findById(deviceId).lean<JitDeviceDoc>();
    if (!doc) return [];
    const items: ManagedItem[] = [];
    if (doc.steps['install-app'] && doc.steps['install-app'].state !== 'failed') {
      items.push({ kind: 'application', identifier: doc.appBundleId, displayName: 'Microsoft Authenticator' });
    }
    if (doc.steps['install-sso-profile'] && doc.steps['install-sso-profile'].state !== 'failed') {
      items.push({ kind: 'profile', identifier: doc.profileIdentifier, displayName: 'Microsoft Enterprise SSO' });
    }
    return items;
  }

  /** Called on device.enrolled: queues the app and the profile, and records both (again, on re-enrollment). */
  async start(deviceId: string): Promise<void> {
    const { value: policy } = await this.policies.current();
    const profile = buildSsoProfile(policy, this.profile);
    const now = new Date();
    await this.models.devices.updateOne(
      { _id: deviceId },
      {
        $set: {
          appBundleId: AUTHENTICATOR_BUNDLE_ID,
          appStoreId: AUTHENTICATOR_STORE_ID,
          profileIdentifier: profile.identifier,
          state: 'pending',
          steps: {},
        },
        $unset: { pendingListUuid: '' },
      },
      { upsert: true },
    );
    const commands = this.commands();
    const [app] = await commands.enqueue([deviceId], {
      requestType: 'InstallApplication',
      payload: { iTunesStoreID: AUTHENTICATOR_STORE_ID, ManagementFlags: REMOVE_WITH_MDM_PROFILE },
      origin: ORIGIN,
    });
    const [sso] = await commands.enqueue([deviceId], {
      requestType: 'InstallProfile',
      payload: { Payload: profile.bytes },
      origin: ORIGIN,
    });
    if (!app || !sso) {
      await this.setState(deviceId, 'needs-attention');
      this.logger.warn({ deviceId }, 'device is not managed; nothing queued');
      return;
    }
    await this.setStep(deviceId, 'install-app', { state: 'queued', commandUuid: app.commandUuid, updatedAt: now });
    await this.setStep(deviceId, 'install-sso-profile', {
      state: 'queued',
      commandUuid: sso.commandUuid,
      updatedAt: now,
    });
  }

  /** Follows the device's answers: the install commands' outcome, and any ManagedApplicationList. */
  async onCommandResult(event: {
    deviceId: string;
    commandUuid: string;
    requestType: string;
    status: string;
    result: Record<string, unknown>;
  }): Promise<void> {
    const doc = await this.models.devices.findById(event.deviceId).lean<JitDeviceDoc>();
    if (!doc) return;
    const now = new Date();
    const failed = event.status === 'Error' || event.status === 'CommandFormatError';
    for (const name of ['install-app', 'install-sso-profile'] as const) {
      if (doc.steps[name]?.commandUuid !== event.commandUuid) continue;
      if (event.status === 'NotNow') return;
      await this.setStep(event.deviceId, name, {
        state: failed ? 'failed' : name === 'install-sso-profile' ? 'done' : 'acknowledged',
        commandUuid: event.commandUuid,
        detail: failed ? `device answered ${event.status}` : undefined,
        updatedAt: now,
      });
      if (failed) await this.setState(event.deviceId, 'needs-attention');
      else if (name === 'install-app') await this.setState(event.deviceId, 'installing', ['pending']);
      return;
    }
    if (event.requestType !== 'ManagedApplicationList' || event.status !== 'Acknowledged') return;
    if (doc.pendingListUuid === event.commandUuid) {
      await this.models.devices.updateOne(
        { _id: event.deviceId, pendingListUuid: event.commandUuid },
        { $unset: { pendingListUuid: '' } },
      );
    }
    const list = event.result.ManagedApplicationList as Record<string, { Status?: unknown }> | undefined;
    const status = list?.[doc.appBundleId]?.Status;
    if (typeof status === 'string') await this.recordAppStatus(event.deviceId, status, event.commandUuid);
  }

  /**
   * One readiness attempt: ready when the device record shows Authenticator managed; otherwise asks the device
   * for its managed apps (unless that question is still unanswered) and reports 'waiting'.
   */
  async check(deviceId: string, lastAttempt: boolean): Promise<ReadinessCheck> {
    const doc = await this.models.devices.findById(deviceId).lean<JitDeviceDoc>();
    if (!doc) return 'gone';
    if (doc.state === 'ready') return 'ready';
    const device = await this.directory().get(deviceId);
    if (device?.state !== 'enrolled') return 'gone';
    const app = device.managedApps.find((a) => a.identifier === doc.appBundleId);
    if (app?.status) await this.recordAppStatus(deviceId, app.status);
    if (app?.status === 'Managed') return 'ready';
    if (lastAttempt) {
      await this.setStep(deviceId, 'confirm-app', {
        state: 'failed',
        detail: app?.status ? `app still ${app.status}` : 'device never reported the app',
        updatedAt: new Date(),
      });
      await this.setState(deviceId, 'needs-attention', ['pending', 'installing']);
      return 'waiting';
    }
    if (!doc.pendingListUuid) {
      const [queued] = await this.commands().enqueue([deviceId], {
        requestType: 'ManagedApplicationList',
        payload: { Identifiers: [doc.appBundleId] },
        origin: ORIGIN,
      });
      if (queued) {
        await this.models.devices.updateOne({ _id: deviceId }, { $set: { pendingListUuid: queued.commandUuid } });
      }
    }
    return 'waiting';
  }

  private async recordAppStatus(deviceId: string, status: string, commandUuid?: string): Promise<void> {
    const managed = status === 'Managed';
    await this.setStep(deviceId, 'confirm-app', {
      state: managed ? 'done' : 'queued',
      commandUuid,
      detail: `Authenticator ${status}`,
      updatedAt: new Date(),
    });
    if (managed) {
      await this.setStep(deviceId, 'install-app', { state: 'done', updatedAt: new Date() }, true);
      await this.setState(deviceId, 'ready');
    } else {
      await this.setState(deviceId, 'installing', ['pending']);
    }
  }

  private async setStep(
    deviceId: string,
    name: StepName,
    step: Omit<DeviceReadinessStep, 'name'>,
    merge = false,
  ): Promise<void> {
    const fields = Object.fromEntries(Object.entries(step).filter(([, v]) => v !== undefined));
    const set = merge
      ? Object.fromEntries(Object.entries(fields).map(([k, v]) => [`steps.${name}.${k}`, v]))
      : { [`steps.${name}`]: fields };
    await this.models.devices.updateOne({ _id: deviceId }, { $set: set });
  }

  private async setState(deviceId: string, state: DeviceReadinessState, onlyFrom?: DeviceReadinessState[]) {
    const filter = onlyFrom ? { _id: deviceId, state: { $in: onlyFrom } } : { _id: deviceId };
    await this.models.devices.updateOne(filter, { $set: { state } });
  }
}

export function toReadiness(doc: JitDeviceDoc): DeviceReadiness {
  const steps: DeviceReadinessStep[] = [];
  for (const name of STEP_ORDER) {
    const step = doc.steps?.[name];
    if (step) steps.push({ name, ...step });
  }
  return { deviceId: doc._id, state: doc.state, steps, updatedAt: doc.updatedAt };
}
