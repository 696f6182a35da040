/**
 * Conformance checks against Apple's device-management YAML schemas (github.com/apple/device-management, found
 * through APPLE_SCHEMA_DIR, ../shared/apple-device-management or .cache/; see apple-schema-dir.ts). Without them
 * the tests that use them are reported pending, with one line saying how to get them.
 *
 * Usage from any plugin's tests:
 *   import { validatePayload, formatViolations } from '../../../test/support/apple-schema.js';
 *   const violations = validatePayload('com.apple.webClip.managed', payload);
 *   expect(violations, formatViolations(violations)).to.deep.equal([]);
 *
 * Every validator returns a list of violations (empty = conforms): unknown keys, missing required keys, wrong plist
 * types, values outside `rangelist`/`range`/`format`, wrong array cardinality (`repetition`), and keys that are
 * not available in the target context. Apple marks availability per OS in `supportedOS`; a key inherits the
 * payload's entry and may override it, and subkeys inherit from their parent. The context (default: iOS, device
 * enrollment, device channel, not Shared iPad) decides which keys apply: a key unavailable there is neither
 * required nor allowed (e.g. DeviceLock's PIN is macOS-only). `supervised`/`accessrights` are ignored: they limit
 * what a key does, not whether the dictionary is well-formed.
 *
 * JS values map to plist types as parseDevicePlist/buildPlist do: string, integer (Number.isInteger or bigint),
 * real (any finite number), boolean, data (Uint8Array/Buffer), date (valid Date), array, dictionary (plain object).
 * `undefined` dictionary values count as absent (buildPlist omits them).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { APPLE_SCHEMA_HOWTO, findAppleSchemaDir } from './apple-schema-dir.js';
import { skipWithoutSchemas } from './apple-schema-gate.js';

export type ApplePlatform = 'iOS' | 'macOS' | 'tvOS' | 'visionOS' | 'watchOS';

export interface SchemaContext {
  /** Default 'iOS'. */
  os?: ApplePlatform;
  /** e.g. '17.4'; when set, keys introduced later or removed by then do not apply. */
  osVersion?: string;
  /** 'user' = Apple's User Enrollment; default 'device'. */
  enrollment?: 'device' | 'user';
  /** Default 'device'. */
  channel?: 'device' | 'user';
  /** Default false. */
  sharedIPad?: boolean;
  /** Default true. Apple marks some response keys required that devices only send sometimes. */
  checkRequired?: boolean;
}

export type ViolationKind =
  | 'unknown-schema'
  | 'unknown-key'
  | 'missing-key'
  | 'wrong-type'
  | 'not-in-rangelist'
  | 'out-of-range'
  | 'format'
  | 'repetition'
  | 'unsupported';

export interface SchemaViolation {
  /** Dotted path from the validated dictionary, e.g. 'PayloadContent[1].Subject[0][0]'. */
  path: string;
  kind: ViolationKind;
  message: string;
}

interface ModeObject {
  mode?: 'allowed' | 'required' | 'forbidden' | 'ignored';
  devicechannel?: boolean;
  userchannel?: boolean;
}
interface OsSupport {
  introduced?: string;
  removed?: string;
  devicechannel?: boolean;
  userchannel?: boolean;
  sharedipad?: ModeObject;
  userenrollment?: ModeObject;
}
type SupportedOS = Partial<Record<ApplePlatform, OsSupport>>;
interface SchemaKey {
  key: string;
  type: string;
  presence?: 'required' | 'optional';
  rangelist?: unknown[];
  range?: { min?: number; max?: number };
  format?: string;
  repetition?: { min?: number; max?: number };
  subkeys?: SchemaKey[];
  supportedOS?: SupportedOS;
}
interface SchemaFile {
  title: string;
  payload: { payloadtype?: string; requesttype?: string; supportedOS?: SupportedOS };
  payloadkeys?: SchemaKey[];
  responsekeys?: SchemaKey[];
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The schema checkout (see apple-schema-dir.ts for where it is looked for). Without one, the calling test is
 * marked pending and stops here; `.ci/run` sets APPLE_SCHEMAS_REQUIRED=1, which turns that into a failure.
 */
export function appleSchemaDir(): string {
  const lookup = findAppleSchemaDir(REPO_ROOT);
  if (lookup.found) return lookup.dir;
  const where = `looked in ${lookup.tried.join(', ')}`;
  if (process.env.APPLE_SCHEMAS_REQUIRED === '1') throw new Error(`${APPLE_SCHEMA_HOWTO} (${where})`);
  return skipWithoutSchemas();
}

interface SchemaIndex {
  payloads: Map<string, SchemaFile>;
  commands: Map<string, SchemaFile>;
  checkins: Map<string, SchemaFile>;
}
let cached: { dir: string; index: SchemaIndex } | undefined;

function loadFolder(dir: string, idKey: 'payloadtype' | 'requesttype'): Map<string, SchemaFile> {
  const out = new Map<string, SchemaFile>();
  if (!existsSync(dir)) throw new Error(`Apple schema folder not found: ${dir}`);
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.yaml')) continue;
    const file = YAML.parse(readFileSync(path.join(dir, name), 'utf8')) as SchemaFile;
    const id = file.payload?.[idKey];
    if (typeof id === 'string') out.set(id, file);
  }
  return out;
}

function schemas(): SchemaIndex {
  const dir = appleSchemaDir();
  if (cached?.dir !== dir) {
    cached = {
      dir,
      index: {
        payloads: loadFolder(path.join(dir, 'mdm/profiles'), 'payloadtype'),
        commands: loadFolder(path.join(dir, 'mdm/commands'), 'requesttype'),
        checkins: loadFolder(path.join(dir, 'mdm/checkin'), 'requesttype'),
      },
    };
  }
  return cached.index;
}

const PSEUDO_PAYLOAD_TYPES = new Set(['TopLevel', 'CommonPayloadKeys']);

/** Every real payload type with a schema (TopLevel and CommonPayloadKeys excluded). */
export function listPayloadTypes(): string[] {
  return [...schemas().payloads.keys()].filter((t) => !PSEUDO_PAYLOAD_TYPES.has(t));
}
export function listRequestTypes(): string[] {
  return [...schemas().commands.keys()];
}
export function listCheckinMessageTypes(): string[] {
  return [...schemas().checkins.keys()];
}

/** Validates one payload dictionary (common payload keys included), or the profile itself for 'TopLevel'. */
export function validatePayload(payloadType: string, dict: unknown, ctx: SchemaContext = {}): SchemaViolation[] {
  const file = schemas().payloads.get(payloadType);
  if (!file) return [{ path: '', kind: 'unknown-schema', message: `no schema for payload type ${payloadType}` }];
  let keys = file.payloadkeys ?? [];
  if (!PSEUDO_PAYLOAD_TYPES.has(payloadType)) {
    const own = new Set(keys.map((k) => k.key));
    const common = (schemas().payloads.get('CommonPayloadKeys')?.payloadkeys ?? []).filter((k) => !own.has(k.key));
    keys = [...common, ...keys];
  }
  const violations = validateRoot(file, keys, dict, ctx, {});
  if (isDict(dict) && !PSEUDO_PAYLOAD_TYPES.has(payloadType) && dict.PayloadType !== payloadType) {
    violations.push({ path: 'PayloadType', kind: 'not-in-rangelist', message: `expected ${payloadType}` });
  }
  return violations;
}

/** Validates a Configuration profile: the top level, then each PayloadContent item by its PayloadType. */
export function validateProfile(profile: unknown, ctx: SchemaContext = {}): SchemaViolation[] {
  const violations = validatePayload('TopLevel', profile, ctx);
  const content = isDict(profile) ? profile.PayloadContent : undefined;
  if (!Array.isArray(content)) return violations;
  content.forEach((item, index) => {
    const type = isDict(item) && typeof item.PayloadType === 'string' ? item.PayloadType : '(none)';
    for (const v of validatePayload(type, item, ctx)) {
      violations.push({ ...v, path: join(`PayloadContent[${index}]`, v.path) });
    }
  });
  return violations;
}

/** Validates a `Command` dictionary (RequestType plus the command's keys). */
export function validateCommand(requestType: string, command: unknown, ctx: SchemaContext = {}): SchemaViolation[] {
  const file = schemas().commands.get(requestType);
  if (!file) return [{ path: '', kind: 'unknown-schema', message: `no schema for RequestType ${requestType}` }];
  const violations = validateRoot(file, file.payloadkeys ?? [], command, ctx, { RequestType: requestType });
  if (isDict(command) && command.RequestType !== requestType) {
    violations.push({ path: 'RequestType', kind: 'missing-key', message: `RequestType must be ${requestType}` });
  }
  return violations;
}

/** Validates the full `{ CommandUUID, Command }` plist a server sends. */
export function validateCommandEnvelope(envelope: unknown, ctx: SchemaContext = {}): SchemaViolation[] {
  if (!isDict(envelope)) return [{ path: '', kind: 'wrong-type', message: 'expected <dictionary>' }];
  const violations: SchemaViolation[] = [];
  if (typeof envelope.CommandUUID !== 'string' || envelope.CommandUUID === '') {
    violations.push({ path: 'CommandUUID', kind: 'missing-key', message: 'CommandUUID <string> is required' });
  }
  for (const key of Object.keys(envelope)) {
    if (key !== 'CommandUUID' && key !== 'Command')
      violations.push({ path: key, kind: 'unknown-key', message: 'not an envelope key' });
  }
  const command = envelope.Command;
  if (!isDict(command) || typeof command.RequestType !== 'string') {
    violations.push({ path: 'Command', kind: 'missing-key', message: 'Command with a RequestType is required' });
    return violations;
  }
  return [
    ...violations,
    ...validateCommand(command.RequestType, command, ctx).map((v) => ({ ...v, path: join('Command', v.path) })),
  ];
}

const REPORT_ENVELOPE_KEYS = [
  'UDID',
  'EnrollmentID',
  'Status',
  'CommandUUID',
  'ErrorChain',
  'RequestType',
  'UserID',
  'UserShortName',
  'UserLongName',
  'EnrollmentUserID',
];

/** Validates a command's response keys (report envelope keys such as UDID/Status are skipped). */
export function validateCommandResponse(
  requestType: string,
  response: unknown,
  ctx: SchemaContext = {},
): SchemaViolation[] {
  const file = schemas().commands.get(requestType);
  if (!file) return [{ path: '', kind: 'unknown-schema', message: `no schema for RequestType ${requestType}` }];
  const skip = Object.fromEntries(REPORT_ENVELOPE_KEYS.map((k) => [k, undefined]));
  return validateRoot(file, file.responsekeys ?? [], response, ctx, skip);
}

/** Validates a check-in message dictionary (MessageType included). */
export function validateCheckin(messageType: string, dict: unknown, ctx: SchemaContext = {}): SchemaViolation[] {
  const file = schemas().checkins.get(messageType);
  if (!file) return [{ path: '', kind: 'unknown-schema', message: `no schema for check-in ${messageType}` }];
  return validateRoot(file, file.payloadkeys ?? [], dict, ctx, {});
}

/** Validates a dictionary against one of the schemas in other/ (e.g. 'machineinfo', the MachineInfo a device POSTs). */
export function validateOther(name: string, dict: unknown, ctx: SchemaContext = {}): SchemaViolation[] {
  const file = YAML.parse(readFileSync(path.join(appleSchemaDir(), 'other', `${name}.yaml`), 'utf8')) as SchemaFile;
  return validateRoot(file, file.payloadkeys ?? [], dict, ctx, {});
}

/**
 * Validates a dictionary against the payload keys of any schema file of Apple's repository, e.g. the declarative
 * ones (apple-schema-declarative.ts loads those).
 */
export function validateWithSchemaFile(
  file: { title: string; payload: { supportedOS?: unknown }; payloadkeys?: unknown[] },
  dict: unknown,
  ctx: SchemaContext = {},
): SchemaViolation[] {
  const schema = file as SchemaFile;
  return validateRoot(schema, schema.payloadkeys ?? [], dict, ctx, {});
}

export function formatViolations(violations: readonly SchemaViolation[]): string {
  return violations.map((v) => `${v.path || '(root)'} [${v.kind}] ${v.message}`).join('\n');
}

// ---------------------------------------------------------------------------------------------------------------

interface Resolved {
  os: ApplePlatform;
  osVersion?: string;
  enrollment: 'device' | 'user';
  channel: 'device' | 'user';
  sharedIPad: boolean;
  checkRequired: boolean;
}

/** `implicit`: keys allowed without a schema entry; a string value is the only accepted value. */
function validateRoot(
  file: SchemaFile,
  keys: SchemaKey[],
  dict: unknown,
  ctx: SchemaContext,
  implicit: Record<string, string | undefined>,
): SchemaViolation[] {
  const resolved: Resolved = {
    os: ctx.os ?? 'iOS',
    osVersion: ctx.osVersion,
    enrollment: ctx.enrollment ?? 'device',
    channel: ctx.channel ?? 'device',
    sharedIPad: ctx.sharedIPad ?? false,
    checkRequired: ctx.checkRequired ?? true,
  };
  const support = file.payload.supportedOS?.[resolved.os];
  const reason = support ? inapplicable(support, resolved) : `not available on ${resolved.os}`;
  if (reason) return [{ path: '', kind: 'unsupported', message: `${file.title}: ${reason}` }];
  if (!isDict(dict)) return [{ path: '', kind: 'wrong-type', message: 'expected <dictionary>' }];
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(dict)) if (!(key in implicit)) rest[key] = value;
  const out: SchemaViolation[] = [];
  checkDictionary(keys, rest, support ?? {}, resolved, '', out);
  return out;
}

function merge(parent: OsSupport, own: OsSupport | undefined): OsSupport {
  return own ? { ...parent, ...own } : parent;
}

/** Why a key with this (merged) support does not apply in the context, or undefined when it does. */
function inapplicable(s: OsSupport, c: Resolved): string | undefined {
  if (s.introduced === 'n/a') return `not available on ${c.os}`;
  if (c.osVersion && s.introduced && compareVersions(s.introduced, c.osVersion) > 0)
    return `introduced in ${c.os} ${s.introduced}`;
  if (c.osVersion && s.removed && compareVersions(s.removed, c.osVersion) <= 0)
    return `removed in ${c.os} ${s.removed}`;
  const ue = s.userenrollment?.mode;
  if (c.enrollment === 'user' && ue === 'forbidden') return 'forbidden with User Enrollment';
  if (c.enrollment === 'device' && ue === 'required') return 'only with User Enrollment';
  const shared = s.sharedipad?.mode;
  if (!c.sharedIPad && shared === 'required') return 'only on Shared iPad';
  if (c.sharedIPad && shared === 'forbidden') return 'forbidden on Shared iPad';
  if (c.channel === 'device' && s.devicechannel === false) return 'not on the device channel';
  if (c.channel === 'user' && s.userchannel === false) return 'not on the user channel';
  if (c.sharedIPad && c.channel === 'device' && s.sharedipad?.devicechannel === false)
    return 'not on the device channel';
  if (c.sharedIPad && c.channel === 'user' && s.sharedipad?.userchannel === false) return 'not on the user channel';
  return undefined;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function checkDictionary(
  keys: SchemaKey[],
  dict: Record<string, unknown>,
  support: OsSupport,
  c: Resolved,
  at: string,
  out: SchemaViolation[],
): void {
  const named = new Map(keys.filter((k) => !k.key.startsWith('ANY')).map((k) => [k.key, k]));
  const wildcard = keys.find((k) => k.key.startsWith('ANY'));
  for (const schemaKey of named.values()) {
    const keySupport = merge(support, schemaKey.supportedOS?.[c.os]);
    const reason = inapplicable(keySupport, c);
    const value = dict[schemaKey.key];
    const where = join(at, schemaKey.key);
    if (value === undefined) {
      if (!reason && c.checkRequired && schemaKey.presence === 'required') {
        out.push({ path: where, kind: 'missing-key', message: `required ${schemaKey.type} is missing` });
      }
    } else if (reason) {
      out.push({ path: where, kind: 'unsupported', message: reason });
    } else {
      checkValue(schemaKey, value, keySupport, c, where, out);
    }
  }
  for (const [key, value] of Object.entries(dict)) {
    if (value === undefined || named.has(key)) continue;
    if (wildcard) checkValue(wildcard, value, merge(support, wildcard.supportedOS?.[c.os]), c, join(at, key), out);
    else out.push({ path: join(at, key), kind: 'unknown-key', message: 'not in the schema' });
  }
}

function checkValue(
  schemaKey: SchemaKey,
  value: unknown,
  support: OsSupport,
  c: Resolved,
  at: string,
  out: SchemaViolation[],
): void {
  if (!hasType(schemaKey.type, value)) {
    out.push({ path: at, kind: 'wrong-type', message: `expected ${schemaKey.type}, got ${typeName(value)}` });
    return;
  }
  if (schemaKey.rangelist && !schemaKey.rangelist.some((allowed) => allowed === value)) {
    out.push({
      path: at,
      kind: 'not-in-rangelist',
      message: `${String(value)} not in [${schemaKey.rangelist.join(', ')}]`,
    });
  }
  if (schemaKey.range && typeof value === 'number') {
    const { min, max } = schemaKey.range;
    if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
      out.push({ path: at, kind: 'out-of-range', message: `${value} outside [${min ?? '-inf'}, ${max ?? 'inf'}]` });
    }
  }
  if (schemaKey.format && typeof value === 'string' && !new RegExp(schemaKey.format).test(value)) {
    out.push({ path: at, kind: 'format', message: `does not match ${schemaKey.format}` });
  }
  if (schemaKey.type === '<dictionary>' && schemaKey.subkeys?.length && isDict(value)) {
    checkDictionary(schemaKey.subkeys, value, support, c, at, out);
  } else if (schemaKey.type === '<array>' && schemaKey.subkeys?.length && Array.isArray(value)) {
    checkArray(schemaKey.subkeys[0], value, support, c, at, out);
  } else if (schemaKey.subkeys?.length && schemaKey.type !== '<array>' && schemaKey.type !== '<dictionary>') {
    // A scalar with subkeys enumerates its allowed values, each with its own availability (e.g. DeviceInformation Queries).
    const option = schemaKey.subkeys.find((k) => k.key === value);
    if (!option) out.push({ path: at, kind: 'not-in-rangelist', message: `${String(value)} is not a listed value` });
    else {
      const reason = inapplicable(merge(support, option.supportedOS?.[c.os]), c);
      if (reason) out.push({ path: at, kind: 'unsupported', message: `${String(value)}: ${reason}` });
    }
  }
}

function checkArray(
  item: SchemaKey,
  values: unknown[],
  support: OsSupport,
  c: Resolved,
  at: string,
  out: SchemaViolation[],
): void {
  const { min, max } = item.repetition ?? {};
  if ((min !== undefined && values.length < min) || (max !== undefined && values.length > max)) {
    out.push({
      path: at,
      kind: 'repetition',
      message: `${values.length} items, expected ${min ?? 0}..${max ?? 'any'}`,
    });
  }
  const itemSupport = merge(support, item.supportedOS?.[c.os]);
  values.forEach((value, index) => {
    checkValue(item, value, itemSupport, c, `${at}[${index}]`, out);
  });
}

const TYPE_CHECKS: Record<string, (value: unknown) => boolean> = {
  '<string>': (v) => typeof v === 'string',
  '<integer>': (v) => (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint',
  '<real>': (v) => typeof v === 'number' && Number.isFinite(v),
  '<boolean>': (v) => typeof v === 'boolean',
  '<data>': (v) => v instanceof Uint8Array,
  '<date>': (v) => v instanceof Date && !Number.isNaN(v.getTime()),
  '<array>': (v) => Array.isArray(v),
  '<dictionary>': (v) => isDict(v),
  '<any>': () => true,
};

function hasType(type: string, value: unknown): boolean {
  return TYPE_CHECKS[type]?.(value) ?? false;
}

function isDict(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Date) &&
    !ArrayBuffer.isView(value)
  );
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value instanceof Uint8Array) return 'data';
  if (value instanceof Date) return 'date';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'dictionary' : typeof value;
}

function join(base: string, key: string): string {
  if (!base) return key;
  if (!key) return base;
  return key.startsWith('[') ? `${base}${key}` : `${base}.${key}`;
}
