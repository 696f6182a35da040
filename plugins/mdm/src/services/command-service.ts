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
  isRegisteredRequestType,
  MdmCommandError,
  type PlistDict,
  parseCommandResult,
} from '../protocol/index.js';
import {
  type CommandDoc,
  type CommandState,
  type DeviceDoc,
  DUPLICATE_KEY,
  MANAGED_DEVICE_STATES,
  type MdmModels,
  PENDING_COMMAND_STATES,
  resultId,
} from '../storage/models.js';
import { type BoundDevice, REPORTED_FIELDS, type ReportedDeviceInfo } from './device-binding-cache.js';

const answeredState: Record<Exclude<CommandReport['status'], 'Idle'>, CommandState> = {
  Acknowledged: 'acknowledged',
  Error: 'error',
  CommandFormatError: 'format-error',
  NotNow: 'not-now',
};

/** lean() hands back BSON Binary for Buffer fields. */
export function toBuffer(value: Buffer | { buffer: Uint8Array }): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer);
}

/** The plist as it goes to the device. */
function storedPlist(command: Pick<CommandDoc, 'plist' | 'plistDeflated'>): Buffer {
  if (command.plistDeflated) return inflateRawSync(toBuffer(command.plistDeflated));
  if (command.plist) return toBuffer(command.plist);
  throw new Error('queued command has no plist');
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

let sequence = 0;
/** Per-device order: milliseconds plus a process counter, so one process's enqueues never tie. */
function nextSeq(): number {
  sequence = (sequence + 1) % 1000;
  return Date.now() * 1000 + sequence;
}

/** The durable per-device command queue in MongoDB, and the poll/answer cycle of the command endpoint. */
export class CommandService implements DeviceCommandService {
  constructor(
    private readonly models: MdmModels,
    private readonly events: EventPublisher,
    private readonly push: () => PushService | undefined,
    private readonly logger: Logger,
  ) {}

  async enqueue(deviceIds: readonly string[], command: QueuedCommandInput): Promise<EnqueueResult[]> {
    if (!isRegisteredRequestType(command.requestType)) {
      throw new ValidationProblem(`unknown RequestType "${command.requestType}"`);
    }
    const ids = [...new Set(deviceIds)].filter((id) => Types.ObjectId.isValid(id));
    const devices = await this.models.devices
      .find({ _id: { $in: ids }, state: { $in: MANAGED_DEVICE_STATES } }, { _id: 1 })
      .lean();
    const commandUuid = command.commandUuid ?? randomUUID().toUpperCase();
    let plistDeflated: Buffer;
    try {
      // One plist (and one CommandUUID) for every device of the call: deflated once.
      plistDeflated = deflateRawSync(
        buildPlist(buildCommand(command.requestType, (command.payload ?? {}) as never, commandUuid)),
      );
    } catch (error) {
      if (error instanceof MdmCommandError) throw new ValidationProblem(error.message);
      throw error;
    }
    const now = new Date();
    const results: EnqueueResult[] = [];
    for (const device of devices) {
      const deviceId = String(device._id);
      try {
        await this.models.commands.create({
          deviceId,
          commandUuid,
          requestType: command.requestType,
          plistDeflated,
          origin: command.origin,
          seq: nextSeq(),
          state: 'queued',
          createdAt: now,
        });
        results.push({ deviceId, commandUuid, created: true });
      } catch (error) {
        if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
        results.push({ deviceId, commandUuid, created: false });
      }
    }
    const created = results.filter((r) => r.created).map((r) => r.deviceId);
    if (created.length > 0) await this.push()?.wake(created);
    return results;
  }

  async clearQueue(deviceId: string): Promise<number> {
    const result = await this.models.commands.updateMany(
      { deviceId, state: { $in: PENDING_COMMAND_STATES } },
      { $set: { state: 'cancelled', respondedAt: new Date() } },
    );
    return result.modifiedCount;
  }

  async pendingCount(deviceId: string): Promise<number> {
    return this.models.commands.countDocuments({ deviceId, state: { $in: PENDING_COMMAND_STATES } });
  }

  /**
   * Records the device's answer (if any) and hands out the next command (undefined when none waits).
   * `reportedChanged` says the device's self-description in `device.reported` was updated and written.
   */
  async exchange(
    device: BoundDevice,
    report: CommandReport,
  ): Promise<{ command: Buffer | undefined; reportedChanged: boolean }> {
    const reportedChanged = report.status !== 'Idle' && (await this.recordResult(device, report));
    // A device that said NotNow is busy: NotNow'd commands wait until it comes back with Idle.
    const states: CommandState[] = report.status === 'Idle' ? ['queued', 'sent', 'not-now'] : ['queued', 'sent'];
    // The poll path goes to the driver directly: these filters and updates need no casting.
    const next = (await this.models.commands.collection.findOneAndUpdate(
      { deviceId: device.id, state: { $in: states } },
      { $set: { state: 'sent', sentAt: new Date() }, $inc: { attempts: 1 } },
      { sort: { seq: 1 } },
    )) as CommandDoc | null;
    return { command: next ? storedPlist(next) : undefined, reportedChanged };
  }

  /** Returns true when the answer changed what the device says about itself (and that was written). */
  private async recordResult(device: BoundDevice, report: CommandReport): Promise<boolean> {
    const deviceId = device.id;
    const status = report.status as Exclude<CommandReport['status'], 'Idle'>;
    const command = (await this.models.commands.collection.findOneAndUpdate(
      { deviceId, commandUuid: report.commandUuid, state: 'sent' },
      {
        $set: {
          state: answeredState[status],
          respondedAt: new Date(),
          ...(report.errorChain ? { errorChain: report.errorChain } : {}),
        },
      },
    )) as CommandDoc | null;
    if (!command) {
      // A device whose reply got lost sends the same answer again: take it as already recorded.
      const known = await this.models.commands.exists({ deviceId, commandUuid: report.commandUuid });
      if (known) return false;
      throw new ProblemError(400, 'Bad request', `no command ${report.commandUuid} was sent to this device`);
    }
    // One answer per delivery: of two copies of the same answer racing each other, the one that stores it
    // reports it (findAndModify alone decides that on MongoDB, not on FerretDB).
    try {
      await this.models.commandResults.collection.insertOne({
        _id: resultId(command._id, command.attempts) as never,
        commandId: command._id,
        deviceId,
        raw: report.raw,
        at: new Date(),
      });
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY) return false;
      throw error;
    }
    const reportedChanged =
      status === 'Acknowledged' && (await this.applyResult(device, command.requestType, report.result));
    await this.events.emit('command.result', {
      deviceId,
      udid: device.udid,
      commandUuid: report.commandUuid!,
      requestType: command.requestType,
      status,
      result: report.result as Record<string, unknown>,
    });
    return reportedChanged;
  }

  /**
   * Keeps the device record in step with what the device reports about itself. A DeviceInformation answer
   * that repeats what is stored writes nothing. Returns true when `device.reported` changed.
   */
  private async applyResult(device: BoundDevice, requestType: string, result: PlistDict): Promise<boolean> {
    if (!isRegisteredRequestType(requestType)) return false;
    let set: Partial<DeviceDoc> | undefined;
    try {
      if (requestType === 'DeviceInformation') {
        if (repeatsReported(result, device.reported)) return false;
        const info = parseCommandResult('DeviceInformation', result);
        const changed = REPORTED_FIELDS.filter(
          (field) => info[QUERY_KEYS[field]] !== undefined && info[QUERY_KEYS[field]] !== device.reported[field],
        );
        if (changed.length === 0) return false;
        set = Object.fromEntries(changed.map((field) => [field, info[QUERY_KEYS[field]]]));
      } else if (requestType === 'ManagedApplicationList') {
        const apps = parseCommandResult('ManagedApplicationList', result);
        set = {
          managedApps: Object.entries(apps).map(([identifier, app]) => ({ identifier, status: String(app.Status) })),
        };
      } else if (requestType === 'ProfileList') {
        const profiles = parseCommandResult('ProfileList', result);
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
    if (!set || Object.keys(set).length === 0) return false;
    await this.models.devices.updateOne({ _id: device.id }, { $set: set });
    if (requestType !== 'DeviceInformation') return false;
    device.reported = { ...device.reported, ...(set as ReportedDeviceInfo) };
    return true;
  }
}
