import { randomUUID } from 'node:crypto';
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
} from '../storage/models.js';

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
    let plist: Buffer;
    try {
      plist = buildPlist(buildCommand(command.requestType, (command.payload ?? {}) as never, commandUuid));
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
          plist,
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

  /** Records the device's answer (if any) and hands out the next command, or undefined when none waits. */
  async exchange(device: DeviceDoc, report: CommandReport): Promise<Buffer | undefined> {
    const deviceId = String(device._id);
    if (report.status !== 'Idle') await this.recordResult(device, report);
    // A device that said NotNow is busy: NotNow'd commands wait until it comes back with Idle.
    const states: CommandState[] = report.status === 'Idle' ? ['queued', 'sent', 'not-now'] : ['queued', 'sent'];
    const next = await this.models.commands
      .findOneAndUpdate(
        { deviceId, state: { $in: states } },
        { $set: { state: 'sent', sentAt: new Date() }, $inc: { attempts: 1 } },
        { sort: { seq: 1 } },
      )
      .lean();
    return next ? toBuffer((next as CommandDoc).plist) : undefined;
  }

  private async recordResult(device: DeviceDoc, report: CommandReport): Promise<void> {
    const deviceId = String(device._id);
    const status = report.status as Exclude<CommandReport['status'], 'Idle'>;
    const command = await this.models.commands
      .findOneAndUpdate(
        { deviceId, commandUuid: report.commandUuid, state: 'sent' },
        {
          $set: {
            state: answeredState[status],
            respondedAt: new Date(),
            resultRaw: report.raw,
            ...(report.errorChain ? { errorChain: report.errorChain } : {}),
          },
        },
        {},
      )
      .lean();
    if (!command) {
      // A device whose reply got lost sends the same answer again: take it as already recorded.
      const known = await this.models.commands.exists({ deviceId, commandUuid: report.commandUuid });
      if (known) return;
      throw new ProblemError(400, 'Bad request', `no command ${report.commandUuid} was sent to this device`);
    }
    if (status === 'Acknowledged') await this.applyResult(device, command.requestType, report.result);
    await this.events.emit('command.result', {
      deviceId,
      udid: device.udid,
      commandUuid: report.commandUuid!,
      requestType: command.requestType,
      status,
      result: report.result as Record<string, unknown>,
    });
  }

  /** Keeps the device record in step with what the device reports about itself. */
  private async applyResult(device: DeviceDoc, requestType: string, result: PlistDict): Promise<void> {
    if (!isRegisteredRequestType(requestType)) return;
    let set: Partial<DeviceDoc> | undefined;
    try {
      if (requestType === 'DeviceInformation') {
        const info = parseCommandResult('DeviceInformation', result);
        set = Object.fromEntries(
          Object.entries({
            model: info.Model,
            productName: info.ProductName,
            osVersion: info.OSVersion,
            buildVersion: info.BuildVersion,
            serialNumber: info.SerialNumber,
            deviceName: info.DeviceName,
          }).filter(([, value]) => value !== undefined),
        );
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
        { deviceId: String(device._id), requestType, err: { message: (error as Error).message } },
        'result did not parse',
      );
      return;
    }
    if (set && Object.keys(set).length > 0) await this.models.devices.updateOne({ _id: device._id }, { $set: set });
  }
}
