import { randomUUID } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import {
  type DeviceCommandService,
  type EnqueueResult,
  type EventPublisher,
  ProblemError,
  type PushService,
  type QueuedCommandInput,
  ValidationProblem,
} from 'enrollment-gateway/sdk';
import { Types } from 'mongoose';
import type { Logger } from 'pino';
import {
  buildCommand,
  buildPlist,
  type CommandReport,
  enqueueIssues,
  isRegisteredRequestType,
  type MdmCommand,
  MdmCommandError,
  type PlistDict,
  parseCommandResult,
} from '../protocol/index.js';
import { type FinalCommandState, finalResultId, resultId } from '../storage/command-results.js';
import type { CommandHistoryItem, CommandStore, QueuedCommand } from '../storage/command-store.js';
import { type InventoryDoc, type InventoryKind, type InventoryStore, inventoryId } from '../storage/device-records.js';
import type { DeviceViews } from '../storage/device-views.js';
import { type CommandState, MANAGED_DEVICE_STATES } from '../storage/models.js';
import type { CommandMirror, MirroredCommand } from './command-mirror.js';
import { crashPoint } from './crash-points.js';
import { type BoundDevice, REPORTED_FIELDS, type ReportedDeviceInfo } from './device-binding-cache.js';

export { toBuffer } from '../storage/command-store.js';

const finalState: Record<Exclude<CommandReport['status'], 'Idle' | 'NotNow'>, FinalCommandState> = {
  Acknowledged: 'acknowledged',
  Error: 'error',
  CommandFormatError: 'format-error',
};

/**
 * Not yet ended: what a cancellation can still take back. The database does not know whether a device has fetched a
 * command (deliveries live in the Redis mirror), so a fetched but unanswered command counts as waiting; its late
 * answer finds the command ended as cancelled and is kept as an answer only.
 */
const WAITING_STATES: CommandState[] = ['queued', 'sent', 'not-now'];

/** The plist as it goes to the device. */
function plistOf(command: MirroredCommand): Buffer {
  return command.encoding === 'd' ? inflateRawSync(command.bytes) : command.bytes;
}

/** Where each stored self-description field comes from in a DeviceInformation answer's QueryResponses. */
const QUERY_KEYS = {
  model: 'Model',
  productName: 'ProductName',
  osVersion: 'OSVersion',
  buildVersion: 'BuildVersion',
  serialNumber: 'SerialNumber',
  deviceName: 'DeviceName',
} as const satisfies Record<keyof ReportedDeviceInfo, string>;

/** True when a DeviceInformation answer carries nothing new for the stored fields (checked before full parsing). */
function repeatsReported(result: PlistDict, reported: ReportedDeviceInfo): boolean {
  const answers = result.QueryResponses;
  if (typeof answers !== 'object' || answers === null || Array.isArray(answers) || answers instanceof Date)
    return false;
  return REPORTED_FIELDS.every((field) => {
    const value = (answers as PlistDict)[QUERY_KEYS[field]];
    return value === undefined || value === reported[field];
  });
}

/**
 * The durable per-device command queue and the poll/answer cycle of the command endpoint.
 *
 * A poll costs at most two database operations, both inserts addressed by _id: the answer's result record
 * (unique: the answer is recorded once) and its command.result event in the core outbox. The next command comes
 * from the device's mirror in Redis (command-mirror.ts), rebuilt from the database when Redis has lost it.
 * Order within a device is the per-device sequence number, not a clock. See docs/mdm.md, "Command queue".
 */
export class CommandService implements DeviceCommandService {
  /** Devices whose mirror could not be told of a change: forgotten (rebuilt) once Redis answers. */
  private readonly unmirrored = new Set<string>();

  constructor(
    private readonly store: CommandStore,
    private readonly mirror: CommandMirror,
    private readonly devices: Pick<DeviceViews, 'states'>,
    private readonly inventory: InventoryStore,
    private readonly events: EventPublisher,
    private readonly push: () => PushService | undefined,
    private readonly logger: Logger,
  ) {}

  /**
   * `options.build` is for mdm's own commands that the checks for other callers refuse: the enrollment profile
   * reinstalled for an identity renewal carries com.apple.mdm, which iOS accepts only as that replacement.
   */
  async enqueue(
    deviceIds: readonly string[],
    command: QueuedCommandInput,
    options: { build?: (commandUuid: string) => MdmCommand } = {},
  ): Promise<EnqueueResult[]> {
    if (!isRegisteredRequestType(command.requestType)) {
      throw new ValidationProblem(`unknown RequestType "${command.requestType}"`, [
        { path: 'requestType', message: 'unknown RequestType' },
      ]);
    }
    const ids = [...new Set(deviceIds)].filter((id) => Types.ObjectId.isValid(id));
    const devices = (await this.devices.states(ids))
      .filter((view) => MANAGED_DEVICE_STATES.includes(view.state))
      .map((view) => String(view.binding._id));
    const commandUuid = command.commandUuid ?? randomUUID().toUpperCase();
    let plistDeflated: Buffer;
    try {
      // One plist (and one CommandUUID) for every device of the call: deflated once.
      plistDeflated = deflateRawSync(
        buildPlist(
          options.build?.(commandUuid) ??
            buildCommand(command.requestType, (command.payload ?? {}) as never, commandUuid),
        ),
      );
    } catch (error) {
      if (error instanceof MdmCommandError) throw new ValidationProblem(error.message, enqueueIssues(error));
      throw error;
    }
    await this.retryUnmirrored();
    const now = new Date();
    const results: EnqueueResult[] = [];
    for (const deviceId of devices) {
      // The counter lives in Redis: unreachable, nothing is written. A device Redis knows nothing of (new, or
      // Redis lost its data) is read from the database once, here, off the poll path: counter and mirror.
      const seq = await this.mirror.nextSeq(deviceId, async () => {
        const { pending, maxSeq } = await this.store.queue(deviceId);
        await this.mirror.load(deviceId, pending);
        return maxSeq;
      });
      const _id = new Types.ObjectId();
      const queued: QueuedCommand = {
        id: String(_id),
        deviceId,
        seq,
        commandUuid,
        requestType: command.requestType,
        plistDeflated,
        deliveries: 0,
        createdAt: now,
      };
      const created = await this.store.insertCommand({
        _id,
        deviceId,
        commandUuid,
        requestType: command.requestType,
        plistDeflated,
        origin: command.origin,
        seq,
        createdAt: now,
      });
      if (created) await this.mirrorWrite(deviceId, () => this.mirror.add(queued));
      results.push({ deviceId, commandUuid, created });
    }
    const created = results.filter((r) => r.created).map((r) => r.deviceId);
    if (created.length > 0) await this.push()?.wake(created);
    return results;
  }

  /** Cancels what is pending for the device; `queuedBefore` keeps commands queued after it. */
  async clearQueue(deviceId: string, queuedBefore?: Date): Promise<number> {
    const pending = (await this.store.pending(deviceId)).filter((c) => !queuedBefore || c.createdAt <= queuedBefore);
    const cancelled = await this.store.cancel(pending);
    if (pending.length > 0)
      await this.mirrorWrite(deviceId, () =>
        this.mirror.drop(
          deviceId,
          pending.map((c) => c.id),
        ),
      );
    return cancelled.length;
  }

  /** One command's state and answer, by the device and CommandUUID. */
  outcome(deviceId: string, commandUuid: string): Promise<CommandHistoryItem | undefined> {
    return this.store.outcome(deviceId, commandUuid);
  }

  /** A page of the device's command history, newest first. */
  history(deviceId: string, limit: number, before?: string): Promise<CommandHistoryItem[]> {
    return this.store.history(deviceId, limit, before);
  }

  /** Where one command stands on each of these devices (bulk progress); devices without it are absent. */
  async commandStates(commandUuid: string, deviceIds: readonly string[]): Promise<Map<string, CommandState>> {
    const items = await this.store.onDevices(commandUuid, deviceIds);
    return new Map(items.map((item) => [item.deviceId, item.state]));
  }

  /** Cancels one command on the devices where it has not ended (bulk cancel); returns the devices cancelled now. */
  async cancelQueued(commandUuid: string, deviceIds: readonly string[]): Promise<string[]> {
    const waiting = (await this.store.onDevices(commandUuid, deviceIds)).filter((item) =>
      WAITING_STATES.includes(item.state),
    );
    // Only what this call ended counts: a device may have answered in between (its answer wins the final record).
    const cancelled = new Set(await this.store.cancel(waiting));
    const ended = waiting.filter((item) => cancelled.has(item.id));
    for (const item of ended) await this.mirrorWrite(item.deviceId, () => this.mirror.drop(item.deviceId, [item.id]));
    return ended.map((item) => item.deviceId);
  }

  async pendingCount(deviceId: string): Promise<number> {
    return (await this.store.pending(deviceId)).length;
  }

  /**
   * Devices with commands waiting, for the wake sweep: from the database, which knows every device (a mirror
   * exists only for devices used since Redis last lost its data).
   */
  devicesWithPending(): Promise<string[]> {
    return this.store.devicesWithPending();
  }

  /**
   * Records the device's answer (if any) and hands out the next command (undefined when none waits).
   * `reportedChanged` says the device's self-description in `device.reported` was updated and written.
   */
  async exchange(
    device: BoundDevice,
    report: CommandReport,
  ): Promise<{ command: Buffer | undefined; reportedChanged: boolean }> {
    await this.retryUnmirrored();
    let settle: { id: string; kind: 'final' | 'not-now' } | undefined;
    let reportedChanged = false;
    if (report.status !== 'Idle') {
      const answered = await this.resolve(device.id, report.commandUuid!);
      if (answered) {
        reportedChanged = await this.recordResult(device, report, answered);
        settle = { id: answered.id, kind: report.status === 'NotNow' ? 'not-now' : 'final' };
        await crashPoint('command:after-answer');
      }
    }
    // A device that said NotNow is busy: NotNow'd commands wait until it comes back with Idle.
    const idle = report.status === 'Idle';
    let next = await this.mirror.next(device.id, idle, settle);
    if (next === undefined) {
      await this.rebuild(device.id);
      next = await this.mirror.next(device.id, idle, settle);
    }
    return { command: next ? plistOf(next) : undefined, reportedChanged };
  }

  /** The command an answer names; undefined for a repeat of an answer to a command that has ended. */
  private async resolve(deviceId: string, commandUuid: string): Promise<MirroredCommand | undefined> {
    let found = await this.mirror.resolve(deviceId, commandUuid);
    if (found === undefined) {
      await this.rebuild(deviceId);
      found = await this.mirror.resolve(deviceId, commandUuid);
    }
    if (found) return found;
    // A device whose reply got lost sends the same answer again: take it as already recorded.
    if (await this.store.byUuid(deviceId, commandUuid)) return undefined;
    throw new ProblemError(400, 'Bad request', `no command ${commandUuid} was sent to this device`);
  }

  private async rebuild(deviceId: string): Promise<void> {
    await this.mirror.load(deviceId, await this.store.pending(deviceId));
  }

  /** A mirror write that failed is not retried in place: the device's mirror is forgotten and rebuilt. */
  private async mirrorWrite(deviceId: string, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.unmirrored.add(deviceId);
      this.logger.warn({ deviceId, err: { message: (error as Error).message } }, 'command mirror not updated');
    }
  }

  private async retryUnmirrored(): Promise<void> {
    for (const deviceId of [...this.unmirrored]) {
      await this.mirror.invalidate(deviceId);
      this.unmirrored.delete(deviceId);
    }
  }

  /**
   * One unique insert records the answer: "<id>:final" ends the command (whoever inserts it first: a doubled
   * answer or a redelivery finds it taken), "<id>:<delivery>" keeps a NotNow. Returns true when the answer
   * changed what the device says about itself (and that was written).
   */
  private async recordResult(device: BoundDevice, report: CommandReport, command: MirroredCommand): Promise<boolean> {
    const deviceId = device.id;
    const status = report.status as Exclude<CommandReport['status'], 'Idle'>;
    const answerId = status === 'NotNow' ? resultId(command.id, command.deliveries) : finalResultId(command.id);
    const first = await this.store.recordResult({
      _id: answerId,
      commandId: new Types.ObjectId(command.id),
      deviceId,
      state: status === 'NotNow' ? 'not-now' : finalState[status],
      ...(status === 'NotNow' ? {} : { final: true }),
      raw: report.raw,
      ...(report.errorChain ? { errorChain: report.errorChain.map((item) => ({ ...item })) } : {}),
      at: new Date(),
    });
    const reportedChanged =
      first && status === 'Acknowledged' && (await this.applyResult(device, command.requestType, report.result));
    // Keyed by the answer record: a copy that lost the race above records nothing new, and a repeat after a
    // crash between the two inserts records the event the first one could not.
    await this.events.emit(
      'command.result',
      {
        deviceId,
        udid: device.udid,
        commandUuid: report.commandUuid!,
        requestType: command.requestType,
        status,
        result: report.result as Record<string, unknown>,
      },
      { eventId: `command.result:${answerId}` },
    );
    return reportedChanged;
  }

  /**
   * Keeps the device record in step with what the device reports about itself. A DeviceInformation answer
   * that repeats what is stored writes nothing. Returns true when `device.reported` changed.
   */
  private async applyResult(device: BoundDevice, requestType: string, result: PlistDict): Promise<boolean> {
    if (!isRegisteredRequestType(requestType)) return false;
    let set: Partial<Pick<InventoryDoc, 'info' | 'managedApps' | 'installedProfiles'>> | undefined;
    let kind: InventoryKind | undefined;
    let info: ReportedDeviceInfo | undefined;
    try {
      if (requestType === 'DeviceInformation') {
        if (repeatsReported(result, device.reported)) return false;
        const answers = parseCommandResult('DeviceInformation', result);
        const changed = REPORTED_FIELDS.filter(
          (field) => answers[QUERY_KEYS[field]] !== undefined && answers[QUERY_KEYS[field]] !== device.reported[field],
        );
        if (changed.length === 0) return false;
        info = {
          ...device.reported,
          ...Object.fromEntries(changed.map((field) => [field, answers[QUERY_KEYS[field]]])),
        };
        kind = 'info';
        set = { info };
      } else if (requestType === 'ManagedApplicationList') {
        const apps = parseCommandResult('ManagedApplicationList', result);
        kind = 'apps';
        set = {
          managedApps: Object.entries(apps).map(([identifier, app]) => ({ identifier, status: String(app.Status) })),
        };
      } else if (requestType === 'ProfileList') {
        const profiles = parseCommandResult('ProfileList', result);
        kind = 'profiles';
        set = {
          installedProfiles: profiles.map((p) => ({
            identifier: p.PayloadIdentifier,
            displayName: p.PayloadDisplayName,
            uuid: p.PayloadUUID,
          })),
        };
      }
    } catch (error) {
      this.logger.warn(
        { deviceId: device.id, requestType, err: { message: (error as Error).message } },
        'result did not parse',
      );
      return false;
    }
    if (!set || !kind) return false;
    // The command-result role's own document per kind: replaced whole, never shared with another writer.
    await this.inventory.replace({
      _id: inventoryId(device.id, kind),
      deviceId: device.id,
      enrollmentId: device.enrollmentId,
      kind,
      ...set,
      at: new Date(),
    });
    if (!info) return false;
    device.reported = info;
    return true;
  }
}
