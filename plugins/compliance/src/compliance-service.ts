import {
  type DeviceRecord,
  type DeviceStatusItem,
  type DomainEvents,
  deviceCommandsRef,
  deviceDirectoryRef,
  type EnrollmentPayloadContributor,
  type PluginContext,
  stableUuid,
  VetoError,
} from 'enrollment-gateway/sdk';
import type { ComplianceConfig } from './config.js';
import { type CompliancePolicy, type Evaluation, evaluate, minimumFor, type OsFacts, statusItem } from './policy.js';
import type { DeviceFactsDoc, DeviceReports, DeviceRequests, PolicyStore } from './storage/compliance-records.js';
import { type CompliancePlatform, osVersionSchema, platformOf, versionKey } from './versions.js';

/**
 * The keys compliance needs from DeviceInformation; DeviceName names the device in the veto message,
 * Model and BuildVersion help admins read the device list (the mdm plugin keeps them on the record).
 */
export const COMPLIANCE_QUERIES = ['OSVersion', 'BuildVersion', 'ProductName', 'Model', 'DeviceName'] as const;

const REFRESH_BATCH = 500;

/** Keeps each device's reported OS and evaluates it against the minimum-version policy. */
export class ComplianceService {
  private readonly reports;

  constructor(
    private readonly records: DeviceRequests & DeviceReports,
    readonly policies: PolicyStore,
    private readonly ctx: PluginContext<ComplianceConfig>,
  ) {
    this.reports = ctx.metrics.counter('compliance_reports_total', 'OS version reports by evaluation', ['state']);
  }

  async onEnrolled(event: DomainEvents['device.enrolled'], eventId: string): Promise<void> {
    const known = await this.records.request(event.deviceId);
    // A repeat delivery of the same event must not wipe what the device reported since the first one.
    if (known?.enrolledBy !== eventId) {
      // A new enrollment starts with an empty command queue (nothing of ours is pending) and reports nothing yet.
      await this.records.forget(event.deviceId);
      await this.records.register(event.deviceId, event.udid, eventId);
    }
    if (this.ctx.config.queryOnEnrollment && (await this.hasMinimum())) {
      // The same CommandUUID on every delivery: mdm queues it once.
      await this.requestReports([event.deviceId], stableUuid(eventId, 'compliance DeviceInformation'));
    }
  }

  /** Without a minimum the plugin stays quiet: no commands to devices, no status lines. */
  private async hasMinimum(): Promise<boolean> {
    const { policy } = await this.policies.current();
    return Boolean(policy.minimumIosVersion ?? policy.minimumIpadosVersion);
  }

  /** Queues DeviceInformation (the devices are woken) and remembers when we asked. */
  async requestReports(deviceIds: readonly string[], commandUuid?: string): Promise<number> {
    if (deviceIds.length === 0) return 0;
    const results = await this.ctx.resolve(deviceCommandsRef).enqueue(deviceIds, {
      commandUuid,
      requestType: 'DeviceInformation',
      payload: { Queries: [...COMPLIANCE_QUERIES] },
      origin: 'compliance',
    });
    await this.records.asked(results, new Date());
    return results.length;
  }

  /** Every DeviceInformation answer that carries OSVersion updates the device, whoever asked for it. */
  async onCommandResult(event: DomainEvents['command.result']): Promise<void> {
    if (event.requestType !== 'DeviceInformation') return;
    // Answered (even with an error): the next refresh may ask again. NotNow stays queued in mdm.
    if (event.status !== 'NotNow') {
      const request = await this.records.request(event.deviceId);
      if (request?.pendingCommandUuid === event.commandUuid) {
        await this.records.recordAnswer(event.deviceId, event.commandUuid);
      }
    }
    if (event.status !== 'Acknowledged') return;
    const responses = event.result.QueryResponses as Record<string, unknown> | undefined;
    const reported = osVersionSchema.safeParse(responses?.OSVersion);
    if (!reported.success) return;
    const reportedName = typeof responses?.ProductName === 'string' ? responses.ProductName : undefined;
    const [known] = await this.records.reports([event.deviceId]);
    // Asked by someone else without ProductName: the directory knows it from Authenticate, as in factsFor.
    const productName =
      reportedName ??
      known?.productName ??
      (known?.platform ? undefined : (await this.ctx.resolve(deviceDirectoryRef).get(event.deviceId))?.productName);
    const platform = platformOf(productName) ?? known?.platform;
    await this.records.recordReport({
      _id: event.deviceId,
      udid: event.udid,
      osVersion: reported.data,
      osVersionKey: versionKey(reported.data),
      reportedAt: new Date(),
      ...(platform ? { platform } : {}),
      ...(productName ? { productName } : {}),
    });
    const { policy } = await this.policies.current();
    const evaluation = evaluate(policy, { platform, osVersion: reported.data });
    this.reports.inc({ state: evaluation.state });
    if (evaluation.state === 'not-compliant') {
      this.ctx.logger.info(
        { deviceId: event.deviceId, osVersion: reported.data, minimum: evaluation.minimum },
        'device is not compliant',
      );
    }
  }

  async forget(deviceId: string): Promise<void> {
    await this.records.forget(deviceId);
  }

  /** Our own record first; the device directory's OS fields for devices enrolled before this plugin ran. */
  private async factsFor(devices: readonly DeviceRecord[]): Promise<Map<string, OsFacts>> {
    const docs = await this.records.reports(devices.map((d) => d.id));
    const byId = new Map(docs.map((doc) => [doc._id, doc]));
    return new Map(
      devices.map((device) => {
        const doc = byId.get(device.id);
        const platform = doc?.platform ?? platformOf(device.productName);
        const osVersion = doc?.osVersion ?? (doc ? undefined : device.osVersion);
        return [device.id, { platform, osVersion, reportedAt: doc?.reportedAt }];
      }),
    );
  }

  async evaluateAll(devices: readonly DeviceRecord[]): Promise<Map<string, Evaluation>> {
    const [{ policy }, facts] = await Promise.all([this.policies.current(), this.factsFor(devices)]);
    return new Map(devices.map((device) => [device.id, evaluate(policy, facts.get(device.id) ?? {})]));
  }

  /** The deviceStatusItemsPoint contribution: one "Compliance" line per device a minimum applies to. */
  async statusFor(devices: readonly DeviceRecord[]): Promise<Record<string, DeviceStatusItem[]>> {
    const evaluations = await this.evaluateAll(devices);
    const items: Record<string, DeviceStatusItem[]> = {};
    for (const [deviceId, evaluation] of evaluations) {
      const item = statusItem(evaluation);
      if (item) items[deviceId] = [item];
    }
    return items;
  }

  async report(deviceId: string): Promise<(Evaluation & { deviceId: string; reportedAt?: Date }) | undefined> {
    const device = await this.ctx.resolve(deviceDirectoryRef).get(deviceId);
    if (!device) return undefined;
    const facts = (await this.factsFor([device])).get(device.id) ?? {};
    const { policy } = await this.policies.current();
    return { deviceId, ...evaluate(policy, facts), reportedAt: facts.reportedAt };
  }

  /** Devices whose last report is below the minimum of their platform, oldest OS first. */
  async nonCompliant(policy: CompliancePolicy, limit: number): Promise<DeviceFactsDoc[]> {
    const below = (['iOS', 'iPadOS'] as CompliancePlatform[]).flatMap((platform) => {
      const minimum = minimumFor(policy, platform);
      return minimum ? [{ platform, osVersionKey: versionKey(minimum) }] : [];
    });
    return this.records.below(below, limit);
  }

  /** Asks devices again whose last request is older than refreshHours, a batch at a time. */
  async refreshStale(now = new Date()): Promise<number> {
    const hours = this.ctx.config.refreshHours;
    if (hours === 0 || !(await this.hasMinimum())) return 0;
    const cutoff = new Date(now.getTime() - hours * 3_600_000);
    // A device that never answers would otherwise collect one DeviceInformation per refresh.
    const due = await this.records.due(cutoff, REFRESH_BATCH);
    return this.requestReports(due);
  }

  /** With blockEnrollmentWhenNonCompliant, a user with a device below the minimum cannot enroll another. */
  enrollmentVeto(plugin: string): EnrollmentPayloadContributor {
    return {
      payloads: async (request) => {
        const { policy } = await this.policies.current();
        if (!policy.blockEnrollmentWhenNonCompliant) return [];
        const devices = (await this.ctx.resolve(deviceDirectoryRef).listForUser(request.userId)).filter(
          (device) => device.state === 'enrolled',
        );
        const evaluations = await this.evaluateAll(devices);
        for (const device of devices) {
          const evaluation = evaluations.get(device.id);
          if (evaluation?.state !== 'not-compliant') continue;
          const name = device.deviceName ?? (evaluation.platform === 'iPadOS' ? 'iPad' : 'iPhone');
          throw new VetoError(
            plugin,
            `Your device “${name}” runs ${evaluation.platform} ${evaluation.osVersion}. ${evaluation.action} on it before you enroll another device.`,
          );
        }
        return [];
      },
    };
  }
}
