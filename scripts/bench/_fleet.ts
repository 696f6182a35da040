/** What the fleet benches share: the bench admin token, bounded concurrency, and minting enrollment links. */

/** The admin token of the test fixture plugin the bench gateways load (test/support/fixture-plugins.ts). */
export const BENCH_ADMIN_HEADERS = { authorization: 'Bearer admin-all', 'content-type': 'application/json' };

/** Runs `work` over `items` with at most `concurrency` at once. */
export async function inBatches<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

/** simulateFleet's `mint`: one enrollment link per device, for user `bench-<index>`, through the admin API. */
export function mintEnrollment(url: string): (index: number) => Promise<string> {
  return async (index) => {
    const res = await fetch(`${url}/api/mdm/enrollments`, {
      method: 'POST',
      headers: BENCH_ADMIN_HEADERS,
      body: JSON.stringify({ userId: `bench-${index}` }),
    });
    if (res.status !== 201) throw new Error(`minting an enrollment: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { profileUrl: string }).profileUrl;
  };
}
