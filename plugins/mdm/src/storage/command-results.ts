import { Schema, type Types } from 'mongoose';
import type { CommandState } from './models.js';

/** States a command ends in: one final record per command decides which. */
export type FinalCommandState = Extract<CommandState, 'acknowledged' | 'error' | 'format-error' | 'cancelled'>;

/**
 * What became of one delivery of a command: the device's answer as received (bounded by the body limit), or the
 * cancellation. Insert-only, written by the poll path (answers) and by whoever cancels (clearQueue, retirement),
 * never updated. Kept out of the command document, which its enqueuer writes once and nobody changes.
 *
 * `_id` decides what may exist once:
 * - "<command id>:final": the answer that ended the command (Acknowledged, Error, CommandFormatError) or its
 *   cancellation. One unique insert, so the command ends once, and its answer is recorded and reported once,
 *   whoever races: a doubled answer, a redelivery after a crash, a cancellation;
 * - "<command id>:<delivery>": a NotNow answer to that delivery (the device asks for the command again later).
 * Answers stored before the final record existed are "<command id>:<delivery>" without `state`.
 */
export interface CommandResultDoc {
  _id: string;
  commandId: Types.ObjectId;
  deviceId: string;
  /** Absent on answers stored before final records. */
  state?: FinalCommandState | 'not-now';
  final?: boolean;
  raw?: Buffer;
  errorChain?: Record<string, unknown>[];
  at: Date;
}

export const commandResultSchema = new Schema<CommandResultDoc>(
  {
    _id: { type: String, required: true },
    commandId: { type: Schema.Types.ObjectId, required: true, index: true },
    deviceId: { type: String, required: true, index: true },
    state: String,
    final: Boolean,
    raw: Buffer,
    errorChain: [Schema.Types.Mixed],
    at: { type: Date, required: true },
  },
  { collection: 'mdm_command_results', versionKey: false },
);
// Pruned with the commands they answer (commandRetentionDays).
commandResultSchema.index({ at: 1 });

export const resultId = (commandId: Types.ObjectId | string, delivery: number) => `${String(commandId)}:${delivery}`;
export const finalResultId = (commandId: Types.ObjectId | string) => `${String(commandId)}:final`;
