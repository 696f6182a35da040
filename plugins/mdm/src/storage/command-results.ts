import { type Model, Schema, type Types } from 'mongoose';

/**
 * A device's answer to one delivery of a command, as received (bounded by the body limit). Kept out of the
 * command document so queue documents stay small: a DeviceInformation answer alone is about a kilobyte, and an
 * app or profile list can be far more, while every poll looks through the queue. (On FerretDB's PostgreSQL
 * backend each query scans its collection, and a row over ~2 KB is compressed, so each scan would decompress
 * every answered command.)
 *
 * `_id` is "<command id>:<delivery>" (the command's `attempts` when it was answered): a command answered NotNow
 * and later Acknowledged has one answer per delivery, and the unique insert makes each delivery's answer
 * recorded, and reported, once, even where findAndModify is not atomic (FerretDB).
 */
export interface CommandResultDoc {
  _id: string;
  commandId: Types.ObjectId;
  deviceId: string;
  raw: Buffer;
  at: Date;
}

export const commandResultSchema = new Schema<CommandResultDoc>(
  {
    _id: { type: String, required: true },
    commandId: { type: Schema.Types.ObjectId, required: true, index: true },
    deviceId: { type: String, required: true },
    raw: { type: Buffer, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'mdm_command_results', versionKey: false },
);
// Pruned with the commands they answer (commandRetentionDays).
commandResultSchema.index({ at: 1 });

export const resultId = (commandId: Types.ObjectId | string, delivery: number) => `${String(commandId)}:${delivery}`;

/** The latest answer to each of these commands, by command id. */
export async function latestAnswers(
  results: Model<CommandResultDoc>,
  commandIds: readonly Types.ObjectId[],
): Promise<Map<string, Buffer>> {
  if (commandIds.length === 0) return new Map();
  const docs = await results
    .find({ commandId: { $in: commandIds } }, { commandId: 1, raw: 1, at: 1 })
    .lean<CommandResultDoc[]>();
  docs.sort((a, b) => new Date(a.at).getTime() - new Date(b.at).getTime());
  const latest = new Map<string, Buffer>();
  for (const doc of docs) {
    const raw = doc.raw as Buffer | { buffer: Uint8Array };
    latest.set(String(doc.commandId), Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer));
  }
  return latest;
}
