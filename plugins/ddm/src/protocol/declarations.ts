import { createHash } from 'node:crypto';
import type { Declaration } from 'enrollment-gateway/sdk';

/**
 * Pure DDM protocol: declarations with their ServerTokens, the tokens and declaration-items responses
 * (declarative/protocol/*.yaml). A ServerToken is a digest of the declaration's whole content, so it changes
 * exactly when the content does; the DeclarationsToken is a digest of the set's identifiers and ServerTokens.
 */

export type DeclarationKind = 'activation' | 'configuration' | 'asset' | 'management';

/** What the device fetches from declaration/{type}/{identifier}. */
export interface ServedDeclaration {
  Type: string;
  Identifier: string;
  ServerToken: string;
  Payload: Record<string, unknown>;
}

export interface DeclarationSet {
  declarations: ServedDeclaration[];
  /** Digest of the sorted (Identifier, ServerToken) pairs. */
  token: string;
}

const KIND_PREFIXES: [string, DeclarationKind][] = [
  ['com.apple.activation.', 'activation'],
  ['com.apple.configuration.', 'configuration'],
  ['com.apple.asset.', 'asset'],
  ['com.apple.management.', 'management'],
];

export function kindOf(type: string): DeclarationKind | undefined {
  return KIND_PREFIXES.find(([prefix]) => type.startsWith(prefix))?.[1];
}

/** JSON with object keys sorted at every level: the same content always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 40);

export function serve(declaration: Declaration): ServedDeclaration {
  const content = { Type: declaration.type, Identifier: declaration.identifier, Payload: declaration.payload };
  return { ...content, ServerToken: digest(canonicalJson(content)) };
}

/** Builds the set: duplicates by identifier keep the first, the order of the token does not depend on input order. */
export function declarationSet(declarations: readonly Declaration[]): DeclarationSet {
  const seen = new Set<string>();
  const served: ServedDeclaration[] = [];
  for (const declaration of declarations) {
    if (seen.has(declaration.identifier)) continue;
    seen.add(declaration.identifier);
    served.push(serve(declaration));
  }
  const pairs = served.map((d) => `${d.Identifier}\u0000${d.ServerToken}`).sort();
  return { declarations: served, token: digest(pairs.join('\n')) };
}

/** The tokens endpoint's answer (TokensResponse with SynchronizationTokens). */
export function tokensResponse(set: DeclarationSet, timestamp: Date): Record<string, unknown> {
  return { SyncTokens: { DeclarationsToken: set.token, Timestamp: rfc3339(timestamp) } };
}

/** The declaration-items endpoint's answer (DeclarationItemsResponse). */
export function declarationItemsResponse(set: DeclarationSet): Record<string, unknown> {
  const items: Record<'Activations' | 'Configurations' | 'Assets' | 'Management', unknown[]> = {
    Activations: [],
    Configurations: [],
    Assets: [],
    Management: [],
  };
  const bucket = {
    activation: 'Activations',
    configuration: 'Configurations',
    asset: 'Assets',
    management: 'Management',
  };
  for (const d of set.declarations) {
    const kind = kindOf(d.Type);
    if (kind) items[bucket[kind] as keyof typeof items].push({ Identifier: d.Identifier, ServerToken: d.ServerToken });
  }
  return { Declarations: items, DeclarationsToken: set.token };
}

/** Seconds precision, "Z": what Apple's examples send. */
export function rfc3339(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

export type Endpoint =
  | { kind: 'tokens' }
  | { kind: 'declaration-items' }
  | { kind: 'status' }
  | { kind: 'declaration'; type: string; identifier: string };

/** Parses the check-in's Endpoint; undefined for anything else. */
export function parseEndpoint(endpoint: unknown): Endpoint | undefined {
  if (typeof endpoint !== 'string' || endpoint.length > 512) return undefined;
  if (endpoint === 'tokens' || endpoint === 'declaration-items' || endpoint === 'status') return { kind: endpoint };
  const match = /^declaration\/([^/]{1,200})\/(.{1,200})$/.exec(endpoint);
  if (!match) return undefined;
  return { kind: 'declaration', type: match[1], identifier: match[2] };
}

/** The DeclarativeManagement command's Data: the SynchronizationTokens the device compares with its own. */
export function syncTokensData(set: DeclarationSet, timestamp: Date): Buffer {
  return Buffer.from(JSON.stringify(tokensResponse(set, timestamp).SyncTokens));
}
