import type { Contribution, PushTarget, PushTargetStore } from 'enrollment-gateway/sdk';

export interface ResolvedTarget {
  target: PushTarget;
  /** The store that knows the device, which is also the one told about an invalid token. */
  store: PushTargetStore;
}

/**
 * The device stores contributed to `push.targetSources` (the mdm plugin's devices; tests and benchmarks add
 * their own) seen as one. A device id belongs to one store; the first that knows it answers.
 */
export class PushTargets {
  constructor(private readonly sources: () => readonly Contribution<PushTargetStore>[]) {}

  get count(): number {
    return this.sources().length;
  }

  async get(deviceIds: readonly string[]): Promise<ResolvedTarget[]> {
    const found: ResolvedTarget[] = [];
    let missing = deviceIds;
    for (const { value: store } of this.sources()) {
      if (missing.length === 0) break;
      const targets = await store.get(missing);
      const seen = new Set<string>();
      for (const target of targets) {
        seen.add(target.deviceId);
        found.push({ target, store });
      }
      if (seen.size > 0) missing = missing.filter((id) => !seen.has(id));
    }
    return found;
  }

  async needingWake(since: Date, limit: number): Promise<string[]> {
    const ids: string[] = [];
    for (const { value: store } of this.sources()) {
      if (ids.length >= limit) break;
      ids.push(...(await store.needingWake(since, limit - ids.length)));
    }
    return ids;
  }
}
