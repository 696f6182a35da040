import { bulkWriteInChunks } from 'enrollment-gateway/sdk';
import type { AnyBulkWriteOperation } from 'mongoose';
import type { PresenceDoc } from './device-records.js';
import type { MdmModels } from './models.js';

/** When a device was seen, as the presence flush hands it over. */
export interface Sighting {
  deviceId: string;
  at: Date;
}

/**
 * mdm_presence's one writer role: the work role's presence flush (PresenceMarks). Each record moves only forward
 * (`$max`), so a flush repeated after a crash, or a sighting older than the record, changes nothing.
 */
export class PresenceStore {
  constructor(private readonly models: Pick<MdmModels, 'presence'>) {}

  async recordSightings(sightings: readonly Sighting[]): Promise<void> {
    const ops: AnyBulkWriteOperation<PresenceDoc>[] = sightings.map(({ deviceId, at }) => ({
      updateOne: { filter: { _id: deviceId }, update: { $max: { lastSeenAt: at } }, upsert: true },
    }));
    await bulkWriteInChunks(ops, (chunk) => this.models.presence.bulkWrite(chunk, { ordered: false }));
  }
}
