/**
 * Shared pieces of the fuzz tests (fast-check): how many cases to run, how to replay a failure, and the
 * arbitraries that turn a real, valid input (a plist the simulator would send, a PKCS#7 from the SCEP client,
 * a signed Mdm-Signature) into the inputs an attacker or a broken device could send instead.
 *
 *   FUZZ_RUNS=5000 npm test -- plugins/mdm/test/fuzz-plist.test.ts   # every fuzz property runs 5000 cases
 *   FUZZ_SEED=-123 FUZZ_PATH=17:3 npm test -- ...                       # replay the failure fast-check printed
 */
import fc from 'fast-check';

/**
 * Parameters for `fc.assert`: `defaultRuns` cases (what `npm test` runs), or FUZZ_RUNS when set. FUZZ_SEED and
 * FUZZ_PATH replay a reported failure; fast-check's failure message always names both.
 */
export function fuzzParameters<T>(defaultRuns: number): fc.Parameters<T> {
  const runs = Number(process.env.FUZZ_RUNS);
  const seed = process.env.FUZZ_SEED;
  return {
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns,
    ...(seed !== undefined && seed !== '' ? { seed: Number(seed) } : {}),
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
    // Shrinking an HTTP property replays requests; keep the report quick and the counterexample still exact.
    endOnFailure: process.env.FUZZ_SHRINK !== '1',
  };
}

/** The number of cases a property runs (for tests that budget their own timeouts). */
export function fuzzRuns(defaultRuns: number): number {
  return fuzzParameters(defaultRuns).numRuns ?? defaultRuns;
}

type ByteMutation = (bytes: Buffer) => Buffer;

const position = (bytes: Buffer, fraction: number) => Math.min(bytes.length, Math.floor(fraction * bytes.length));

/** One structural edit of a byte string: flip, overwrite, insert, delete, truncate, duplicate, or swap a range. */
const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc
    .record({ at: fc.double({ min: 0, max: 1, noNaN: true }), bit: fc.integer({ min: 0, max: 7 }) })
    .map(({ at, bit }) => (bytes: Buffer) => {
      if (bytes.length === 0) return bytes;
      const out = Buffer.from(bytes);
      const i = Math.min(out.length - 1, position(out, at));
      out[i] ^= 1 << bit;
      return out;
    }),
  fc
    .record({ at: fc.double({ min: 0, max: 1, noNaN: true }), value: fc.uint8Array({ minLength: 1, maxLength: 16 }) })
    .map(({ at, value }) => (bytes: Buffer) => {
      const i = position(bytes, at);
      const out = Buffer.from(bytes);
      Buffer.from(value).copy(out, i);
      return out;
    }),
  fc
    .record({ at: fc.double({ min: 0, max: 1, noNaN: true }), value: fc.uint8Array({ minLength: 1, maxLength: 64 }) })
    .map(({ at, value }) => (bytes: Buffer) => {
      const i = position(bytes, at);
      return Buffer.concat([bytes.subarray(0, i), Buffer.from(value), bytes.subarray(i)]);
    }),
  fc
    .record({ at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 256 }) })
    .map(({ at, length }) => (bytes: Buffer) => {
      const i = position(bytes, at);
      return Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + length)]);
    }),
  fc.double({ min: 0, max: 1, noNaN: true }).map((at) => (bytes: Buffer) => bytes.subarray(0, position(bytes, at))),
  fc
    .record({
      from: fc.double({ min: 0, max: 1, noNaN: true }),
      length: fc.integer({ min: 1, max: 512 }),
      to: fc.double({ min: 0, max: 1, noNaN: true }),
    })
    .map(({ from, length, to }) => (bytes: Buffer) => {
      const start = position(bytes, from);
      const chunk = bytes.subarray(start, start + length);
      const i = position(bytes, to);
      return Buffer.concat([bytes.subarray(0, i), chunk, bytes.subarray(i)]);
    }),
  // ASN.1 lengths: set a byte after a 0x30/0x31/0x04/0x02 tag to an extreme length form.
  fc
    .record({ at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.constantFrom(0x00, 0x7f, 0x80, 0x84, 0xff) })
    .map(({ at, length }) => (bytes: Buffer) => {
      const out = Buffer.from(bytes);
      for (let i = position(out, at); i < out.length - 1; i++) {
        if ([0x30, 0x31, 0x04, 0x02, 0x06, 0xa0].includes(out[i])) {
          out[i + 1] = length;
          break;
        }
      }
      return out;
    }),
);

/** `base` after 1–4 byte-level mutations. */
export function mutatedBytes(base: Buffer): fc.Arbitrary<Buffer> {
  return fc
    .array(byteMutation, { minLength: 1, maxLength: 4 })
    .map((mutations) => mutations.reduce((bytes, mutate) => mutate(bytes), base));
}

/** XML fragments that try the parser's limits: entities, DTDs, CDATA, deep nesting, odd types and values. */
const xmlFragment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '<!DOCTYPE plist [<!ENTITY a "aaaaaaaaaa">]>',
    '<!DOCTYPE plist SYSTEM "file:///etc/passwd">',
    '<!ENTITY x SYSTEM "http://127.0.0.1/">',
    '&a;',
    '&#0;',
    '&#x110000;',
    '&amp;&lt;&gt;&quot;&apos;',
    '<![CDATA[<dict>]]>',
    '<![CDATA[',
    ']]>',
    '<!-- -->',
    '<!--',
    '<?xml version="1.0"?>',
    '<?xml-stylesheet href="x"?>',
    '</dict>',
    '</plist>',
    '<dict>',
    '<array>',
    '<key>',
    '</key>',
    '<key/>',
    '<string/>',
    '<data>!!!not base64</data>',
    '<data>',
    '<date>not a date</date>',
    '<date>9999-99-99T99:99:99Z</date>',
    '<integer>99999999999999999999999999999</integer>',
    '<integer>0x10</integer>',
    '<integer>-</integer>',
    '<real>NaN</real>',
    '<real>1e309</real>',
    '<real>-Infinity</real>',
    '<true/>',
    '<false>x</false>',
    '<unknown/>',
    '<key>__proto__</key><dict/>',
    '<key>constructor</key><string>x</string>',
    '<dict xmlns="urn:x" a="1" a="2">',
    '<dict a=1>',
    '<plist version="1.0">',
    '\u0000',
    '\ufeff',
    '\ud800',
    '<',
    '>',
    '&',
  ),
  fc.integer({ min: 1, max: 80 }).map((depth) => '<array>'.repeat(depth) + '</array>'.repeat(depth)),
  fc.integer({ min: 1, max: 80 }).map((depth) => '<dict><key>k</key>'.repeat(depth)),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => `<string>${s}</string>`),
);

type TextMutation = (text: string) => string;

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  fc
    .record({ at: fc.double({ min: 0, max: 1, noNaN: true }), fragment: xmlFragment })
    .map(({ at, fragment }) => (text: string) => {
      const i = Math.floor(at * text.length);
      return text.slice(0, i) + fragment + text.slice(i);
    }),
  // Swap one element type for another: <string> → <integer>, <dict> → <array>, …
  fc
    .record({
      from: fc.constantFrom('string', 'integer', 'dict', 'array', 'data', 'date', 'real', 'key'),
      to: fc.constantFrom('string', 'integer', 'dict', 'array', 'data', 'date', 'real', 'key', 'true', 'x'),
      nth: fc.nat({ max: 20 }),
    })
    .map(({ from, to, nth }) => (text: string) => {
      let seen = 0;
      return text.replace(new RegExp(`<(/?)${from}>`, 'g'), (match, slash: string) =>
        Math.floor(seen++ / 2) === nth ? `<${slash}${to}>` : match,
      );
    }),
  // Drop the text of one element (an empty key, an empty UDID, …).
  fc.nat({ max: 30 }).map((nth) => (text: string) => {
    let seen = 0;
    return text.replace(/>([^<]+)</g, (match) => (seen++ === nth ? '><' : match));
  }),
  // Blow a value up in size.
  fc.record({ nth: fc.nat({ max: 30 }), times: fc.integer({ min: 2, max: 5000 }) }).map(({ nth, times }) => {
    return (text: string) => {
      let seen = 0;
      return text.replace(/>([^<]+)</g, (match, value: string) =>
        seen++ === nth ? `>${value.repeat(times).slice(0, 200_000)}<` : match,
      );
    };
  }),
);

/** `base` (an XML plist) after 1–4 text-level mutations: XML tricks, type swaps, emptied and oversized values. */
export function mutatedPlistText(base: Buffer): fc.Arbitrary<Buffer> {
  return fc.array(textMutation, { minLength: 1, maxLength: 4 }).map((mutations) =>
    Buffer.from(
      mutations.reduce((text, mutate) => mutate(text), base.toString('utf8')),
      'utf8',
    ),
  );
}

/** A plist value of any shape (what `buildPlist` accepts), for messages with the right keys but wrong values. */
export const plistValue = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ maxLength: 40 }),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.date({ noInvalidDate: true }),
    fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 12 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/**
 * A dictionary derived from a valid message `base`: some keys keep their value, some get a value of another
 * type, some are dropped, and unknown keys are added.
 */
export function mutatedDict(base: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(base);
  return fc
    .record({
      replaced: fc.dictionary(fc.constantFrom(...keys), plistValue, { maxKeys: 3 }),
      dropped: fc.subarray(keys, { maxLength: 2 }),
      added: fc.dictionary(fc.string({ maxLength: 16 }), plistValue, { maxKeys: 2 }),
    })
    .map(({ replaced, dropped, added }) => {
      const out: Record<string, unknown> = { ...added, ...base, ...replaced };
      for (const key of dropped) delete out[key];
      return out;
    });
}

/** Random bytes, random text and random base64: inputs with no relation to the expected format. */
export const noise: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
  fc.string({ maxLength: 512 }).map((s) => Buffer.from(s, 'utf8')),
  fc.string({ unit: 'binary', maxLength: 256 }).map((s) => Buffer.from(s, 'utf8')),
);

/** Form fields a browser (or a script posing as one) could post: known names with any value, plus junk names. */
export function formFields(names: readonly string[]): fc.Arbitrary<Record<string, string>> {
  const value = fc.oneof(
    fc.string({ maxLength: 64 }),
    fc.string({ unit: 'binary', maxLength: 64 }),
    fc.constantFrom('', ' ', '0', '-1', 'true', 'null', '[]', '{}', '<script>', '../../etc', 'a'.repeat(5000)),
  );
  return fc
    .record({
      known: fc.dictionary(fc.constantFrom(...names), value, { maxKeys: names.length }),
      extra: fc.dictionary(fc.string({ maxLength: 16 }), value, { maxKeys: 3 }),
    })
    .map(({ known, extra }) => ({ ...extra, ...known }));
}

/** Any JSON value (for admin API bodies), including the shapes zod schemas must refuse. */
export const jsonValue: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 3 });

/** A JSON object keyed by `names` (and junk) with values of any JSON type. */
export function jsonBody(names: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record({
      known: fc.dictionary(fc.constantFrom(...names), jsonValue, { maxKeys: names.length }),
      extra: fc.dictionary(fc.string({ maxLength: 16 }), jsonValue, { maxKeys: 2 }),
    })
    .map(({ known, extra }) => ({ ...extra, ...known }));
}
