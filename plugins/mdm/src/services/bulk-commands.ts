import { randomUUID } from 'node:crypto';
import { type QueuedCommandInput, type UserDirectory, ValidationProblem } from 'enrollment-gateway/sdk';
import type {
  BulkOperationDoc,
  BulkOperationStorage,
  BulkOutcome,
  BulkTargetSummary,
} from '../storage/bulk-operations.js';
import type { DeviceViews } from '../storage/device-views.js';
import type { CommandState } from '../storage/models.js';
import type { CommandService } from './command-service.js';
import { toDeviceRecord } from './directory.js';

/** Most devices one bulk request reaches (the request answers with every device's outcome). */
export const MAX_BULK_DEVICES = 10_000;
/** Devices per enqueue call: outcomes become visible chunk by chunk while a large operation runs. */
const CHUNK = 250;

/** Which devices: a list of ids, a device-list filter, or the devices of a user group's members. */
export type BulkTarget =
  | { deviceIds: string[] }
  | { filter: { predicate: (device: ReturnType<typeof toDeviceRecord>) => boolean; userId?: string; given: object } }
  | { group: string };

export interface BulkActor {
  id: string;
  displayName: string;
}

export interface BulkRun {
  operation: BulkOperationDoc;
  outcomes: { deviceId: string; outcome: BulkOutcome }[];
}

export interface BulkProgress {
  operation: BulkOperationDoc;
  /** Per-device outcomes of the request, counted. */
  outcomes: Partial<Record<BulkOutcome, number>>;
  /** Where the command stands on the devices it was queued for (enqueue operations). */
  commands: Partial<Record<CommandState, number>>;
  /** Every device has an outcome and no command waits or is out on a device. */
  finished: boolean;
  devices: { deviceId: string; outcome: BulkOutcome; state?: CommandState }[];
}

const count = <K extends string>(keys: readonly K[]) => {
  const out: Partial<Record<K, number>> = {};
  for (const key of keys) out[key] = (out[key] ?? 0) + 1;
  return out;
};

const targetIssue = (message: string) => new ValidationProblem(`target: ${message}`, [{ path: 'target', message }]);

/** Queues or cancels one command on many devices through the command queue's public API, and reports progress. */
export class BulkCommandService {
  constructor(
    private readonly storage: BulkOperationStorage,
    private readonly commands: CommandService,
    private readonly views: DeviceViews,
    private readonly users: () => UserDirectory | undefined,
  ) {}

  async resolve(target: BulkTarget): Promise<{ deviceIds: string[]; summary: BulkTargetSummary }> {
    let deviceIds: string[];
    let summary: BulkTargetSummary;
    if ('deviceIds' in target) {
      deviceIds = [...new Set(target.deviceIds)];
      summary = { kind: 'devices' };
    } else if ('filter' in target) {
      const views = await this.views.find(target.filter.userId ? { userId: target.filter.userId } : {});
      deviceIds = views
        .map(toDeviceRecord)
        .filter(target.filter.predicate)
        .map((device) => device.id);
      summary = { kind: 'filter', detail: { ...target.filter.given } };
    } else {
      const directory = this.users();
      if (!directory?.membersOf) throw targetIssue('no user directory that knows groups is enabled');
      const members = await directory.membersOf(target.group, MAX_BULK_DEVICES + 1);
      const views = members.length > 0 ? await this.views.find({ userId: { $in: members } }) : [];
      deviceIds = views.map((view) => String(view.binding._id));
      summary = { kind: 'group', detail: { group: target.group, users: members.length } };
    }
    if (deviceIds.length === 0) throw targetIssue('matches no device');
    if (deviceIds.length > MAX_BULK_DEVICES) throw targetIssue(`matches more than ${MAX_BULK_DEVICES} devices`);
    return { deviceIds, summary };
  }

  /** Queues the command on every target device; one CommandUUID for the operation, one push per device. */
  async enqueue(target: BulkTarget, command: Omit<QueuedCommandInput, 'origin'>, actor: BulkActor): Promise<BulkRun> {
    const { deviceIds, summary } = await this.resolve(target);
    const operation: BulkOperationDoc = {
      _id: randomUUID(),
      kind: 'enqueue',
      requestType: command.requestType,
      commandUuid: command.commandUuid ?? randomUUID().toUpperCase(),
      target: summary,
      actor,
      total: deviceIds.length,
      createdAt: new Date(),
    };
    // Refused commands (bad payload) fail here, before anything is recorded.
    const first = await this.enqueueChunk(operation, deviceIds.slice(0, CHUNK), command);
    await this.storage.create(operation);
    const outcomes = [...first];
    await this.storage.recordOutcomes(operation._id, first);
    for (let start = CHUNK; start < deviceIds.length; start += CHUNK) {
      const chunk = await this.enqueueChunk(operation, deviceIds.slice(start, start + CHUNK), command);
      await this.storage.recordOutcomes(operation._id, chunk);
      outcomes.push(...chunk);
    }
    return { operation, outcomes };
  }

  private async enqueueChunk(
    operation: BulkOperationDoc,
    deviceIds: string[],
    command: Omit<QueuedCommandInput, 'origin'>,
  ): Promise<{ deviceId: string; outcome: BulkOutcome }[]> {
    const results = await this.commands.enqueue(deviceIds, {
      ...command,
      commandUuid: operation.commandUuid,
      origin: `admin:${operation.actor.id} bulk:${operation._id}`,
    });
    const byDevice = new Map(results.map((r) => [r.deviceId, r.created]));
    return deviceIds.map((deviceId) => {
      const created = byDevice.get(deviceId);
      return { deviceId, outcome: created === undefined ? 'not-managed' : created ? 'queued' : 'already-queued' };
    });
  }

  /** Cancels a command on the target devices where it has not been sent yet. */
  async cancel(
    source: { operationId: string } | { commandUuid: string; target: BulkTarget },
    actor: BulkActor,
  ): Promise<BulkRun> {
    let commandUuid: string;
    let requestType = '';
    let deviceIds: string[];
    let summary: BulkTargetSummary;
    if ('operationId' in source) {
      const of = await this.storage.get(source.operationId);
      if (of?.kind !== 'enqueue') {
        throw new ValidationProblem('operationId: no such bulk enqueue operation', [
          { path: 'operationId', message: 'no such bulk enqueue operation' },
        ]);
      }
      ({ commandUuid, requestType } = of);
      deviceIds = (await this.storage.outcomes(of._id)).map((o) => o.deviceId);
      summary = { kind: 'devices', detail: { operation: of._id } };
    } else {
      commandUuid = source.commandUuid;
      ({ deviceIds, summary } = await this.resolve(source.target));
    }
    const operation: BulkOperationDoc = {
      _id: randomUUID(),
      kind: 'cancel',
      requestType,
      commandUuid,
      ...('operationId' in source ? { cancels: source.operationId } : {}),
      target: summary,
      actor,
      total: deviceIds.length,
      createdAt: new Date(),
    };
    await this.storage.create(operation);
    const outcomes: { deviceId: string; outcome: BulkOutcome }[] = [];
    for (let start = 0; start < deviceIds.length; start += CHUNK) {
      const chunk = deviceIds.slice(start, start + CHUNK);
      const cancelled = new Set(await this.commands.cancelQueued(commandUuid, chunk));
      const recorded = chunk.map((deviceId) => ({
        deviceId,
        outcome: (cancelled.has(deviceId) ? 'cancelled' : 'not-waiting') as BulkOutcome,
      }));
      await this.storage.recordOutcomes(operation._id, recorded);
      outcomes.push(...recorded);
    }
    return { operation, outcomes };
  }

  async progress(operationId: string): Promise<BulkProgress | undefined> {
    const operation = await this.storage.get(operationId);
    if (!operation) return undefined;
    const outcomes = await this.storage.outcomes(operationId);
    const reached = outcomes.filter((o) => o.outcome === 'queued' || o.outcome === 'already-queued');
    const states =
      operation.kind === 'enqueue' && reached.length > 0
        ? await this.commands.commandStates(
            operation.commandUuid,
            reached.map((o) => o.deviceId),
          )
        : new Map<string, CommandState>();
    const open: CommandState[] = ['queued', 'sent', 'not-now'];
    return {
      operation,
      outcomes: count(outcomes.map((o) => o.outcome)),
      commands: count([...states.values()]),
      finished: outcomes.length >= operation.total && ![...states.values()].some((s) => open.includes(s)),
      devices: outcomes
        .sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1))
        .map((o) => ({ deviceId: o.deviceId, outcome: o.outcome, state: states.get(o.deviceId) })),
    };
  }

  list(limit: number, before?: { createdAt: Date; id: string }): Promise<BulkOperationDoc[]> {
    return this.storage.list(limit, before);
  }
}
