/**
 * Pure parsing of DDM status reports (declarative/protocol/statusreport.yaml). The device nests item names by
 * their dots ({ "softwareupdate": { "install-state": "downloading" } }); the server keeps one value per dotted
 * name. Items whose value is itself a dictionary are listed, so walking stops there.
 */

const DICTIONARY_ITEMS = new Set([
  'management.client-capabilities',
  'management.declarations',
  'softwareupdate.failure-reason',
  'softwareupdate.install-reason',
  'softwareupdate.pending-version',
  'test.dictionary-value',
]);

/** Arrays of management.declarations, whose entries an incremental report only sends when they changed. */
const DECLARATION_LISTS = ['activations', 'configurations', 'assets', 'management'] as const;

export interface StatusReport {
  items: Map<string, unknown>;
  errors: { statusItem: string; reasons: unknown[] }[];
  fullReport: boolean;
}

export class StatusReportError extends Error {
  readonly code = 'invalid-status-report';
}

const MAX_DEPTH = 6;
const MAX_ITEMS = 500;

const isDict = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses the report's JSON (the check-in's Data). Throws StatusReportError for anything that is not a report. */
export function parseStatusReport(data: unknown): StatusReport {
  if (!Buffer.isBuffer(data)) throw new StatusReportError('Data must carry the status report');
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch {
    throw new StatusReportError('the status report is not JSON');
  }
  if (!isDict(json) || !isDict(json.StatusItems)) throw new StatusReportError('StatusItems must be a dictionary');
  const items = new Map<string, unknown>();
  flatten(json.StatusItems, [], items);
  const errors = Array.isArray(json.Errors)
    ? json.Errors.filter(isDict).map((e) => ({
        statusItem: String(e.StatusItem ?? ''),
        reasons: Array.isArray(e.Reasons) ? e.Reasons : [],
      }))
    : [];
  return { items, errors, fullReport: json.FullReport === true };
}

function flatten(dict: Record<string, unknown>, path: string[], out: Map<string, unknown>): void {
  for (const [key, value] of Object.entries(dict)) {
    const at = [...path, key];
    const name = at.join('.');
    if (isDict(value) && !DICTIONARY_ITEMS.has(name) && at.length < MAX_DEPTH) {
      flatten(value, at, out);
      continue;
    }
    if (out.size >= MAX_ITEMS) throw new StatusReportError(`more than ${MAX_ITEMS} status items`);
    out.set(name, value);
  }
}

/** Array items whose entries an incremental report sends only when they changed, `_removed` for gone ones. */
const IDENTIFIED_LISTS = new Set(['mdm.app', 'app.managed.list']);

/** Puts an incremental status item over the stored one: declaration and app lists merge by identifier, `_removed` drops. */
export function mergeItem(name: string, previous: unknown, reported: unknown, fullReport: boolean): unknown {
  if (IDENTIFIED_LISTS.has(name) && !fullReport && Array.isArray(previous) && Array.isArray(reported)) {
    return mergeById(previous, reported);
  }
  if (name !== 'management.declarations' || fullReport || !isDict(previous) || !isDict(reported)) return reported;
  const merged: Record<string, unknown> = { ...previous };
  for (const list of DECLARATION_LISTS) {
    const incoming = reported[list];
    if (!Array.isArray(incoming)) continue;
    merged[list] = mergeById(Array.isArray(previous[list]) ? (previous[list] as unknown[]) : [], incoming);
  }
  return merged;
}

function mergeById(previous: readonly unknown[], incoming: readonly unknown[]): unknown[] {
  const byId = new Map<string, unknown>();
  for (const entry of previous) if (isDict(entry)) byId.set(String(entry.identifier), entry);
  for (const entry of incoming) {
    if (!isDict(entry)) continue;
    if (entry._removed === true) byId.delete(String(entry.identifier));
    else byId.set(String(entry.identifier), entry);
  }
  return [...byId.values()];
}

/** A declaration's state as the device reported it in management.declarations. */
export interface DeclarationStatus {
  identifier: string;
  serverToken: string;
  active: boolean;
  valid: string;
  reasons: { code: string; description?: string }[];
}

export function declarationStatuses(value: unknown): DeclarationStatus[] {
  if (!isDict(value)) return [];
  return DECLARATION_LISTS.flatMap((list) =>
    (Array.isArray(value[list]) ? (value[list] as unknown[]) : []).filter(isDict).map((entry) => ({
      identifier: String(entry.identifier ?? ''),
      serverToken: String(entry['server-token'] ?? ''),
      active: entry.active === true,
      valid: String(entry.valid ?? 'unknown'),
      reasons: (Array.isArray(entry.reasons) ? entry.reasons : []).filter(isDict).map((r) => ({
        code: String(r.code ?? ''),
        description: typeof r.description === 'string' ? r.description : undefined,
      })),
    })),
  );
}
