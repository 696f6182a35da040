import {
  type DeviceRecord,
  type DeviceStatusItem,
  type DomainEvents,
  declarativeManagementRef,
  deviceCommandsRef,
  deviceDirectoryRef,
  type EnrollmentPayloadContributor,
  type PluginContext,
  stableUuid,
  VetoError,
} from 'enrollment-gateway/sdk';
import type { ComplianceConfig } from './config.js';
import { DDM_OS_ITEMS, ddmFacts, latestFacts } from './ddm-status.js';
import { type CompliancePolicy, type Evaluation, evaluate, minimumFor, type OsFacts, statusItem } from './policy.js';
import type { DeviceFactsDoc, DeviceReports, DeviceRequests, PolicyStore } from './storage/compliance-records.js';
import type { DdmReports } from './storage/ddm-reports.js';
import { type CompliancePlatform, osVersionSchema, platformOf, versionKey } from './versions.js';

/**
 * The keys compliance needs from DeviceInformation; DeviceName names the device in the veto message,
 * Model and BuildVersion help admins read the device list (the mdm plugin keeps them on the record).
 */
export const COMPLIANCE_QUERIES = ['OSVersion', 'BuildVersion', 'ProductName', 'Model', 'DeviceName'] as const;

const REFRESH_BATCH = 500;
/** Declarative status subscriptions exist from iOS 15 on (as the ddm plugin sends the DeclarativeManagement command). */
const DDM_FROM = versionKey('15.0');

/** Keeps each device's reported OS and evaluates it against the minimum-version policy. */
export class ComplianceService {
  private readonly reports;

  constructor(
    private readonly records: DeviceRequests & DeviceReports,
    private readonly ddmRecords: DdmReports,
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
      // Declarative status of this enrollment may have arrived before this event: only older ones go.
      await this.ddmRecords.forgetDdm(event.deviceId, event.enrollmentId);
      await this.records.register(event.deviceId, event.udid, eventId);
    }
    // A device that reports by declarative status tells its OS version without being asked.
    if (this.ctx.config.queryOnEnrollment && (await this.hasMinimum()) && !(await this.expectsDdm(event.deviceId))) {
      // The same CommandUUID on every delivery: mdm queues it once.
      await this.requestReports([event.deviceId], stableUuid(eventId, 'compliance DeviceInformation'));
    }
  }

  /** The ddm plugin runs and the device's OS (from Authenticate) speaks DDM: its status will carry the OS. */
  private async expectsDdm(deviceId: string): Promise<boolean> {
    if (!this.ctx.tryResolve(declarativeManagementRef)) return false;
    const osVersion = (await this.ctx.resolve(deviceDirectoryRef).get(deviceId))?.osVersion;
    return osVersionSchema.safeParse(osVersion).success && versionKey(osVersion ?? '') >= DDM_FROM;
  }

  /**
   * A declarative status report changed the device's OS version or model: keeps what the device reports now
   * (read from the ddm plugin, so a late or repeated event stores the latest, not its own values).
   */
  async onDdmStatus(event: DomainEvents['ddm.statusChanged']): Promise<void> {
    if (!event.changes.some((c) => DDM_OS_ITEMS.includes(c.name))) return;
    const ddm = this.ctx.tryResolve(declarativeManagementRef);
    if (!ddm) return;
    const facts = ddmFacts(await ddm.status(event.deviceId));
    if (!facts.osVersion) return;
    const [known] = await this.records.reports([event.deviceId]);
    const platform = facts.platform ?? known?.platform;
    const productName = facts.productName ?? known?.productName;
    await this.ddmRecords.recordDdmReport({
      _id: event.deviceId,
      udid: event.udid,
      ...(event.enrollmentId ? { enrollmentId: event.enrollmentId } : {}),
      osVersion: facts.osVersion,
      osVersionKey: versionKey(facts.osVersion),
      reportedAt: new Date(),
      ...(platform ? { platform } : {}),
      ...(productName ? { productName } : {}),
    });
    await this.count(event.deviceId, platform, facts.osVersion);
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
    await this.count(event.deviceId, platform, reported.data);
  }

  private async count(deviceId: string, platform: CompliancePlatform | undefined, osVersion: string): Promise<void> {
    const { policy } = await this.policies.current();
    const evaluation = evaluate(policy, { platform, osVersion });
    this.reports.inc({ state: evaluation.state });
    if (evaluation.state === 'not-compliant') {
      this.ctx.logger.info({ deviceId, osVersion, minimum: evaluation.minimum }, 'device is not compliant');
    }
  }

  async forget(deviceId: string): Promise<void> {
    await Promise.all([this.records.forget(deviceId), this.ddmRecords.forgetDdm(deviceId)]);
  }

  /** Per device, the later of its command report and its declarative status report. */
  private async latest(deviceIds: readonly string[]): Promise<Map<string, DeviceFactsDoc>> {
    const [byCommand, byDdm] = await Promise.all([
      this.records.reports(deviceIds),
      this.ddmRecords.ddmReports(deviceIds),
    ]);
    return latestFacts(byCommand, byDdm);
  }

  /** Our own record first; the device directory's OS fields for devices enrolled before this plugin ran. */
  private async factsFor(devices: readonly DeviceRecord[]): Promise<Map<string, OsFacts>> {
    const byId = await this.latest(devices.map((d) => d.id));
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
    const [byCommand, byDdm] = await Promise.all([
      this.records.below(below, limit),
      this.ddmRecords.ddmBelow(below, limit),
    ]);
    // A device below by one channel may have reported a newer OS by the other.
    const latest = await this.latest([...new Set([...byCommand, ...byDdm].map((d) => d._id))]);
    return [...latest.values()]
      .filter((doc) => evaluate(policy, doc).state === 'not-compliant')
      .sort((a, b) => (a.osVersionKey ?? 0) - (b.osVersionKey ?? 0) || a._id.localeCompare(b._id))
      .slice(0, limit);
  }

  /** Asks devices again whose last request is older than refreshHours, a batch at a time. */
  async refreshStale(now = new Date()): Promise<number> {
    const hours = this.ctx.config.refreshHours;
    if (hours === 0 || !(await this.hasMinimum())) return 0;
    const cutoff = new Date(now.getTime() - hours * 3_600_000);
    // A device that never answers would otherwise collect one DeviceInformation per refresh.
    const due = await this.records.due(cutoff, REFRESH_BATCH);
    // Devices that report by declarative status tell every change themselves: not asked, and their turn moves on.
    const byDdm = new Set((await this.ddmRecords.ddmReports(due)).map((doc) => doc._id));
    await this.records.postpone([...byDdm], now);
    return this.requestReports(due.filter((id) => !byDdm.has(id)));
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
