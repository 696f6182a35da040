import type Koa from 'koa';
import type { Connection } from 'mongoose';
import type { z } from 'zod';
import { ProblemError } from './errors.js';

/**
 * Optimistic concurrency for admin edits: every stored thing carries a version, a read answers it as the
 * ETag, and a write names the version it read (If-Match or the body's `version`); a stale one is a 409.
 */

/** The ETag of a version. */
export const etag = (version: number): string => `"${version}"`;

/** For a route description's `headers`. */
export const ifMatchHeader = {
  'If-Match': { description: 'The ETag (version) you read; a stale one answers 409. Or send `version`.' },
} as const;

/** For a response description's `headers`. */
export const etagHeader = { ETag: 'The version, for If-Match' } as const;

/**
 * The version a write expects, from If-Match ("3", W/"3") or the body's `version`. Required by default:
 * an edit without one could silently overwrite someone else's (428 Precondition Required).
 */
export function expectedVersion(koa: Koa.Context, bodyVersion: number | undefined): number;
export function expectedVersion(koa: Koa.Context, bodyVersion: number | undefined, required: false): number | undefined;
export function expectedVersion(
  koa: Koa.Context,
  bodyVersion: number | undefined,
  required = true,
): number | undefined {
  const header = koa.get('if-match');
  if (header) {
    const match = /^(?:W\/)?"?(\d{1,15})"?$/.exec(header.trim());
    if (!match) throw new ProblemError(412, 'Precondition failed', 'If-Match must be the version from the ETag');
    const fromHeader = Number(match[1]);
    if (bodyVersion !== undefined && bodyVersion !== fromHeader) {
      throw new ProblemError(400, 'Invalid request', 'If-Match and body version disagree');
    }
    return fromHeader;
  }
  if (bodyVersion !== undefined) return bodyVersion;
  if (!required) return undefined;
  throw new ProblemError(428, 'Precondition required', 'send the version you read, as If-Match or in the body');
}

/** A 409 for a write over a version someone else already replaced. */
export function staleVersion(detail: string, currentVersion: number): ProblemError {
  return new ProblemError(409, 'Conflict', detail, { extensions: { currentVersion } });
}

/** An insert refused by a unique index, on MongoDB (E11000) and on FerretDB (SQLSTATE 23505). */
export function isDuplicateKeyError(error: unknown): boolean {
  return (
    (error as { code?: number }).code === 11000 ||
    /duplicate key|SQLSTATE 23505/i.test(String((error as { message?: unknown }).message ?? ''))
  );
}

export interface StoredSettings<T> {
  value: T;
  /** 0 while the defaults apply (nothing saved yet). */
  version: number;
  updatedBy?: string;
  updatedAt?: Date;
}

export interface VersionedSettingsOptions<T> {
  connection: Connection;
  /** The settings live in one document of this collection; claims in `<collection>_claims`. */
  collection: string;
  /** Re-validates what was stored, so a document edited by hand never reaches devices unchecked. */
  schema: z.ZodType<T>;
  defaults: () => T;
  /** The 409's detail: "the SSO policy changed since you read it; reload and try again". */
  staleDetail: string;
}

/** A claim whose write never followed (the process died in between) is taken over after this long. */
const ABANDONED_CLAIM_MS = 60_000;
const SETTINGS_ID = 'default';

interface ClaimDoc {
  _id: string;
  at: Date;
}

/**
 * Admin-edited settings kept as one versioned document, read from MongoDB each time so every replica uses
 * the latest save. FerretDB has no atomic version-filtered update, so the move from version n to n + 1 is
 * claimed first by inserting a document with the unique id "default@<n + 1>": exactly one writer wins.
 */
export class VersionedSettingsStore<T extends Record<string, unknown>> {
  constructor(private readonly options: VersionedSettingsOptions<T>) {}

  private get settings() {
    return this.options.connection.collection<Record<string, unknown> & { _id: string }>(this.options.collection);
  }

  private get claims() {
    return this.options.connection.collection<ClaimDoc>(`${this.options.collection}_claims`);
  }

  async current(): Promise<StoredSettings<T>> {
    const doc = await this.settings.findOne({ _id: SETTINGS_ID });
    if (!doc) return { value: this.options.defaults(), version: 0 };
    const { _id, version, updatedBy, updatedAt, ...fields } = doc;
    return {
      value: this.options.schema.parse(fields),
      version: version as number,
      updatedBy: updatedBy as string | undefined,
      updatedAt: updatedAt as Date | undefined,
    };
  }

  /** Saves over `expectedVersion`, or throws 409 when someone saved since. */
  async save(
    value: T,
    expected: number,
    updatedBy: string,
  ): Promise<{ before: StoredSettings<T>; after: StoredSettings<T> }> {
    const before = await this.current();
    if (before.version !== expected) throw staleVersion(this.options.staleDetail, before.version);
    const next = expected + 1;
    if (!(await this.claim(next))) throw staleVersion(this.options.staleDetail, (await this.current()).version);
    try {
      await this.settings.updateOne(
        { _id: SETTINGS_ID },
        { $set: { ...value, version: next, updatedBy, updatedAt: new Date() } },
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
        await this.claims.insertOne({ _id: id, at: new Date() });
        // A claim taken over below may have guarded a write that did land after all: look once more.
        return attempt === 0 || (await this.current()).version < version;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
      const held = await this.claims.findOne({ _id: id });
      if (held && Date.now() - new Date(held.at).getTime() < ABANDONED_CLAIM_MS) return false;
      if ((await this.current()).version >= version) return false;
      await this.claims.deleteOne({ _id: id, ...(held ? { at: held.at } : {}) });
    }
    return false;
  }
}
