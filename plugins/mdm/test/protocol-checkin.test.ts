import { expect } from 'chai';
import { formatViolations, validateCheckin } from '../../../test/support/apple-schema.js';
import { CheckinError, type CheckinMessage, PlistError, parseCheckin } from '../src/protocol/index.js';

const TOPIC = 'com.apple.mgmt.External.3b5f0c1e-7d2a-4e4b-9f7a-2f0b6f1d9a11';
const UDID = '00008120-001A2B3C4D5E801E';
const PUSH_TOKEN_HEX = 'a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00';

/** Shaped like what iOS 17 sends: tab-indented, Apple DOCTYPE, keys sorted. */
function applePlist(entries: string): Buffer {
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
${entries}
</dict>
</plist>
`,
    'utf8',
  );
}

const AUTHENTICATE_IOS17 = applePlist(`\t<key>BuildVersion</key>
\t<string>21E236</string>
\t<key>IMEI</key>
\t<string>35 209900 176148 1</string>
\t<key>MEID</key>
\t<string>35209900176148</string>
\t<key>MessageType</key>
\t<string>Authenticate</string>
\t<key>OSVersion</key>
\t<string>17.4.1</string>
\t<key>ProductName</key>
\t<string>iPhone15,2</string>
\t<key>SerialNumber</key>
\t<string>F2LZK1ABCD12</string>
\t<key>Topic</key>
\t<string>${TOPIC}</string>
\t<key>UDID</key>
\t<string>${UDID}</string>`);

const TOKEN_UPDATE_IOS17 = applePlist(`\t<key>AwaitingConfiguration</key>
\t<false/>
\t<key>MessageType</key>
\t<string>TokenUpdate</string>
\t<key>PushMagic</key>
\t<string>6A2D9F0E-3C41-4B7A-8E55-0F1D2C3B4A59</string>
\t<key>Token</key>
\t<data>
\t${Buffer.from(PUSH_TOKEN_HEX, 'hex').toString('base64')}
\t</data>
\t<key>Topic</key>
\t<string>${TOPIC}</string>
\t<key>UDID</key>
\t<string>${UDID}</string>
\t<key>UnlockToken</key>
\t<data>
\tRFpMVUNLVE9LRU4tZXhhbXBsZS1ieXRlcy0xMjM0NTY3ODkw
\t</data>`);

const TOKEN_UPDATE_USER_ENROLLMENT = applePlist(`\t<key>EnrollmentID</key>
\t<string>8D1C5B6E4A3F2E1D</string>
\t<key>MessageType</key>
\t<string>TokenUpdate</string>
\t<key>PushMagic</key>
\t<string>0C6E2B3A-9D8F-4E7A-B1C2-D3E4F5A6B7C8</string>
\t<key>Token</key>
\t<data>${Buffer.from(PUSH_TOKEN_HEX, 'hex').toString('base64')}</data>
\t<key>Topic</key>
\t<string>${TOPIC}</string>`);

const CHECK_OUT = applePlist(`\t<key>MessageType</key>
\t<string>CheckOut</string>
\t<key>Topic</key>
\t<string>${TOPIC}</string>
\t<key>UDID</key>
\t<string>${UDID}</string>`);

const USER_AUTHENTICATE = applePlist(`\t<key>DigestResponse</key>
\t<string>username="alice",nonce="abc",response="def"</string>
\t<key>MessageType</key>
\t<string>UserAuthenticate</string>
\t<key>UDID</key>
\t<string>564D7A52-1E28-4F1B-9E5E-7B0C0D7E1A11</string>
\t<key>UserID</key>
\t<string>A1B2C3D4-0000-1111-2222-333344445555</string>`);

const DECLARATIVE_MANAGEMENT = applePlist(`\t<key>Endpoint</key>
\t<string>tokens</string>
\t<key>MessageType</key>
\t<string>DeclarativeManagement</string>
\t<key>Topic</key>
\t<string>${TOPIC}</string>
\t<key>UDID</key>
\t<string>${UDID}</string>`);

function expectCheckinError(body: Buffer, reason: CheckinError['reason'], path?: string): CheckinError {
  let caught: unknown;
  try {
    parseCheckin(body);
  } catch (error) {
    caught = error;
  }
  expect(caught).to.be.instanceOf(CheckinError);
  const error = caught as CheckinError;
  expect(error.reason).to.equal(reason);
  if (path) expect(error.issues.map((i) => i.path)).to.include(path);
  return error;
}

function as<T extends CheckinMessage['messageType']>(
  m: CheckinMessage,
  type: T,
): Extract<CheckinMessage, { messageType: T }> {
  expect(m.messageType).to.equal(type);
  return m as Extract<CheckinMessage, { messageType: T }>;
}

describe('protocol/checkin parseCheckin', () => {
  it('parses an iOS 17 Authenticate and keeps the raw bytes', () => {
    const m = as(parseCheckin(AUTHENTICATE_IOS17), 'Authenticate');
    expect(m.raw).to.equal(AUTHENTICATE_IOS17);
    expect(m).to.deep.include({
      deviceId: UDID,
      udid: UDID,
      topic: TOPIC,
      buildVersion: '21E236',
      osVersion: '17.4.1',
      productName: 'iPhone15,2',
      serialNumber: 'F2LZK1ABCD12',
      imei: '35 209900 176148 1',
      meid: '35209900176148',
    });
    expect(m.enrollmentId).to.equal(undefined);
    expect(m.plist.MessageType).to.equal('Authenticate');
  });

  it('parses a device-channel TokenUpdate: token as hex, UnlockToken as Buffer', () => {
    const m = as(parseCheckin(TOKEN_UPDATE_IOS17), 'TokenUpdate');
    expect(m.channel).to.equal('device');
    expect(m.token).to.equal(PUSH_TOKEN_HEX);
    expect(m.pushMagic).to.equal('6A2D9F0E-3C41-4B7A-8E55-0F1D2C3B4A59');
    expect(Buffer.isBuffer(m.unlockToken)).to.equal(true);
    expect(m.unlockToken?.toString()).to.equal('DZLUCKTOKEN-example-bytes-1234567890');
    expect(m.awaitingConfiguration).to.equal(false);
    expect(m.deviceId).to.equal(UDID);
  });

  it('parses a User Enrollment TokenUpdate identified by EnrollmentID', () => {
    const m = as(parseCheckin(TOKEN_UPDATE_USER_ENROLLMENT), 'TokenUpdate');
    expect(m.udid).to.equal(undefined);
    expect(m.enrollmentId).to.equal('8D1C5B6E4A3F2E1D');
    expect(m.deviceId).to.equal('8D1C5B6E4A3F2E1D');
    expect(m.unlockToken).to.equal(undefined);
    expect(m.awaitingConfiguration).to.equal(false);
  });

  it('marks a TokenUpdate that names a user as the user channel', () => {
    const body = Buffer.from(
      TOKEN_UPDATE_IOS17.toString().replace(
        '<key>UDID</key>',
        '<key>UserID</key>\n\t<string>FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF</string>\n\t<key>UserShortName</key>\n\t<string>alice@example.com</string>\n\t<key>UDID</key>',
      ),
    );
    const m = as(parseCheckin(body), 'TokenUpdate');
    expect(m.channel).to.equal('user');
    expect(m.userId).to.equal('FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF');
    expect(m.userShortName).to.equal('alice@example.com');
  });

  it('parses CheckOut and UserAuthenticate', () => {
    const out = as(parseCheckin(CHECK_OUT), 'CheckOut');
    expect(out).to.deep.include({ deviceId: UDID, topic: TOPIC });
    const ua = as(parseCheckin(USER_AUTHENTICATE), 'UserAuthenticate');
    expect(ua.userId).to.equal('A1B2C3D4-0000-1111-2222-333344445555');
    expect(ua.digestResponse).to.contain('username="alice"');
  });

  it('returns Unknown with the MessageType for message types it does not handle', () => {
    const m = as(parseCheckin(DECLARATIVE_MANAGEMENT), 'Unknown');
    expect(m.unknownMessageType).to.equal('DeclarativeManagement');
    expect(m.raw).to.equal(DECLARATIVE_MANAGEMENT);
  });

  it('rejects a missing or non-string MessageType', () => {
    expectCheckinError(applePlist(`<key>UDID</key><string>${UDID}</string>`), 'missing-message-type');
    expectCheckinError(applePlist('<key>MessageType</key><integer>1</integer>'), 'missing-message-type');
  });

  it('rejects a message without UDID or EnrollmentID', () => {
    expectCheckinError(
      Buffer.from(AUTHENTICATE_IOS17.toString().replace(/\t<key>UDID<\/key>\n\t<string>[^<]+<\/string>/, '')),
      'invalid-fields',
      'UDID',
    );
    expectCheckinError(
      Buffer.from(CHECK_OUT.toString().replace(/\t<key>UDID<\/key>\n\t<string>[^<]+<\/string>/, '')),
      'invalid-fields',
      'UDID',
    );
  });

  it('rejects wrong types and missing required keys with the offending path', () => {
    // Token as a string instead of <data>.
    expectCheckinError(
      Buffer.from(
        TOKEN_UPDATE_IOS17.toString().replace(
          /<key>Token<\/key>\n\t<data>[^<]+<\/data>/,
          `<key>Token</key><string>${PUSH_TOKEN_HEX}</string>`,
        ),
      ),
      'invalid-fields',
      'Token',
    );
    expectCheckinError(
      Buffer.from(AUTHENTICATE_IOS17.toString().replace(`<string>${TOPIC}</string>`, '<integer>7</integer>')),
      'invalid-fields',
      'Topic',
    );
    expectCheckinError(
      Buffer.from(TOKEN_UPDATE_IOS17.toString().replace('<key>PushMagic</key>', '<key>NotPushMagic</key>')),
      'invalid-fields',
      'PushMagic',
    );
    expectCheckinError(
      Buffer.from(TOKEN_UPDATE_IOS17.toString().replace('<false/>', '<string>no</string>')),
      'invalid-fields',
      'AwaitingConfiguration',
    );
  });

  it('rejects identifiers with characters that do not belong in a UDID', () => {
    expectCheckinError(Buffer.from(CHECK_OUT.toString().replace(UDID, '../../etc/passwd')), 'invalid-fields', 'UDID');
  });

  it('lets unsafe plists through as PlistError, not CheckinError', () => {
    expect(() => parseCheckin(Buffer.from('<!DOCTYPE plist [<!ENTITY a "b">]><plist><dict/></plist>'))).to.throw(
      PlistError,
    );
    expect(() => parseCheckin(AUTHENTICATE_IOS17, { maxBytes: 100 })).to.throw(PlistError);
  });
});

describe('check-in fixtures conform to Apple schema (mdm/checkin/*.yaml)', () => {
  const cases: [string, Buffer, Parameters<typeof validateCheckin>[2]][] = [
    ['Authenticate', AUTHENTICATE_IOS17, { os: 'iOS' }],
    ['TokenUpdate', TOKEN_UPDATE_IOS17, { os: 'iOS' }],
    ['TokenUpdate', TOKEN_UPDATE_USER_ENROLLMENT, { os: 'iOS', enrollment: 'user' }],
    ['CheckOut', CHECK_OUT, { os: 'iOS' }],
    ['UserAuthenticate', USER_AUTHENTICATE, { os: 'macOS', channel: 'user' }],
  ];
  for (const [messageType, body, ctx] of cases) {
    it(`${messageType} (${JSON.stringify(ctx)}) has zero violations`, () => {
      const violations = validateCheckin(messageType, parseCheckin(body).plist, ctx);
      expect(violations, formatViolations(violations)).to.deep.equal([]);
    });
  }
});
