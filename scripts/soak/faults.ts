/**
 * Fault injection: each fault breaks one part, puts it back, and measures how long until every gateway process
 * answers /readyz 200 again.
 */
import type { ApnsStandin } from '../../test/support/apns-standin.js';
import { standinReplies } from '../../test/support/apns-standin.js';
import type { SoakDevice } from './fleet.js';
import type { GatewayProcess } from './gateway.js';
import type { Restartable } from './services.js';

export const FAULTS = ['redis', 'db', 'worker', 'gateway', 'apns'] as const;
export type FaultName = (typeof FAULTS)[number];

export interface FaultRecord {
  fault: FaultName;
  detail: string;
  at: number;
  /** From putting the part back (restart begun) to every process answering /readyz 200; undefined if it never did. */
  recoveredMs: number | undefined;
}

export interface FaultTargets {
  redis: Restartable;
  db: Restartable;
  serve: GatewayProcess[];
  work: GatewayProcess;
  standin: ApnsStandin;
  devices: () => SoakDevice[];
  /** Asks the gateway to push a few devices now (admin API), so each APNs phase sees pushes. */
  wakeSome: () => Promise<void>;
  /** Processes that exited on their own and were restarted. */
  unexpectedExits: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const READY_TIMEOUT_MS = 120_000;

/** Waits until every process answers /readyz 200; a process that died by itself is restarted and counted. */
export async function allReady(targets: FaultTargets): Promise<number | undefined> {
  const started = Date.now();
  const processes = [...targets.serve, targets.work];
  while (Date.now() - started < READY_TIMEOUT_MS) {
    const states = await Promise.all(processes.map((p) => p.ready()));
    if (states.every(Boolean)) return Date.now() - started;
    for (const p of processes) {
      if (!p.alive()) {
        targets.unexpectedExits.push(p.name);
        await p.start().catch(() => undefined);
      }
    }
    await sleep(250);
  }
  return undefined;
}

let gatewayTurn = 0;

export async function injectFault(fault: FaultName, targets: FaultTargets): Promise<FaultRecord> {
  const at = Date.now();
  let detail = '';
  let restartAt = Date.now();
  const restart = async (part: { start(): Promise<void> }) => {
    restartAt = Date.now();
    await part.start().catch(() => undefined);
  };
  switch (fault) {
    case 'redis':
      await targets.redis.kill();
      await sleep(3_000);
      await restart(targets.redis);
      detail = 'redis-server SIGKILLed, down 3 s, restarted empty-handed on the same port (no persistence)';
      break;
    case 'db':
      await targets.db.kill();
      await sleep(3_000);
      await restart(targets.db);
      detail = 'FerretDB SIGKILLed, down 3 s, restarted on the same port and data';
      break;
    case 'worker':
      await targets.work.kill();
      await sleep(1_000);
      await restart(targets.work);
      detail = 'work role SIGKILLed under load, restarted';
      break;
    case 'gateway': {
      const replica = targets.serve[gatewayTurn++ % targets.serve.length];
      await replica.kill();
      await sleep(2_000);
      await restart(replica);
      detail = `${replica.name} SIGKILLed, down 2 s, restarted`;
      break;
    }
    case 'apns':
      detail = await apnsTrouble(targets);
      break;
  }
  if (fault === 'apns') restartAt = Date.now();
  const ready = await allReady(targets);
  return { fault, detail, at, recoveredMs: ready === undefined ? undefined : Date.now() - restartAt };
}

/** 429, 500, 503 and GOAWAY for every push in turn, 410 for two devices, then normal service. */
async function apnsTrouble(targets: FaultTargets): Promise<string> {
  const { standin } = targets;
  const phases = [
    standinReplies.error(429, 'TooManyRequests', { retryAfterSeconds: 1 }),
    standinReplies.error(500, 'InternalServerError'),
    standinReplies.error(503, 'ServiceUnavailable'),
    standinReplies.goaway(),
  ];
  const unregistered = targets
    .devices()
    .filter((d) => !d.retiring)
    .slice(0, 2);
  for (const d of unregistered)
    standin.behave(d.tokenHex, standinReplies.error(410, 'Unregistered', { timestamp: Date.now() }));
  for (const phase of phases) {
    standin.setDefaultBehaviour(phase);
    await targets.wakeSome().catch(() => undefined);
    await sleep(2_500);
  }
  standin.setDefaultBehaviour(standinReplies.ok());
  // An iPhone whose token APNs dropped registers again with a new TokenUpdate.
  for (const d of unregistered) {
    standin.behave(d.tokenHex, standinReplies.ok());
    await d.device.tokenUpdate().catch(() => undefined);
  }
  return `429, 500, 503, GOAWAY for 2.5 s each; 410 Unregistered for ${unregistered.length} devices, then a TokenUpdate`;
}
