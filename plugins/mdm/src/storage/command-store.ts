import { isDuplicateKeyError } from 'enrollment-gateway/sdk';
import { Types } from 'mongoose';
import { type CommandResultDoc, type FinalCommandState, finalResultId } from './command-results.js';
import { type CommandDoc, type CommandState, type MdmModels, PENDING_COMMAND_STATES } from './models.js';

/** A command as the queue hands it out: what the mirror keeps of it. */
export interface QueuedCommand {
  id: string;
  deviceId: string;
  seq: number;
  commandUuid: string;
  requestType: string;
  plistDeflated?: Buffer;
  plist?: Buffer;
  /** Deliveries so far (NotNow answers recorded, for a queue read back from the database). */
  deliveries: number;
  createdAt: Date;
}

/** One command of a device's history, with its derived state and latest answer. */
export interface CommandHistoryItem {
  id: string;
  commandUuid: string;
  requestType: string;
  origin: string;
  state: CommandState;
  createdAt: Date;
  sentAt?: Date;
  respondedAt?: Date;
  errorChain?: Record<string, unknown>[];
  raw?: Buffer;
  /** The command as sent (history pages only). */
  plistDeflated?: Buffer;
  plist?: Buffer;
}

/** lean() hands back BSON Binary for Buffer fields. */
export function toBuffer(value: Buffer | { buffer: Uint8Array }): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer);
}

const ENDED: readonly CommandState[] = ['acknowledged', 'error', 'format-error', 'cancelled'];

/**
 * The command queue's records in the database (mdm_commands, mdm_command_results). Every write is an insert:
 * a command is written once by its enqueuer; what became of it is an insert-only result (command-results.ts).
 * The poll path uses only `insertCommand`'s sibling `recordResult` (one unique insert); the reads here serve
 * the mirror's rebuild, the admin API, retirement and maintenance, never a poll that finds its mirror loaded.
 */
export class CommandStore {
  constructor(private readonly models: MdmModels) {}

  /** False when the device has a command with this CommandUUID already. */
  async insertCommand(doc: Omit<CommandDoc, '_id'> & { _id: Types.ObjectId }): Promise<boolean> {
    try {
      await this.models.commands.collection.insertOne(doc as never);
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  /** True for the insert that recorded this result; false when a result with that id exists already. */
  async recordResult(doc: CommandResultDoc): Promise<boolean> {
    try {
      await this.models.commandResults.collection.insertOne(doc as never);
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  async byUuid(deviceId: string, commandUuid: string): Promise<CommandDoc | null> {
    return this.models.commands.findOne({ deviceId, commandUuid }, { plist: 0, plistDeflated: 0 }).lean<CommandDoc>();
  }

  /** The device's commands that have not ended, oldest first, with their plists (the mirror's rebuild). */
  async pending(deviceId: string): Promise<QueuedCommand[]> {
    return (await this.queue(deviceId)).pending;
  }

  /** The pending commands, and the highest sequence number used for the device (0 when none), in one read. */
  async queue(deviceId: string): Promise<{ pending: QueuedCommand[]; maxSeq: number }> {
    const [commands, results] = await Promise.all([
      this.models.commands.find({ deviceId }).sort({ seq: 1 }).lean<CommandDoc[]>(),
      this.models.commandResults.find({ deviceId }, { raw: 0 }).lean<CommandResultDoc[]>(),
    ]);
    const ended = new Set(results.filter((r) => r.final).map((r) => String(r.commandId)));
    const answers = countBy(results.filter((r) => !r.final).map((r) => String(r.commandId)));
    const maxSeq = commands.reduce((max, c) => Math.max(max, c.seq), 0);
    const pending = commands
      .filter((c) => !ended.has(String(c._id)) && (!c.state || PENDING_COMMAND_STATES.includes(c.state)))
      .map((c) => ({
        id: String(c._id),
        deviceId,
        seq: c.seq,
        commandUuid: c.commandUuid,
        requestType: c.requestType,
        plistDeflated: c.plistDeflated && toBuffer(c.plistDeflated),
        plist: c.plist && toBuffer(c.plist),
        deliveries: Math.max(answers.get(String(c._id)) ?? 0, c.attempts ?? 0),
        createdAt: new Date(c.createdAt),
      }));
    return { pending, maxSeq };
  }

  /**
   * Ends these commands as cancelled, each by its one final record: a command the device answered meanwhile
   * keeps its answer. Returns the ids this call cancelled.
   */
  async cancel(commands: readonly Pick<QueuedCommand, 'id' | 'deviceId'>[]): Promise<string[]> {
    const cancelled: string[] = [];
    for (const command of commands) {
      const at = new Date();
      const first = await this.recordResult({
        _id: finalResultId(command.id),
        commandId: new Types.ObjectId(command.id),
        deviceId: command.deviceId,
        state: 'cancelled',
        final: true,
        at,
      });
      if (first) cancelled.push(command.id);
    }
    return cancelled;
  }

  /** A page of the device's history, newest first (by _id, as enqueued). */
  async history(deviceId: string, limit: number, before?: string): Promise<CommandHistoryItem[]> {
    const filter: Record<string, unknown> = { deviceId };
    if (before) filter._id = { $lt: new Types.ObjectId(before) };
    const docs = await this.models.commands.find(filter).sort({ _id: -1 }).limit(limit).lean<CommandDoc[]>();
    return this.withOutcomes(docs);
  }

  /** One command's history item, by the device and CommandUUID. */
  async outcome(deviceId: string, commandUuid: string): Promise<CommandHistoryItem | undefined> {
    const doc = await this.byUuid(deviceId, commandUuid);
    return doc ? (await this.withOutcomes([doc]))[0] : undefined;
  }

  /** One command (by CommandUUID) on each of these devices, with its state; devices without it are absent. */
  async onDevices(
    commandUuid: string,
    deviceIds: readonly string[],
  ): Promise<(CommandHistoryItem & { deviceId: string })[]> {
    const docs = await this.models.commands
      .find({ commandUuid, deviceId: { $in: [...deviceIds] } }, { plist: 0, plistDeflated: 0 })
      .lean<CommandDoc[]>();
    const items = await this.withOutcomes(docs);
    return items.map((item, i) => ({ ...item, deviceId: docs[i].deviceId }));
  }

  private async withOutcomes(docs: readonly CommandDoc[]): Promise<CommandHistoryItem[]> {
    if (docs.length === 0) return [];
    const results = await this.models.commandResults
      .find({ commandId: { $in: docs.map((d) => d._id) } })
      .lean<CommandResultDoc[]>();
    results.sort((a, b) => new Date(a.at).getTime() - new Date(b.at).getTime());
    const latest = new Map<string, CommandResultDoc>();
    const ending = new Map<string, CommandResultDoc>();
    for (const result of results) {
      const key = String(result.commandId);
      if (result.raw) latest.set(key, result);
      if (result.final) ending.set(key, result);
    }
    return docs.map((doc) => {
      const key = String(doc._id);
      const end = ending.get(key);
      const answer = latest.get(key);
      const state: CommandState =
        end?.state ?? (doc.state && doc.state !== 'queued' ? doc.state : answer ? 'not-now' : 'queued');
      return {
        id: key,
        commandUuid: doc.commandUuid,
        requestType: doc.requestType,
        origin: doc.origin,
        state,
        createdAt: doc.createdAt,
        sentAt: doc.sentAt,
        respondedAt: end?.at ?? doc.respondedAt,
        errorChain: end?.errorChain ?? doc.errorChain,
        raw: answer?.raw ? toBuffer(answer.raw) : doc.resultRaw && toBuffer(doc.resultRaw),
        plistDeflated: doc.plistDeflated && toBuffer(doc.plistDeflated),
        plist: doc.plist && toBuffer(doc.plist),
      };
    });
  }

  /** Devices with at least one command that has not ended (the wake sweep's candidates). */
  async devicesWithPending(): Promise<string[]> {
    const [commands, finals] = await Promise.all([
      this.models.commands.find({}, { _id: 1, deviceId: 1, state: 1 }).lean<CommandDoc[]>(),
      this.models.commandResults.find({ final: true }, { commandId: 1 }).lean<CommandResultDoc[]>(),
    ]);
    const ended = new Set(finals.map((f) => String(f.commandId)));
    const devices = new Set<string>();
    for (const c of commands)
      if (!ended.has(String(c._id)) && (!c.state || PENDING_COMMAND_STATES.includes(c.state))) devices.add(c.deviceId);
    return [...devices];
  }

  /** Deletes commands that ended before `cutoff`, with their results; returns how many commands went. */
  async prune(cutoff: Date): Promise<number> {
    const finals = await this.models.commandResults
      .find({ final: true, at: { $lt: cutoff } }, { commandId: 1 })
      .lean<CommandResultDoc[]>();
    const ids = finals.map((f) => f.commandId);
    const [current, legacy] = await Promise.all([
      ids.length > 0 ? this.models.commands.deleteMany({ _id: { $in: ids } }) : { deletedCount: 0 },
      this.models.commands.deleteMany({ state: { $in: ENDED }, respondedAt: { $lt: cutoff } }),
    ]);
    await this.models.commandResults.deleteMany({ at: { $lt: cutoff } });
    return current.deletedCount + legacy.deletedCount;
  }
}

function countBy(keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}

export type { FinalCommandState };
