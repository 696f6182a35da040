import { ProblemError } from 'enrollment-gateway/sdk';
import { type Connection, type Model, Schema } from 'mongoose';
import { z } from 'zod';
import type { WebClipConfig } from './config.js';

/** What an admin may change at run time; the icon, identifier and organisation stay deployment settings. */
export const webClipSettingsSchema = z.strictObject({
  label: z
    .string()
    .trim()
    .min(1, 'enter the name shown under the icon')
    .max(40, 'at most 40 characters: iOS cuts longer names off')
    .describe('Name under the Home Screen icon'),
  url: z
    .url({ protocol: /^https$/, error: 'must be an https URL' })
    .max(2048)
    .nullable()
    .default(null)
    .describe("Where the icon opens; null (or left out) for the company portal's URL"),
  isRemovable: z.boolean().describe('Whether the user may delete the icon from the Home Screen'),
  fullScreen: z
    .boolean()
    .describe('Open as a full-screen web app (it keeps its own cookies, so users sign in there once more)'),
});

export type WebClipSettings = z.output<typeof webClipSettingsSchema>;

export interface StoredWebClipSettings {
  settings: WebClipSettings;
  /** 0 while the config defaults apply (nothing saved yet). */
  version: number;
  updatedBy?: string;
  updatedAt?: Date;
}

export function defaultWebClipSettings(config: WebClipConfig): WebClipSettings {
  return webClipSettingsSchema.parse({
    label: config.label,
    url: config.url ?? null,
    isRemovable: config.isRemovable,
    fullScreen: config.fullScreen,
  });
}

interface SettingsDoc extends WebClipSettings {
  _id: string;
  version: number;
  updatedBy: string;
  updatedAt: Date;
}

/** One per version ever saved: the unique _id is what lets exactly one writer move from n to n + 1. */
interface ClaimDoc {
  _id: string;
  at: Date;
}

const settingsSchema = new Schema<SettingsDoc>(
  {
    _id: { type: String, required: true },
    label: { type: String, required: true },
    url: { type: String, default: null },
    isRemovable: { type: Boolean, required: true },
    fullScreen: { type: Boolean, required: true },
    version: { type: Number, required: true },
    updatedBy: { type: String, required: true },
  },
  { collection: 'web_clip_settings', versionKey: false, timestamps: { createdAt: false, updatedAt: true } },
);
const claimSchema = new Schema<ClaimDoc>(
  { _id: { type: String, required: true }, at: { type: Date, required: true } },
  { collection: 'web_clip_settings_claims', versionKey: false },
);

const SETTINGS_ID = 'default';
/** A claim whose write never followed (the process died in between) is taken over after this long. */
const ABANDONED_CLAIM_MS = 60_000;

const isDuplicateKey = (error: unknown) =>
  (error as { code?: number }).code === 11000 ||
  /duplicate key|SQLSTATE 23505/i.test(String((error as { message?: unknown }).message ?? ''));

export function staleSettings(currentVersion: number): ProblemError {
  return new ProblemError(409, 'Conflict', 'the web clip settings changed since you read them; reload and try again', {
    extensions: { currentVersion },
  });
}

function model<T>(connection: Connection, name: string, schema: Schema<T>): Model<T> {
  return (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
}

/**
 * The admin-edited web clip settings: one document in MongoDB, read on every enrollment so every replica
 * uses the latest save. Until an admin saves, the config's values apply (version 0).
 */
export class WebClipSettingsStore {
  private readonly settings: Model<SettingsDoc>;
  private readonly claims: Model<ClaimDoc>;

  constructor(
    connection: Connection,
    private readonly defaults: () => WebClipSettings,
  ) {
    this.settings = model(connection, 'WebClipSettings', settingsSchema);
    this.claims = model(connection, 'WebClipSettingsClaim', claimSchema);
  }

  async current(): Promise<StoredWebClipSettings> {
    const doc = await this.settings.findById(SETTINGS_ID).lean<SettingsDoc>();
    if (!doc) return { settings: this.defaults(), version: 0 };
    const { _id, version, updatedBy, updatedAt, ...fields } = doc;
    // A document edited by hand must not reach devices with values the API would have refused.
    return { settings: webClipSettingsSchema.parse(fields), version, updatedBy, updatedAt };
  }

  /**
   * Saves over `expectedVersion`, or throws 409 when someone saved since. FerretDB has no atomic
   * version-filtered update, so the move to the next version is claimed by inserting its unique id first.
   */
  async save(
    settings: WebClipSettings,
    expectedVersion: number,
    updatedBy: string,
  ): Promise<{ before: StoredWebClipSettings; after: StoredWebClipSettings }> {
    const before = await this.current();
    if (before.version !== expectedVersion) throw staleSettings(before.version);
    const next = expectedVersion + 1;
    if (!(await this.claim(next))) throw staleSettings((await this.current()).version);
    try {
      await this.settings.updateOne(
        { _id: SETTINGS_ID },
        { $set: { ...settings, version: next, updatedBy } },
        { upsert: true },
      );
    } catch (error) {
      await this.claims.deleteOne({ _id: `${SETTINGS_ID}@${next}` });
      throw error;
    }
    return { before, after: await this.current() };
  }

  private async claim(version: number): Promise<boolean> {
    const id = `${SETTINGS_ID}@${version}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.claims.create({ _id: id, at: new Date() });
        // A claim taken over below may have guarded a write that did land after all: look once more.
        return attempt === 0 || (await this.current()).version < version;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      const held = await this.claims.findById(id).lean<ClaimDoc>();
      if (held && Date.now() - new Date(held.at).getTime() < ABANDONED_CLAIM_MS) return false;
      if ((await this.current()).version >= version) return false;
      await this.claims.deleteOne({ _id: id, ...(held ? { at: held.at } : {}) });
    }
    return false;
  }
}
