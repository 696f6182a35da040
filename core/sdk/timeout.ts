import { GatewayError } from './errors.js';

/** A piece of work that did not settle within its deadline; `what` names it in the message. */
export class TimeoutError extends GatewayError {
  constructor(
    readonly what: string,
    readonly ms: number,
  ) {
    super('timeout', `${what} did not answer within ${ms} ms`);
  }

  static override is(value: unknown): value is TimeoutError {
    return GatewayError.is(value) && (value as GatewayError).code === 'timeout';
  }
}

/**
 * Settles like `work`, or rejects with TimeoutError after `ms`. The work itself keeps running (a promise
 * cannot be cancelled); the timer never keeps the process alive and is cleared as soon as either settles.
 */
export async function withTimeout<T>(work: Promise<T> | (() => Promise<T> | T), ms: number, what: string): Promise<T> {
  const running = typeof work === 'function' ? Promise.resolve().then(work) : work;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([running, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
