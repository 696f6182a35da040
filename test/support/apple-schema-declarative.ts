/**
 * Conformance checks for declarative device management against Apple's schemas in the `declarative/` folder of
 * github.com/apple/device-management (found like the MDM ones: APPLE_SCHEMA_DIR, see apple-schema-dir.ts).
 *
 *   validateDeclaration({ Type, Identifier, ServerToken, Payload })   // the base keys, then Payload by Type
 *   validateStatusItem('softwareupdate.install-state', 'downloading')
 *   validateStatusReport(report)                                         // the report, then every item in it
 *   validateDeclarativeProtocol('TokensResponse', body)
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { appleSchemaDir, type SchemaContext, type SchemaViolation, validateWithSchemaFile } from './apple-schema.js';

interface DeclarativeFile {
  title: string;
  payload: { declarationtype?: string; statusitemtype?: string; requesttype?: string; supportedOS?: unknown };
  payloadkeys?: unknown[];
}

interface DeclarativeIndex {
  base: DeclarativeFile;
  declarations: Map<string, DeclarativeFile>;
  status: Map<string, DeclarativeFile>;
  protocol: Map<string, DeclarativeFile>;
}
let cached: { dir: string; index: DeclarativeIndex } | undefined;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) return yamlFiles(full);
      return name.endsWith('.yaml') ? [full] : [];
    });
}

function load(dir: string, key: 'declarationtype' | 'statusitemtype' | 'requesttype'): Map<string, DeclarativeFile> {
  const out = new Map<string, DeclarativeFile>();
  for (const file of yamlFiles(dir)) {
    const parsed = YAML.parse(readFileSync(file, 'utf8')) as DeclarativeFile;
    const id = parsed.payload?.[key];
    if (typeof id === 'string') out.set(id, parsed);
  }
  return out;
}

function index(): DeclarativeIndex {
  const dir = path.join(appleSchemaDir(), 'declarative');
  if (!existsSync(dir)) throw new Error(`Apple's declarative schemas are not in ${dir}`);
  if (cached?.dir !== dir) {
    cached = {
      dir,
      index: {
        base: YAML.parse(readFileSync(path.join(dir, 'declarations/declarationbase.yaml'), 'utf8')) as DeclarativeFile,
        declarations: load(path.join(dir, 'declarations'), 'declarationtype'),
        status: load(path.join(dir, 'status'), 'statusitemtype'),
        protocol: load(path.join(dir, 'protocol'), 'requesttype'),
      },
    };
  }
  return cached.index;
}

const unknownSchema = (what: string): SchemaViolation[] => [
  { path: '', kind: 'unknown-schema', message: `no declarative schema for ${what}` },
];
const under = (prefix: string, violations: SchemaViolation[]) =>
  violations.map((v) => ({ ...v, path: v.path ? `${prefix}.${v.path}` : prefix }));

export function listDeclarationTypes(): string[] {
  return [...index().declarations.keys()];
}

/** A served declaration: Type, Identifier, ServerToken and Payload, the Payload checked against its Type's schema. */
export function validateDeclaration(declaration: unknown, ctx: SchemaContext = {}): SchemaViolation[] {
  const { base, declarations } = index();
  const violations = validateWithSchemaFile(base, declaration, ctx);
  const d = declaration as { Type?: unknown; Identifier?: unknown; ServerToken?: unknown; Payload?: unknown };
  for (const key of ['Identifier', 'ServerToken'] as const) {
    if (typeof d[key] === 'string' && Buffer.byteLength(d[key] as string) > 64)
      violations.push({ path: key, kind: 'out-of-range', message: 'longer than 64 octets' });
  }
  const file = typeof d.Type === 'string' ? declarations.get(d.Type) : undefined;
  if (!file) return [...violations, ...unknownSchema(`declaration type ${String(d.Type)}`)];
  return [...violations, ...under('Payload', validateWithSchemaFile(file, d.Payload, ctx))];
}

export function validateStatusItem(name: string, value: unknown, ctx: SchemaContext = {}): SchemaViolation[] {
  const file = index().status.get(name);
  if (!file) return unknownSchema(`status item ${name}`);
  return validateWithSchemaFile(file, { [name]: value }, ctx);
}

/** Status item names in a report's nested StatusItems, stopping at the names that have a schema. */
export function statusItemsOf(nested: Record<string, unknown>, prefix = ''): [string, unknown][] {
  const known = index().status;
  return Object.entries(nested).flatMap(([key, value]): [string, unknown][] => {
    const name = prefix ? `${prefix}.${key}` : key;
    if (known.has(name)) return [[name, value]];
    if (value && typeof value === 'object' && !Array.isArray(value))
      return statusItemsOf(value as Record<string, unknown>, name);
    return [[name, value]];
  });
}

/** A status report (declarative/protocol/statusreport.yaml), then every status item in it. */
export function validateStatusReport(report: unknown, ctx: SchemaContext = {}): SchemaViolation[] {
  const violations = validateDeclarativeProtocol('StatusReport', report, ctx);
  const items = (report as { StatusItems?: unknown }).StatusItems;
  if (!items || typeof items !== 'object') return violations;
  for (const [name, value] of statusItemsOf(items as Record<string, unknown>)) {
    violations.push(...under(`StatusItems.${name}`, validateStatusItem(name, value, ctx)));
  }
  return violations;
}

/** 'TokensResponse', 'DeclarationItemsResponse' or 'StatusReport'. */
export function validateDeclarativeProtocol(kind: string, body: unknown, ctx: SchemaContext = {}): SchemaViolation[] {
  const file = index().protocol.get(kind);
  if (!file) return unknownSchema(kind);
  return validateWithSchemaFile(file, body, ctx);
}
