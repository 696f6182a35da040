import { expect } from 'chai';
import fc from 'fast-check';
import { defaultDeviceInfo } from '../../../test/support/device-simulator-info.js';
import { DeviceState } from '../../../test/support/device-simulator-state.js';
import { fuzzParameters, mutatedBytes, mutatedDict, mutatedPlistText, noise } from '../../../test/support/fuzz.js';
import {
  buildPlist,
  MdmProtocolError,
  type PlistDict,
  type PlistInput,
  parseCheckin,
  parseCommandReport,
  parseCommandResult,
  parseDevicePlist,
  REGISTERED_REQUEST_TYPES,
} from '../src/protocol/index.js';

/**
 * Everything a device sends passes parseDevicePlist and then one of the message parsers. Whatever the bytes, the
 * outcome is a value or an MdmProtocolError (the HTTP layer's 400): never another error, never a slow parse.
 */
const TOPIC = 'com.apple.mgmt.External.fuzz';
const MAX_PARSE_MS = 1000;

function seedMessages(): Buffer[] {
  const info = defaultDeviceInfo({ osVersion: '17.5' });
  const state = new DeviceState(info);
  state.accessRights = 8191;
  const identity = { UDID: info.udid, Topic: TOPIC };
  const checkins: Record<string, PlistInput>[] = [
    { MessageType: 'Authenticate', ...identity, OSVersion: '17.5', BuildVersion: '21F79', ProductName: 'iPhone15,4' },
    {
      MessageType: 'TokenUpdate',
      ...identity,
      Token: Buffer.alloc(32, 7),
      PushMagic: 'magic',
      UnlockToken: Buffer.alloc(64, 1),
    },
    { MessageType: 'CheckOut', ...identity },
    { MessageType: 'UserAuthenticate', UDID: info.udid, UserID: 'u', UserShortName: 'x' },
  ];
  const reports = REGISTERED_REQUEST_TYPES.map((requestType, i) => {
    const answer = state.answer({ RequestType: requestType, Queries: ['UDID', 'OSVersion'], Identifier: 'com.x' });
    const report: Record<string, PlistInput | undefined> = {
      UDID: info.udid,
      CommandUUID: `00000000-0000-4000-8000-00000000000${i % 10}`,
      Status: answer.status,
      ...answer.keys,
      ...(answer.errorChain ? { ErrorChain: answer.errorChain } : {}),
    };
    return report;
  });
  return [...checkins, { UDID: info.udid, Status: 'Idle' }, ...reports].map((message) => buildPlist(message));
}

/** Runs every parser a device body can reach; returns normally or throws what it threw. */
function parseAsTheServerWould(body: Buffer): void {
  parseDevicePlist(body);
  try {
    parseCheckin(body);
  } catch (error) {
    if (!(error instanceof MdmProtocolError)) throw error;
  }
  const report = parseCommandReport(body);
  for (const requestType of REGISTERED_REQUEST_TYPES) {
    try {
      parseCommandResult(requestType, report.result as PlistDict);
    } catch (error) {
      if (!(error instanceof MdmProtocolError)) throw error;
    }
  }
}

/** Runs `run`, returning what it wrote to the console (xmldom logs what it tolerates) and what it threw. */
function consoleWritesDuring(run: () => void): { written: string[]; thrown: unknown } {
  const written: string[] = [];
  const saved = { error: console.error, warn: console.warn, log: console.log };
  const record = (...args: unknown[]) => {
    written.push(args.map(String).join(' '));
  };
  Object.assign(console, { error: record, warn: record, log: record });
  try {
    run();
    return { written, thrown: undefined };
  } catch (error) {
    return { written, thrown: error };
  } finally {
    Object.assign(console, saved);
  }
}

function onlyTypedErrors(body: Buffer): void {
  const started = performance.now();
  const { written, thrown } = consoleWritesDuring(() => parseAsTheServerWould(body));
  if (thrown !== undefined && !(thrown instanceof MdmProtocolError)) {
    const error = thrown as Error;
    throw new Error(`untyped error ${error?.constructor?.name}: ${error?.message}`, { cause: thrown });
  }
  const elapsed = performance.now() - started;
  expect(elapsed, `parse of ${body.length} bytes took ${Math.round(elapsed)} ms`).to.be.below(MAX_PARSE_MS);
  // A device must not be able to write to the server's stderr: whatever xmldom would only log, the pre-scan refuses.
  expect(written, 'the parser wrote to the console').to.deep.equal([]);
}

describe('fuzz: device plists reach the parsers and come back as a value or a typed protocol error', function () {
  this.timeout(120_000);
  const seeds = seedMessages();
  const seed = fc.constantFrom(...seeds);

  it('the seeds themselves parse (the mutations start from real messages)', () => {
    for (const body of seeds) expect(() => parseDevicePlist(body)).not.to.throw();
  });

  it('byte-mutated real messages', () => {
    fc.assert(fc.property(seed.chain(mutatedBytes), onlyTypedErrors), fuzzParameters(1500));
  });

  it('XML-mutated real messages (entities, DOCTYPEs, CDATA, nesting, type swaps, oversized values)', () => {
    fc.assert(fc.property(seed.chain(mutatedPlistText), onlyTypedErrors), fuzzParameters(1500));
  });

  it('real messages with values of the wrong type, dropped keys and unknown keys', () => {
    const dicts = seeds.map((body) => parseDevicePlist(body));
    const arbitrary = fc
      .constantFrom(...dicts)
      .chain((dict) => mutatedDict(dict))
      .map((dict) => buildPlist(dict as PlistInput));
    fc.assert(fc.property(arbitrary, onlyTypedErrors), fuzzParameters(1000));
  });

  it('noise: random bytes and text', () => {
    fc.assert(fc.property(noise, onlyTypedErrors), fuzzParameters(500));
  });
});
