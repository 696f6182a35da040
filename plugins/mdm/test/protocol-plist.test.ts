import { expect } from 'chai';
import { buildBinary } from 'plist';
import { buildPlist, PlistError, type PlistErrorReason, parseDevicePlist } from '../src/protocol/index.js';

const HEADER =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n';
const doc = (body: string, header = HEADER) => Buffer.from(`${header}<plist version="1.0">${body}</plist>`, 'utf8');

function expectRefused(bytes: Buffer, reason: PlistErrorReason, limits?: Parameters<typeof parseDevicePlist>[1]): void {
  let caught: unknown;
  try {
    parseDevicePlist(bytes, limits);
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected PlistError(${reason})`).to.be.instanceOf(PlistError);
  expect((caught as PlistError).reason).to.equal(reason);
}

/** `depth` nested <dict>s around one key, inside <plist>: element depth = depth + 1 (+1 for the leaf string). */
function nestedDicts(depth: number): Buffer {
  return doc(
    `${'<dict><key>k</key>'.repeat(depth - 1)}<dict><key>leaf</key><string>x</string></dict>${'</dict>'.repeat(depth - 1)}`,
  );
}

describe('protocol/plist-safe parseDevicePlist', () => {
  it('parses an Apple-formatted plist into plain values (data → Buffer, date → Date)', () => {
    const parsed = parseDevicePlist(
      doc(`<dict>
        <key>Name</key><string>A &amp; B &#x263A;</string>
        <key>Count</key><integer>42</integer>
        <key>Ratio</key><real>0.5</real>
        <key>On</key><true/>
        <key>Off</key><false/>
        <key>Blob</key><data>
          AAEC
          /w==
        </data>
        <key>When</key><date>2024-05-01T12:00:00Z</date>
        <key>List</key><array><string>a</string><dict><key>x</key><integer>1</integer></dict></array>
        <key>Empty</key><dict/>
        <!-- a comment with <dict> in it does not count -->
        <key>Text</key><string><![CDATA[<raw> & text]]></string>
      </dict>`),
    );
    expect(parsed.Name).to.equal('A & B \u263A');
    expect(parsed.Count).to.equal(42);
    expect(parsed.Ratio).to.equal(0.5);
    expect(parsed.On).to.equal(true);
    expect(parsed.Off).to.equal(false);
    expect(Buffer.isBuffer(parsed.Blob)).to.equal(true);
    expect((parsed.Blob as Buffer).toString('hex')).to.equal('000102ff');
    expect((parsed.When as Date).toISOString()).to.equal('2024-05-01T12:00:00.000Z');
    expect(parsed.List).to.deep.equal(['a', { x: 1 }]);
    expect(parsed.Empty).to.deep.equal({});
    expect(parsed.Text).to.equal('<raw> & text');
  });

  it('accepts a body without XML declaration or DOCTYPE, and a UTF-8 BOM', () => {
    expect(parseDevicePlist(doc('<dict><key>a</key><string>b</string></dict>', ''))).to.deep.equal({ a: 'b' });
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), doc('<dict/>')]);
    expect(parseDevicePlist(withBom)).to.deep.equal({});
  });

  it('refuses empty and oversize bodies (default 1 MiB, configurable)', () => {
    expectRefused(Buffer.alloc(0), 'empty');
    const big = doc(`<dict><key>pad</key><string>${'x'.repeat(1024 * 1024)}</string></dict>`);
    expectRefused(big, 'too-large');
    expectRefused(doc('<dict/>'), 'too-large', { maxBytes: 50 });
    expect(parseDevicePlist(big, { maxBytes: 2 * 1024 * 1024 }).pad).to.have.length(1024 * 1024);
  });

  it('refuses binary plists', () => {
    const binary = Buffer.from(buildBinary({ MessageType: 'Authenticate' }));
    expect(binary.subarray(0, 6).toString()).to.equal('bplist');
    expectRefused(binary, 'binary-plist');
  });

  it('refuses bodies that are not UTF-8', () => {
    expectRefused(Buffer.from([0x3c, 0x70, 0xff, 0xfe, 0x3e]), 'not-utf8');
  });

  it('refuses the billion-laughs document quickly, before any expansion', () => {
    const laughs = [
      '<?xml version="1.0"?>',
      '<!DOCTYPE plist [',
      ' <!ENTITY lol "lol">',
      ...Array.from({ length: 9 }, (_, i) => ` <!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`),
      ']>',
      '<plist><dict><key>a</key><string>&lol9;</string></dict></plist>',
    ].join('\n');
    const started = performance.now();
    expectRefused(Buffer.from(laughs), 'entity');
    // An expanding parser would take minutes; the bound only has to tell that apart on a loaded machine.
    expect(performance.now() - started).to.be.below(1000);
  });

  it('refuses ENTITY declarations anywhere, external entities and undeclared entity references', () => {
    expectRefused(
      Buffer.from('<!DOCTYPE plist [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><plist><string>&xxe;</string></plist>'),
      'entity',
    );
    expectRefused(doc('<dict><key>a</key><string>&xxe;</string></dict>'), 'entity');
    expectRefused(doc('<dict><key>a</key><string x="&xxe;">v</string></dict>'), 'entity');
    // An ENTITY hidden in a comment is still refused: the check is deliberately blunt.
    expectRefused(doc('<!-- <!ENTITY a "b"> --><dict/>'), 'entity');
  });

  it('refuses DOCTYPEs with an internal subset and non-plist DOCTYPEs', () => {
    expectRefused(Buffer.from('<!DOCTYPE plist [<!ELEMENT plist ANY>]><plist><dict/></plist>'), 'doctype');
    expectRefused(Buffer.from('<!DOCTYPE plist SYSTEM "http://evil.example/x.dtd"><plist><dict/></plist>'), 'doctype');
    expectRefused(Buffer.from(`${HEADER}<!DOCTYPE plist><plist><dict/></plist>`), 'doctype');
    expectRefused(doc('<!ELEMENT x ANY><dict/>'), 'doctype');
  });

  it('bounds nesting depth with the pre-scan (default 32, configurable)', () => {
    // plist + 30 dicts + string = depth 32: accepted; one more dict: refused.
    expect(() => parseDevicePlist(nestedDicts(30))).not.to.throw();
    expectRefused(nestedDicts(31), 'too-deep');
    expectRefused(nestedDicts(5000), 'too-deep');
    expectRefused(doc(`${'<array>'.repeat(40)}${'</array>'.repeat(40)}`), 'too-deep');
    expectRefused(nestedDicts(10), 'too-deep', { maxDepth: 8 });
  });

  it('refuses malformed XML instead of letting xmldom guess', () => {
    expectRefused(doc('<dict><key>a</key><string>b</dict>'), 'malformed');
    expectRefused(Buffer.from('<plist><dict/></plist><plist/>'), 'malformed');
    expectRefused(Buffer.from('<plist><dict/></plist>trailing'), 'malformed');
    expectRefused(Buffer.from('{ MessageType = Authenticate; }'), 'malformed');
    expectRefused(Buffer.from('<plist><dict><key>a</key>'), 'malformed');
    expectRefused(doc('<dict><key>a</key><bogus>1</bogus></dict>'), 'malformed');
    expectRefused(Buffer.from('<plist version=1.0><dict/></plist>'), 'malformed');
    expectRefused(Buffer.from('<plist a="1" a="2"><dict/></plist>'), 'malformed');
    const started = performance.now();
    expectRefused(Buffer.from(`<plist${' '.repeat(500_000)}x`), 'malformed');
    expect(performance.now() - started).to.be.below(2000);
    expectRefused(doc('<dict><key>__proto__</key><dict><key>polluted</key><true/></dict></dict>'), 'malformed');
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });

  it('refuses what xmldom would only log to stderr: misplaced or malformed XML declarations, bad PIs and public ids', () => {
    expectRefused(doc('<dict/>', `<?xml-stylesheet href="x"?>${HEADER}`), 'malformed');
    expectRefused(doc('<dict/>', '<?xml vstring?>\n'), 'malformed');
    expectRefused(doc('<dict/>', '<? x?>\n'), 'malformed');
    expectRefused(doc('<dict><key>a</key><string>b<?xml version="1.0"?></string></dict>', ''), 'malformed');
    expectRefused(doc('<dict/>', '<!DOCTYPE plist PUBLIC "-//Apple//DTD {PLIST} 1.0//EN" "x">\n'), 'doctype');
    expect(parseDevicePlist(doc('<dict/>', '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'))).to.deep.equal(
      {},
    );
    expect(parseDevicePlist(doc('<dict/>', "<?xml version='1.0'?><?app-hint x?>"))).to.deep.equal({});
  });

  it("counts only XML's four white-space characters as white space (a U+FEFF in an end tag came from the fuzzer)", () => {
    for (const space of ['\uFEFF', '\u00A0', '\u2028', '\u3000']) {
      expectRefused(Buffer.from(`<plist version="1.0"><dict/></plist${space}>`), 'malformed');
      expectRefused(Buffer.from(`<plist version="1.0"><dict/></plist>${space}`), 'malformed');
      expectRefused(Buffer.from(`<plist${space}version="1.0"><dict/></plist>`), 'malformed');
      expectRefused(doc('<dict/>', `<?xml${space}version="1.0"?>`), 'malformed');
    }
    expect(parseDevicePlist(Buffer.from('<plist version="1.0" ><dict/></plist \t\r\n>\n'))).to.deep.equal({});
  });

  it('refuses values the plist package would silently turn into NaN or Invalid Date', () => {
    expectRefused(doc('<dict><key>n</key><integer>abc</integer></dict>'), 'invalid-value');
    expectRefused(doc('<dict><key>d</key><date>yesterday</date></dict>'), 'invalid-value');
  });

  it('requires a dictionary at the top level', () => {
    expectRefused(doc('<array><string>a</string></array>'), 'not-a-dictionary');
    expectRefused(doc('<string>a</string>'), 'not-a-dictionary');
  });

  // Its speed is measured by `npm run bench -- plist`, not here: a timed test fails on a loaded machine.
  it('parses a ~0.9 MiB device report with 4,000 applications', () => {
    const items = Array.from(
      { length: 4000 },
      (_, i) =>
        `<dict><key>Identifier</key><string>com.example.app${i}</string><key>Name</key><string>App ${i}</string>` +
        `<key>Version</key><string>1.${i}</string><key>BundleSize</key><integer>${i * 1000}</integer>` +
        `<key>IsValidated</key><true/></dict>`,
    );
    const body = doc(`<dict><key>InstalledApplicationList</key><array>${items.join('')}</array></dict>`);
    expect(body.length)
      .to.be.above(700_000)
      .and.below(1024 * 1024);
    const parsed = parseDevicePlist(body);
    expect(parsed.InstalledApplicationList).to.have.length(4000);
  });
});

describe('protocol/plist-safe buildPlist', () => {
  it('writes Buffers as <data>, Dates as <date>, skips undefined and round-trips', () => {
    const when = new Date('2024-05-01T12:00:00Z');
    const xml = buildPlist({
      Payload: Buffer.from([0, 1, 2, 255]),
      Bytes: new Uint8Array([9, 8]),
      When: when,
      Count: 3,
      Ratio: 0.25,
      Flag: false,
      Missing: undefined,
      List: ['a', { b: 1 }],
    });
    const text = xml.toString('utf8');
    expect(text).to.contain('<data>AAEC/w==</data>');
    expect(text).to.contain('<date>2024-05-01T12:00:00Z</date>');
    expect(text).to.contain('<integer>3</integer>');
    expect(text).to.contain('<real>0.25</real>');
    expect(text).not.to.contain('Missing');
    const back = parseDevicePlist(xml);
    expect((back.Payload as Buffer).equals(Buffer.from([0, 1, 2, 255]))).to.equal(true);
    expect((back.Bytes as Buffer).equals(Buffer.from([9, 8]))).to.equal(true);
    expect((back.When as Date).getTime()).to.equal(when.getTime());
    expect(back.List).to.deep.equal(['a', { b: 1 }]);
  });

  it('escapes markup in strings and keys', () => {
    const xml = buildPlist({ '<k>': '</string><string>&injected;' });
    expect(parseDevicePlist(xml)).to.deep.equal({ '<k>': '</string><string>&injected;' });
  });

  it('refuses values with no plist form instead of dropping them', () => {
    const bad: unknown[] = [null, Number.NaN, Number.POSITIVE_INFINITY, new Date('nope'), () => 1, Symbol('s')];
    for (const value of bad) {
      expect(() => buildPlist({ a: [value] } as never), String(value)).to.throw(PlistError);
    }
    expect(() => buildPlist({ a: new Uint16Array(2) } as never)).to.throw(PlistError);
  });
});
