/**
 * Crash tests (plugins/mdm/test/crash-recovery.test.ts) run the gateway in a child process with
 * MDM_CRASH_AT=<point>: reaching that point kills the process at once (SIGKILL, nothing flushed), between two
 * writes of an operation. Unset, this is one string comparison.
 */
export async function crashPoint(name: string): Promise<void> {
  if (process.env.MDM_CRASH_AT !== name) return;
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered asynchronously: never continue past the point.
  await new Promise(() => undefined);
}
