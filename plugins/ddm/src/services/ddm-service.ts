import { createHash } from 'node:crypto';
import {
  type DeclarativeManagement,
  type DeclarativeStatusItem,
  type DeviceCheckinMessage,
  type DeviceCheckinReply,
  deviceCommandsRef,
  deviceDirectoryRef,
  NotFoundProblem,
  type PluginContext,
  ProblemError,
  type SoftwareUpdateStanding,
  stableUuid,
} from 'enrollment-gateway/sdk';
import { osUpdateFor } from '../builtin-declarations.js';
import type { DdmConfig } from '../config.js';
import {
  canonicalJson,
  type DeclarationSet,
  declarationItemsResponse,
  kindOf,
  parseEndpoint,
  syncTokensData,
  tokensResponse,
} from '../protocol/declarations.js';
import { mergeItem, parseStatusReport, StatusReportError } from '../protocol/status.js';
import { compareVersions } from '../settings.js';
import { type StatusItemDoc, type StatusItems, type SyncStates, statusItemId } from '../storage/ddm-records.js';
import type { DeclarationSets } from './declaration-sets.js';
import type { SetCache } from './set-cache.js';

const JSON_TYPE = 'application/json';
const json = (value: unknown): DeviceCheckinReply => ({
  body: Buffer.from(JSON.stringify(value)),
  contentType: JSON_TYPE,
});
/** DDM exists from iOS 15 on; older devices answer the command with an error. */
const supportsDdm = (osVersion: string | undefined) => !osVersion || compareVersions(osVersion, '15.0') >= 0;

/** The DDM server: the check-in endpoints, the status store and re-syncs. */
export class DdmService implements DeclarativeManagement {
  constructor(
    private readonly ctx: PluginContext<DdmConfig>,
    readonly sets: DeclarationSets,
    private readonly syncStates: SyncStates,
    private readonly statusItems: StatusItems,
    /** The sets devices sync against (computed once per sync, replaced by every re-sync). */
    private readonly syncedSets: SetCache,
    /** Queues the ddm-resync job (every device that ever synced is compared). */
    private readonly queueResync: () => Promise<void> = async () => undefined,
  ) {}

  /** A DeclarativeManagement check-in (mdm verified the device). */
  async handleCheckin(message: DeviceCheckinMessage): Promise<DeviceCheckinReply> {
    const endpoint = parseEndpoint(message.message.Endpoint);
    if (!endpoint) throw new ProblemError(400, 'Bad request', 'Endpoint is not a DDM endpoint');
    if (endpoint.kind === 'status') {
      await this.recordStatus(message);
      return {};
    }
    const { set } = await this.syncedSets.forSync(message.deviceId, message.enrollmentId);
    switch (endpoint.kind) {
      case 'tokens':
        return json(tokensResponse(set, new Date()));
      case 'declaration-items':
        await this.rememberServed(message, set);
        return json(declarationItemsResponse(set));
      default: {
        // The path names the kind ("configuration"), not the full type.
        const found = set.declarations.find(
          (d) => d.Identifier === endpoint.identifier && kindOf(d.Type) === endpoint.type,
        );
        // 404 tells the device the declaration is gone; never 401.
        if (!found) throw new NotFoundProblem('no such declaration for this device');
        return json(found);
      }
    }
  }

  /** Written only here, and only when the token moved: an unchanged sync writes nothing. */
  private async rememberServed(message: DeviceCheckinMessage, set: DeclarationSet): Promise<void> {
    const state = await this.syncStates.get(message.deviceId);
    if (state?.token === set.token && state.enrollmentId === message.enrollmentId) return;
    await this.syncStates.served({
      _id: message.deviceId,
      enrollmentId: message.enrollmentId,
      token: set.token,
      servedAt: new Date(),
    });
  }

  /**
   * Keeps the latest value per item. The event id is the report's digest: a report the device resends is the
   * same fact, and `apply` (the writes) runs again on a repeat, so a crash between record and write heals.
   */
  private async recordStatus(message: DeviceCheckinMessage): Promise<void> {
    let report: ReturnType<typeof parseStatusReport>;
    try {
      report = parseStatusReport(message.message.Data);
    } catch (error) {
      if (error instanceof StatusReportError) throw new ProblemError(400, 'Bad request', error.message);
      throw error;
    }
    const names = [...report.items.keys()];
    const stored = new Map((await this.statusItems.of(message.deviceId, names)).map((d) => [d.name, d]));
    const now = new Date();
    const changed: StatusItemDoc[] = [];
    for (const [name, value] of report.items) {
      const previous = stored.get(name);
      const merged = mergeItem(name, previous ? JSON.parse(previous.valueJson) : undefined, value, report.fullReport);
      const valueJson = canonicalJson(merged);
      if (previous?.valueJson === valueJson && previous.enrollmentId === message.enrollmentId) continue;
      changed.push({
        _id: statusItemId(message.deviceId, name),
        deviceId: message.deviceId,
        enrollmentId: message.enrollmentId,
        name,
        valueJson,
        reportedAt: now,
      });
    }
    this.ctx.metrics.counter('ddm_status_reports_total', 'DDM status reports received').inc();
    if (changed.length === 0) return;
    const digest = createHash('sha256').update(message.raw).digest('hex').slice(0, 32);
    await this.ctx.events.emit(
      'ddm.statusChanged',
      {
        deviceId: message.deviceId,
        udid: message.udid,
        enrollmentId: message.enrollmentId,
        changes: changed.map((d) => ({ name: d.name, valueJson: d.valueJson })),
      },
      { eventId: `ddm.status:${message.deviceId}:${digest}`, apply: () => this.statusItems.write(changed) },
    );
  }

  async status(deviceId: string): Promise<DeclarativeStatusItem[]> {
    const docs = await this.statusItems.of(deviceId);
    return docs.map((d) => ({ name: d.name, value: JSON.parse(d.valueJson) as unknown, reportedAt: d.reportedAt }));
  }

  async softwareUpdate(deviceId: string): Promise<SoftwareUpdateStanding | undefined> {
    const target = await this.sets.target(deviceId);
    if (!target) return undefined;
    const policy = osUpdateFor((await this.sets.settings.current()).value, target);
    if (!policy) return undefined;
    const items = new Map((await this.status(deviceId)).map((i) => [i.name, i.value]));
    const reported = items.get('device.operating-system.version');
    const osVersion = typeof reported === 'string' ? reported : target.osVersion;
    const standing = { targetOSVersion: policy.targetOSVersion, deadline: policy.deadline };
    if (osVersion && compareVersions(osVersion, policy.targetOSVersion) >= 0)
      return { ...standing, state: 'installed' };
    const state = items.get('softwareupdate.install-state');
    const inProgress = ['waiting', 'downloading', 'prepared', 'installing', 'failed'] as const;
    const found = inProgress.find((s) => s === state);
    return { ...standing, state: found ?? 'available' };
  }

  /**
   * Queues DeclarativeManagement (with the new tokens) for devices whose set differs from what they last fetched.
   * The CommandUUID names (device, last fetch, new token): asking twice queues once, and a later change after
   * the device fetched gets a new command.
   */
  async requestSync(deviceIds: readonly string[]): Promise<{ deviceId: string; queued: boolean }[]> {
    const results: { deviceId: string; queued: boolean }[] = [];
    for (const deviceId of deviceIds) {
      const { target, set } = await this.syncedSets.refresh(deviceId);
      const state = await this.syncStates.get(deviceId);
      const current = state?.enrollmentId === target?.enrollmentId ? state : undefined;
      if (!target || !supportsDdm(target.osVersion) || current?.token === set.token) {
        results.push({ deviceId, queued: false });
        continue;
      }
      const [queued] = await this.ctx.resolve(deviceCommandsRef).enqueue([deviceId], {
        commandUuid: stableUuid(
          'ddm-sync',
          deviceId,
          target.enrollmentId ?? '',
          current?.servedAt.toISOString() ?? 'never',
          set.token,
        ),
        requestType: 'DeclarativeManagement',
        payload: { Data: syncTokensData(set, new Date()) },
        origin: this.ctx.plugin.name,
      });
      results.push({ deviceId, queued: queued?.created === true });
    }
    return results;
  }

  /**
   * Whether a plugin should deliver its profile to the device by declaration: a managed device on iOS 15+ (or an OS
   * not known yet) that is synced on enrollment, or that already synced in its current enrollment.
   */
  async takesDeclarations(deviceId: string): Promise<boolean> {
    const target = await this.sets.target(deviceId);
    if (!target?.enrollmentId || !supportsDdm(target.osVersion)) return false;
    if (this.ctx.config.syncOnEnrollment) return true;
    return (await this.syncStates.get(deviceId))?.enrollmentId === target.enrollmentId;
  }

  async requestSyncAll(): Promise<void> {
    await this.syncedSets.dropAll();
    await this.queueResync();
  }

  /**
   * The user's groups changed (user.groupsChanged): their devices' sets may have (assignments by group). Each is
   * compared like any re-sync, so a change that moves no declaration queues nothing.
   */
  async resyncUser(userId: string): Promise<number> {
    const devices = await this.ctx.resolve(deviceDirectoryRef).listForUser(userId);
    const ids = devices.filter((d) => d.state === 'enrolled' || d.state === 'pending').map((d) => d.id);
    return (await this.requestSync(ids)).filter((r) => r.queued).length;
  }

  /** Compares every device that ever synced; `after` pages through them. */
  async resyncPage(after: string | undefined): Promise<{ next?: string; queued: number }> {
    const ids = await this.syncStates.page(after, this.ctx.config.resyncBatch);
    const results = await this.requestSync(ids);
    return {
      next: ids.length === this.ctx.config.resyncBatch ? ids.at(-1) : undefined,
      queued: results.filter((r) => r.queued).length,
    };
  }

  lastSync(deviceId: string) {
    return this.syncStates.get(deviceId);
  }

  /** The device left management: its sync state and status go (iOS removes the declarations with the profile). */
  async forget(deviceId: string): Promise<void> {
    // A late delivery must not erase what a new enrollment of the same device has reported since.
    const current = await this.sets.target(deviceId);
    await this.statusItems.forget(deviceId, current?.enrollmentId);
    await this.syncStates.forget(deviceId, current?.enrollmentId);
    await this.syncedSets.drop(deviceId);
  }
}
