import { build as buildXmlPlist, parse as parseXmlPlist } from 'plist';
import { PlistError } from './errors.js';

/** A value as parsed from a device plist. `<data>` becomes a Buffer; `<integer>` and `<real>` both become numbers. */
export type PlistNode = string | number | boolean | Date | Buffer | PlistNode[] | PlistDict;
export interface PlistDict {
  [key: string]: PlistNode;
}

/** A value `buildPlist` accepts. `undefined` dictionary values are omitted (optional keys). */
export type PlistInput =
  | string
  | number
  | bigint
  | boolean
  | Date
  | Uint8Array
  | readonly PlistInput[]
  | { readonly [key: string]: PlistInput | undefined };

export interface PlistLimits {
  /** Largest accepted body in bytes. Check-ins are a few KiB; 1 MiB leaves room for big app lists. */
  maxBytes?: number;
  /** Deepest accepted element nesting, counting `<plist>` itself. */
  maxDepth?: number;
}

export const DEFAULT_PLIST_LIMITS: Required<PlistLimits> = { maxBytes: 1024 * 1024, maxDepth: 32 };

const utf8 = new TextDecoder('utf-8', { fatal: true });
// The DOCTYPE Apple writes (and the only one we accept): a public/system id, never an internal subset.
// The public id holds PubidChars only (XML 1.0 §2.3; xmldom logs anything else and carries on).
const APPLE_DOCTYPE =
  /^<!DOCTYPE[ \t\r\n]+plist([ \t\r\n]+PUBLIC[ \t\r\n]+"[-a-zA-Z0-9 '()+,./:=?;!*#@$_%]*"[ \t\r\n]+"[^"<>[\]]*")?[ \t\r\n]*>$/;
// Outside the five predefined entities and character references, a reference needs a DTD we refuse to read.
const FOREIGN_ENTITY_REF = /&(?!(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});)/;
// The rest of a start tag: quoted attributes only (xmldom merely warns about unquoted ones), then `>` or `/>`.
// Unambiguous enough to stay linear on long whitespace runs.
const ATTRIBUTE = /[ \t\r\n]+([A-Za-z_:][\w.:-]*)[ \t\r\n]*=[ \t\r\n]*(?:"[^"<]*"|'[^'<]*')/g;
const TAG_REST = /(?:[ \t\r\n]+[A-Za-z_:][\w.:-]*[ \t\r\n]*=[ \t\r\n]*(?:"[^"<]*"|'[^'<]*'))*[ \t\r\n]*\/?>/y;
const NAME_CHAR = /[A-Za-z0-9_.:-]/;
// XML's white space (S, XML 1.0 §2.3) is these four characters only; JavaScript's \s and trim() take many more.
const XML_SPACE_TAIL = /[ \t\r\n]+$/;
const NOT_XML_SPACE = /[^ \t\r\n]/;
// The XML declaration as XML 1.0 §2.8 allows it (only at the very start; the BOM is stripped before the scan).
const XML_DECLARATION =
  /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.[0-9]+\1([ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])[A-Za-z][\w.-]*\3)?([ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(yes|no)\5)?[ \t\r\n]*\?>$/;

/**
 * Parses an XML property list sent by a device into a plain dictionary, refusing anything that could make the XML
 * parser do unbounded work: bodies over `maxBytes`, binary plists, DOCTYPEs with an internal subset, any ENTITY
 * declaration or non-predefined entity reference, and nesting deeper than `maxDepth`. The cheap linear pre-scan
 * also enforces the well-formedness rules xmldom would only warn about (it logs and carries on otherwise).
 */
export function parseDevicePlist(bytes: Buffer | Uint8Array, limits: PlistLimits = {}): PlistDict {
  const { maxBytes, maxDepth } = { ...DEFAULT_PLIST_LIMITS, ...limits };
  if (bytes.length === 0) throw new PlistError('empty', 'empty body');
  if (bytes.length > maxBytes) throw new PlistError('too-large', `body of ${bytes.length} bytes exceeds ${maxBytes}`);
  if (startsWithAscii(bytes, 'bplist')) throw new PlistError('binary-plist', 'binary plists are not accepted');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (cause) {
    throw new PlistError('not-utf8', 'body is not valid UTF-8', { cause });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  prescanXml(text, maxDepth);
  let parsed: unknown;
  try {
    parsed = parseXmlPlist(text);
  } catch (cause) {
    throw new PlistError('malformed', `not a valid XML plist: ${shortMessage(cause)}`, { cause });
  }
  if (!isPlainRecord(parsed)) throw new PlistError('not-a-dictionary', 'top-level value is not a <dict>');
  return normalizeDict(parsed);
}

/** Builds an XML plist. Buffers/Uint8Arrays become `<data>`, Dates `<date>`, whole numbers `<integer>`. */
export function buildPlist(value: PlistInput): Buffer {
  checkBuildable(value, '(root)', 0);
  try {
    // The cast is safe: checkBuildable proved the value is made of plist-representable parts only.
    return Buffer.from(buildXmlPlist(value as Parameters<typeof buildXmlPlist>[0]), 'utf8');
  } catch (cause) {
    throw new PlistError('unbuildable', `cannot build plist: ${shortMessage(cause)}`, { cause });
  }
}

function startsWithAscii(bytes: Uint8Array, prefix: string): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

function shortMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].slice(0, 120);
}

/**
 * One linear pass over the document: tracks the element stack (depth bound, matching end tags, a single root),
 * and rejects DTD constructs and entity references before xmldom ever sees them.
 */
function prescanXml(text: string, maxDepth: number): void {
  if (/<!ENTITY/i.test(text)) throw new PlistError('entity', 'ENTITY declarations are not accepted');
  const stack: string[] = [];
  let seenRoot = false;
  let seenDoctype = false;
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const textEnd = lt === -1 ? text.length : lt;
    checkCharacterData(text.slice(i, textEnd), stack.length > 0);
    if (lt === -1) break;
    if (text.startsWith('<?', lt)) {
      i = skipPast(text, lt, '?>');
      checkProcessingInstruction(text.slice(lt, i), lt);
    } else if (text.startsWith('<!--', lt)) {
      i = skipPast(text, lt, '-->');
    } else if (text.startsWith('<![CDATA[', lt)) {
      if (stack.length === 0) throw new PlistError('malformed', 'CDATA outside the root element');
      i = skipPast(text, lt, ']]>');
    } else if (/^<!DOCTYPE/i.test(text.slice(lt, lt + 9))) {
      const end = text.indexOf('>', lt);
      if (end === -1) throw new PlistError('malformed', 'unterminated DOCTYPE');
      const doctype = text.slice(lt, end + 1);
      if (text.slice(lt, end).includes('['))
        throw new PlistError('doctype', 'DOCTYPE internal subsets are not accepted');
      if (seenDoctype || seenRoot || !APPLE_DOCTYPE.test(doctype)) {
        throw new PlistError('doctype', 'only the standard plist DOCTYPE is accepted');
      }
      seenDoctype = true;
      i = end + 1;
    } else if (text.startsWith('<!', lt)) {
      throw new PlistError('doctype', 'markup declarations are not accepted');
    } else if (text.startsWith('</', lt)) {
      const end = text.indexOf('>', lt);
      if (end === -1) throw new PlistError('malformed', 'unterminated end tag');
      // ETag ::= '</' Name S? '>' — only XML whitespace may follow the name (String.trim also strips U+FEFF, U+00A0…).
      const name = text.slice(lt + 2, end).replace(XML_SPACE_TAIL, '');
      if (stack.pop() !== name) throw new PlistError('malformed', 'mismatched end tag');
      i = end + 1;
    } else {
      i = scanStartTag(text, lt, stack, seenRoot, maxDepth);
      seenRoot = true;
    }
  }
  if (!seenRoot) throw new PlistError('malformed', 'no root element');
  if (stack.length > 0) throw new PlistError('malformed', 'unclosed element');
}

/**
 * xmldom reports a misplaced or malformed XML declaration, or a PI without a target, to the console and carries
 * on: a device could fill the server's stderr with one line per request. Refuse them here instead.
 */
function checkProcessingInstruction(instruction: string, at: number): void {
  const target = /^<\?([A-Za-z_:][\w.:-]*)(?:[ \t\r\n]|\?>)/.exec(instruction)?.[1];
  if (target === undefined) throw new PlistError('malformed', 'invalid processing instruction');
  if (target.toLowerCase() !== 'xml') return;
  if (at !== 0 || !XML_DECLARATION.test(instruction)) throw new PlistError('malformed', 'invalid XML declaration');
}

function checkCharacterData(chunk: string, insideRoot: boolean): void {
  if (chunk.length === 0) return;
  if (!insideRoot && NOT_XML_SPACE.test(chunk)) throw new PlistError('malformed', 'text outside the root element');
  if (FOREIGN_ENTITY_REF.test(chunk)) throw new PlistError('entity', 'entity references need a DTD; refused');
}

function skipPast(text: string, from: number, terminator: string): number {
  const end = text.indexOf(terminator, from);
  if (end === -1) throw new PlistError('malformed', `missing ${terminator}`);
  return end + terminator.length;
}

/** Reads `<name attr="v" ...>` or `<name/>` at `lt`; pushes non-empty elements. Returns the index after `>`. */
function scanStartTag(text: string, lt: number, stack: string[], seenRoot: boolean, maxDepth: number): number {
  let j = lt + 1;
  while (j < text.length && NAME_CHAR.test(text[j])) j++;
  const name = text.slice(lt + 1, j);
  if (name === '' || !/^[A-Za-z_]/.test(name)) throw new PlistError('malformed', 'invalid tag');
  if (stack.length === 0 && seenRoot) throw new PlistError('malformed', 'more than one root element');
  TAG_REST.lastIndex = j;
  const rest = TAG_REST.exec(text);
  if (!rest) throw new PlistError('malformed', 'invalid start tag');
  if (FOREIGN_ENTITY_REF.test(rest[0])) throw new PlistError('entity', 'entity references need a DTD; refused');
  const attributeNames = [...rest[0].matchAll(ATTRIBUTE)].map((m) => m[1]);
  if (new Set(attributeNames).size !== attributeNames.length) throw new PlistError('malformed', 'duplicate attribute');
  if (!rest[0].endsWith('/>')) {
    stack.push(name);
    if (stack.length > maxDepth) throw new PlistError('too-deep', `nesting deeper than ${maxDepth}`);
  }
  return TAG_REST.lastIndex;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Date) &&
    !ArrayBuffer.isView(value)
  );
}

function normalizeDict(source: Record<string, unknown>): PlistDict {
  const out: PlistDict = {};
  for (const [key, value] of Object.entries(source)) out[key] = normalizeNode(value);
  return out;
}

/** Turns `plist`'s output into PlistNodes: Uint8Array → Buffer; NaN numbers and invalid dates are refused. */
function normalizeNode(value: unknown): PlistNode {
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new PlistError('invalid-value', 'number is not a finite value');
    return value;
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new PlistError('invalid-value', 'invalid <date>');
    return value;
  }
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(normalizeNode);
  if (isPlainRecord(value)) return normalizeDict(value);
  throw new PlistError('invalid-value', 'unsupported plist element');
}

const MAX_BUILD_DEPTH = 64;

/** Refuses values `plist.build` would silently drop or mangle (null, NaN, invalid dates, functions, cycles). */
function checkBuildable(value: unknown, path: string, depth: number): void {
  if (depth > MAX_BUILD_DEPTH) throw new PlistError('unbuildable', `${path}: nesting deeper than ${MAX_BUILD_DEPTH}`);
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new PlistError('unbuildable', `${path}: number is not finite`);
      return;
    case 'object':
      break;
    default:
      throw new PlistError('unbuildable', `${path}: ${typeof value} has no plist form`);
  }
  if (value === null) throw new PlistError('unbuildable', `${path}: null has no plist form`);
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new PlistError('unbuildable', `${path}: invalid date`);
    return;
  }
  if (value instanceof Uint8Array) return;
  if (ArrayBuffer.isView(value)) throw new PlistError('unbuildable', `${path}: only Uint8Array/Buffer become <data>`);
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      checkBuildable(item, `${path}[${index}]`, depth + 1);
    });
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) checkBuildable(item, `${path}.${key}`, depth + 1);
  }
}
