import { ProblemError, ValidationProblem } from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import type { IdempotencyKeys } from '../storage/idempotency-keys.js';

const KEY = /^[A-Za-z0-9_-]{8,100}$/;
const RETENTION_MS = 24 * 3_600_000;

export const idempotencyHeader = {
  'Idempotency-Key': {
    description:
      'A fresh random key per intended create (8–100 of A–Z a–z 0–9 _ -). Repeating the request with the same key ' +
      'answers the first result again instead of creating a second resource (a double submit). Kept 24 hours.',
  },
};

/**
 * "Create once" for POSTs that carry Idempotency-Key: the first request claims the key with an insert on a
 * unique _id (atomic on FerretDB too, unlike findAndModify), runs, and stores its answer; a repeat replays
 * it, or gets 409 while the first is still running. Without the header the request simply runs.
 */
export async function createOnce(
  keys: IdempotencyKeys,
  koa: Koa.Context,
  scope: string,
  run: () => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>,
): Promise<void> {
  const key = koa.get('idempotency-key');
  const answer = async () => {
    const result = await run();
    for (const [name, value] of Object.entries(result.headers ?? {})) koa.set(name, value);
    koa.status = result.status;
    koa.body = result.body;
    return result;
  };
  if (!key) {
    await answer();
    return;
  }
  if (!KEY.test(key)) {
    throw new ValidationProblem('Idempotency-Key: 8 to 100 characters of A-Z a-z 0-9 _ -', [
      { path: 'Idempotency-Key', message: 'invalid' },
    ]);
  }
  const id = `${scope}:${key}`;
  await keys.prune(new Date(Date.now() - RETENTION_MS));
  if (!(await keys.claim(id, new Date()))) {
    const first = await keys.answerOf(id);
    if (!first) {
      throw new ProblemError(409, 'Already in progress', 'a request with this Idempotency-Key is still running');
    }
    for (const [name, value] of Object.entries(first.headers)) koa.set(name, value);
    koa.set('Idempotent-Replayed', 'true');
    koa.status = first.status;
    koa.body = first.body;
    return;
  }
  try {
    const result = await answer();
    await keys.answer(id, {
      status: result.status,
      body: JSON.parse(JSON.stringify(result.body)),
      headers: result.headers ?? {},
    });
  } catch (error) {
    // A refused create did not happen: the same key may try again with a corrected body.
    await keys.release(id);
    throw error;
  }
}
