/** The soak's result: a table for people, then one JSON line; `printReport` says whether the run passed. */
import type { FaultRecord } from './faults.js';
import type { CommandTally, DeviceTally } from './verify.js';

export interface SoakReport {
  devices: number;
  runSeconds: number;
  drainSeconds: number;
  setup?: { seconds: number; enrollSeconds: number };
  wallSeconds?: number;
  faults: FaultRecord[];
  finalReadyMs: number | undefined;
  unexpectedExits: string[];
  commands: CommandTally;
  uncertainEnqueues: number;
  deviceTally: DeviceTally;
  sessions: number;
  sessionFailures: number;
  deviceStatuses: Record<string, number>;
  pushes: Record<string, number>;
  adminCalls: number;
  adminRetries: number;
}

export function failures(r: SoakReport): string[] {
  const out: string[] = [];
  const c = r.commands;
  const d = r.deviceTally;
  if (c.enqueued === 0 || c.answered === 0) out.push('no command was enqueued and answered');
  if (c.lost > 0) out.push(`${c.lost} commands lost`);
  if (c.duplicated > 0) out.push(`${c.duplicated} commands with duplicated results`);
  if (c.mismatched > 0) out.push(`${c.mismatched} results differ from what the device answered`);
  if (d.retirementsUnfinished > 0) out.push(`${d.retirementsUnfinished} retirements unfinished`);
  if (d.retiredStillServed > 0) out.push(`${d.retiredStillServed} retired devices still served`);
  if (d.activeRefused > 0) out.push(`${d.activeRefused} enrolled devices refused (binding lost)`);
  const unrecovered = r.faults.filter((f) => f.recoveredMs === undefined).length;
  if (unrecovered > 0 || r.finalReadyMs === undefined) out.push(`/readyz did not recover after ${unrecovered} faults`);
  return out;
}

export function printReport(r: SoakReport): boolean {
  const c = r.commands;
  const d = r.deviceTally;
  const byFault = new Map<string, FaultRecord[]>();
  for (const f of r.faults) byFault.set(f.fault, [...(byFault.get(f.fault) ?? []), f]);
  const faultRows = [...byFault].map(([name, list]) => {
    const recovered = list.filter((f) => f.recoveredMs !== undefined).map((f) => f.recoveredMs as number);
    return [
      `fault ${name}`,
      `${list.length}× injected, /readyz back ${recovered.length}/${list.length}, max ${Math.max(0, ...recovered) / 1000} s`,
    ];
  });
  const rows: [string, string][] = [
    ['devices', `${r.devices} enrolled (2 serve replicas, 1 work process)`],
    ['load', `${r.runSeconds} s with faults, ${r.drainSeconds} s drain`],
    ...(faultRows as [string, string][]),
    ['commands enqueued', String(c.enqueued)],
    [
      'answered',
      `${c.answered} (${c.acknowledged} Acknowledged, ${c.errors} Error; ${c.notNowThenAnswered} after NotNow)`,
    ],
    ['still queued', String(c.stillQueued)],
    ['cancelled by retirement', String(c.cancelledByRetirement)],
    ['lost', String(c.lost)],
    ['duplicated results', String(c.duplicated)],
    ['result differs from device', String(c.mismatched)],
    ['enqueues without an answer', `${r.uncertainEnqueues} (the admin API never confirmed them; not counted)`],
    ['unenrollments', `${d.retirementsAsked} asked, ${d.retired} retired, ${d.retirementsUnfinished} unfinished`],
    ['retired devices refused', `${d.retiredRefused}/${d.retirementsAsked}`],
    ['other devices served', `${d.activeServed}/${r.devices - d.retirementsAsked}`],
    ['MDM sessions', `${r.sessions} (${r.sessionFailures} cut short by a fault)`],
    ['device HTTP statuses', JSON.stringify(r.deviceStatuses)],
    ['pushes at the APNs stand-in', JSON.stringify(r.pushes)],
    ['admin API calls', `${r.adminCalls} (${r.adminRetries} retries)`],
    ['processes that died by themselves', r.unexpectedExits.length ? r.unexpectedExits.join(', ') : 'none'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log('');
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  const problems = failures(r);
  console.log(problems.length ? `\nFAILED: ${problems.join('; ')}` : '\nPASSED: 0 lost, 0 duplicated');
  console.log(
    JSON.stringify({
      ok: problems.length === 0,
      problems,
      devices: r.devices,
      runSeconds: r.runSeconds,
      drainSeconds: r.drainSeconds,
      setup: r.setup,
      wallSeconds: r.wallSeconds,
      faults: r.faults.map(({ fault, recoveredMs }) => ({ fault, recoveredMs })),
      unexpectedExits: r.unexpectedExits,
      commands: { ...c, lostExamples: c.lostExamples },
      uncertainEnqueues: r.uncertainEnqueues,
      unenrollments: d,
      sessions: r.sessions,
      sessionFailures: r.sessionFailures,
      deviceStatuses: r.deviceStatuses,
      pushes: r.pushes,
      adminCalls: r.adminCalls,
      adminRetries: r.adminRetries,
    }),
  );
  return problems.length === 0;
}
