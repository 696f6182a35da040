import { z } from 'zod';

/** One configurable leaf of the schema: its path, env name, and whether it is secret. */
export interface SettingLeaf {
  path: string[];
  envName: string;
  schema: z.ZodType;
  secret: boolean;
  description?: string;
  defaultValue?: unknown;
}

export const ENV_PREFIX = 'GATEWAY_';

export function envNameFor(path: readonly string[]): string {
  return (
    ENV_PREFIX +
    path
      .map((segment) =>
        segment
          .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
          .replace(/-/g, '_')
          .toUpperCase(),
      )
      .join('__')
  );
}

interface Unwrapped {
  inner: z.ZodType;
  secret: boolean;
  description?: string;
  defaultValue?: unknown;
}

/** Peels default/optional/nullable wrappers while collecting metadata set on any layer. */
export function unwrap(schema: z.ZodType): Unwrapped {
  let current = schema;
  let isSecret = false;
  let description: string | undefined;
  let defaultValue: unknown;
  for (let depth = 0; depth < 10; depth++) {
    const meta = current.meta() as { secret?: boolean } | undefined;
    if (meta?.secret) isSecret = true;
    description ??= current.description;
    const def = current.def as { type: string; innerType?: z.ZodType; defaultValue?: unknown };
    if (def.type === 'default' || def.type === 'prefault') defaultValue ??= def.defaultValue;
    if (['default', 'prefault', 'optional', 'nullable'].includes(def.type) && def.innerType) {
      current = def.innerType;
      continue;
    }
    break;
  }
  return { inner: current, secret: isSecret, description, defaultValue };
}

/** Lists every leaf setting of an object schema; records (plugins) are skipped, the caller expands them. */
export function listLeaves(schema: z.ZodType, path: string[] = []): SettingLeaf[] {
  const { inner, secret, description, defaultValue } = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([key, child]) =>
      listLeaves(child, [...path, key]),
    );
  }
  if (inner.def.type === 'record') return [];
  return [{ path, envName: envNameFor(path), schema: inner, secret, description, defaultValue }];
}

/** Env values are strings; non-string leaves take JSON (numbers, booleans, arrays). */
export function parseEnvValue(leaf: SettingLeaf, raw: string): unknown {
  const type = leaf.schema.def.type;
  if (type === 'string' || type === 'enum' || type === 'literal') return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

export function getPath(source: unknown, path: readonly string[]): unknown {
  let node = source;
  for (const segment of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

export function formatIssue(issue: z.core.$ZodIssue, prefix: readonly string[] = []): string {
  const path = [...prefix, ...issue.path.map(String)].join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys.map((key) => (path ? `${path}.${key}` : key));
    return `unknown setting ${keys.map((k) => `"${k}"`).join(', ')}`;
  }
  return `${path ? `"${path}"` : 'config'}: ${issue.message}`;
}
