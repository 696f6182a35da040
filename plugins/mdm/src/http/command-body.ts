import { createHash } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { z } from 'zod';
import {
  COMMAND_DEFINITIONS,
  parseDevicePlist,
  REGISTERED_REQUEST_TYPES,
  type RegisteredRequestType,
} from '../protocol/index.js';
import { toBuffer } from '../services/command-service.js';

export const commandUuidField = z
  .string()
  .regex(/^[A-Za-z0-9-]{8,64}$/)
  .optional()
  .describe('Your own id; sending the same one twice queues the command once (409 the second time)');

function commandOf(requestType: RegisteredRequestType) {
  return z
    .object({
      requestType: z.literal(requestType),
      payload: COMMAND_DEFINITIONS[requestType].params
        .optional()
        .describe(`Keys of the ${requestType} Command dictionary; <data> keys as base64 or { "base64": … }`),
      commandUuid: commandUuidField,
    })
    .meta({ title: requestType });
}

type CommandOption = ReturnType<typeof commandOf>;

/**
 * A command as the admin API accepts it: one shape per RequestType the gateway registers, validated by the
 * builder's own schema, so a refusal names each field (`payload.Payload.PayloadContent.0.PayloadUUID`) and the
 * OpenAPI document shows every command's keys, data keys as base64.
 */
export const commandBody = z.discriminatedUnion(
  'requestType',
  REGISTERED_REQUEST_TYPES.map(commandOf) as [CommandOption, ...CommandOption[]],
);

export type CommandBody = z.output<typeof commandBody>;

/** Data keys larger than this are summarised in a history page unless it asks for `full`. */
const HISTORY_DATA_BYTES = 64 * 1024;

function dataToJson(value: unknown, full: boolean): unknown {
  if (Buffer.isBuffer(value)) {
    if (full || value.length <= HISTORY_DATA_BYTES) return { base64: value.toString('base64') };
    return { bytes: value.length, sha256: createHash('sha256').update(value).digest('hex') };
  }
  if (Array.isArray(value)) return value.map((item) => dataToJson(item, full));
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, dataToJson(v, full)]));
  }
  return value;
}

/**
 * What a queued command carries, as the admin API accepts it: the Command keys other than RequestType, data as
 * `{ base64 }` (summarised as `{ bytes, sha256 }` above 64 KiB unless `full`).
 */
export function sentPayload(
  stored: { plist?: unknown; plistDeflated?: unknown },
  full: boolean,
): Record<string, unknown> | undefined {
  const raw = stored.plistDeflated ?? stored.plist;
  if (!raw) return undefined;
  const bytes = toBuffer(raw as Buffer);
  const plist = stored.plistDeflated ? inflateRawSync(bytes) : bytes;
  const command = parseDevicePlist(plist, { maxBytes: plist.length }).Command;
  if (!command || typeof command !== 'object' || Array.isArray(command)) return undefined;
  const { RequestType: _type, ...keys } = command as Record<string, unknown>;
  return dataToJson(keys, full) as Record<string, unknown>;
}
