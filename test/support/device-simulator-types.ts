/**
 * The simulated iPhone's options and records, and the command envelope it reads (./device-simulator-device.ts is
 * the device itself).
 */
import type http from 'node:http';
import type https from 'node:https';
import {
  type CommandStatus,
  type PlistDict,
  type PlistInput,
  parseDevicePlist,
} from '../../plugins/mdm/src/protocol/index.js';
import type { TestAttestationRoot } from './device-simulator-acme.js';
import { DeviceSimulatorError, type ExchangePhase, type RsaKeyPair, type RsaKeyPool } from './device-simulator-http.js';
import type { DeviceInfoOptions } from './device-simulator-info.js';
import type { ErrorChainEntry } from './device-simulator-state.js';
import type { SigningPool } from './signing-pool.js';

export interface SimulatedDeviceOptions extends DeviceInfoOptions {
  /** Where the gateway really listens, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  /** The gateway's public URL as written into profiles; requests to it go to `baseUrl`. */
  publicUrl?: string;
  /** Use this key for SCEP (skips generation). */
  keyPair?: RsaKeyPair;
  /** Otherwise take keys (also for renewal) from this pool; else generate one per use. */
  keyPool?: RsaKeyPool;
  /** Poll sessions an app spends "Installing" before it is Managed. Default 1. */
  installPolls?: number;
  /** Exchanges kept in `exchanges` (oldest dropped). Default 200. */
  maxExchanges?: number;
  /** Commands answered per poll() before giving up on a server that never returns empty. Default 100. */
  maxCommandsPerPoll?: number;
  /** Mdm-Signature digest; 'sha1' mimics older devices. */
  signatureDigest?: 'sha256' | 'sha1';
  /** Signs on these worker threads instead of the calling thread (benchmarks: the client is not the ceiling). */
  signingPool?: SigningPool;
  /**
   * Also send DeviceName, Model and ModelName in Authenticate. Apple's schema lists them for macOS only, so an
   * iPhone leaves them out by default; turn on to exercise servers that store them when present.
   */
  authenticateWithNames?: boolean;
  /** Signs attestations for ACME (device-attest-01): the test stand-in for Apple's attestation CA. */
  attestation?: TestAttestationRoot;
  /**
   * User Enrollment (account-driven, device-simulator-adde.ts): check-ins and reports carry EnrollmentID instead of
   * UDID, and Authenticate leaves out the serial number. (EnrollmentUserID belongs to the user channel, which
   * iPhones do not open.)
   */
  userEnrollment?: { enrollmentId: string };
  /** Clock for checking the profile signer's validity. */
  now?: () => Date;
  agents?: { http?: http.Agent; https?: https.Agent };
}

/** One request/response, kept for assertions. */
export interface ExchangeRecord {
  at: Date;
  phase: ExchangePhase;
  method: string;
  url: string;
  status: number;
  durationMs: number;
  requestBytes: number;
  /** The plist the device sent (check-ins and command reports). */
  request?: Record<string, PlistInput | undefined>;
  responseBody: Buffer;
}

export interface AnsweredCommand {
  commandUuid: string;
  requestType: string;
  command: PlistDict;
  status: Exclude<CommandStatus, 'Idle'>;
  /** The full report sent back (UDID, Status, CommandUUID, result keys, ErrorChain). */
  report: Record<string, PlistInput | undefined>;
  errorChain?: ErrorChainEntry[];
}

export interface EnrollTimings {
  scepMs: number;
  authenticateMs: number;
  tokenUpdateMs: number;
  totalMs: number;
}

/** Reads `{ CommandUUID, Command: { RequestType, ... } }` from the server. */
export function parseCommandEnvelope(body: Buffer): { commandUuid: string; command: PlistDict } {
  let envelope: PlistDict;
  try {
    envelope = parseDevicePlist(body);
  } catch (error) {
    throw new DeviceSimulatorError('bad-command', `command is not a plist: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const { CommandUUID: commandUuid, Command: command } = envelope;
  if (typeof commandUuid !== 'string' || commandUuid === '') {
    throw new DeviceSimulatorError('bad-command', 'command has no CommandUUID');
  }
  const isDict =
    typeof command === 'object' && command !== null && !Array.isArray(command) && !(command instanceof Date);
  if (!isDict || Buffer.isBuffer(command) || typeof (command as PlistDict).RequestType !== 'string') {
    throw new DeviceSimulatorError('bad-command', 'command has no Command dictionary with a RequestType');
  }
  return { commandUuid, command: command as PlistDict };
}
