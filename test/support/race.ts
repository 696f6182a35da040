/**
 * A race harness: runs pairs of writers concurrently against fresh subjects, many times, and counts the writes
 * that were applied (the writer said so) but whose effect is gone afterwards. Written for the one-writer rule
 * (docs/architecture.md): on the test database two updates of one document lose one of them, so any pair of
 * writers sharing a document shows up here as lost writes.
 */

/** One writer: does its write and says whether it was applied (a refusal, e.g. 403 after a revocation, is not). */
export interface RaceWriter<S> {
  name: string;
  /** Optional preparation on the subject before the race (runs sequentially, before both writers start). */
  prepare?(subject: S): Promise<void>;
  /** Optional last step after every writer prepared, right before the race (e.g. a baseline to compare with). */
  arm?(subject: S): Promise<void>;
  write(subject: S): Promise<'applied' | 'refused'>;
  /** After both writers finished: true when this writer's effect is still there. `other` is the other writer. */
  holds(subject: S, other: string): Promise<boolean>;
}

export interface PairFigures {
  pair: string;
  trials: number;
  /** Per writer: applied writes whose effect was lost. */
  lost: Record<string, number>;
  /** Per writer: writes refused (legitimately, e.g. a TokenUpdate after a revocation). */
  refused: Record<string, number>;
}

export interface RaceOptions<S> {
  writers: readonly RaceWriter<S>[];
  /** A fresh subject per trial (e.g. a newly enrolled device). */
  subject(trial: number, pair: string): Promise<S>;
  trials: number;
  /** Trials run at once (different subjects): load that widens each race's window. */
  concurrency?: number;
  /** Only these pairs ("a+b"); all pairs by default. */
  pairs?: readonly string[];
  onPair?(figures: PairFigures): void;
}

/** Every unordered pair of writers, "a+b" in declaration order. */
export function writerPairs<S>(writers: readonly RaceWriter<S>[]): [RaceWriter<S>, RaceWriter<S>][] {
  const out: [RaceWriter<S>, RaceWriter<S>][] = [];
  for (let i = 0; i < writers.length; i++)
    for (let j = i + 1; j < writers.length; j++) out.push([writers[i], writers[j]]);
  return out;
}

async function oneTrial<S>(options: RaceOptions<S>, a: RaceWriter<S>, b: RaceWriter<S>, trial: number) {
  const subject = await options.subject(trial, `${a.name}+${b.name}`);
  await a.prepare?.(subject);
  await b.prepare?.(subject);
  await a.arm?.(subject);
  await b.arm?.(subject);
  // Alternate who starts first, so neither order is favoured.
  const [first, second] = trial % 2 === 0 ? [a, b] : [b, a];
  const outcomes = await Promise.all([first.write(subject), second.write(subject)]);
  const byName = new Map([
    [first.name, outcomes[0]],
    [second.name, outcomes[1]],
  ]);
  const result: { lost: string[]; refused: string[] } = { lost: [], refused: [] };
  for (const [writer, other] of [
    [a, b],
    [b, a],
  ] as const) {
    if (byName.get(writer.name) === 'refused') result.refused.push(writer.name);
    else if (!(await writer.holds(subject, other.name))) result.lost.push(writer.name);
  }
  return result;
}

/** Runs every pair `trials` times and returns lost/refused counts per writer of each pair. */
export async function runRaces<S>(options: RaceOptions<S>): Promise<PairFigures[]> {
  const figures: PairFigures[] = [];
  const concurrency = options.concurrency ?? 4;
  for (const [a, b] of writerPairs(options.writers)) {
    const pair = `${a.name}+${b.name}`;
    if (options.pairs && !options.pairs.includes(pair)) continue;
    const counts: PairFigures = {
      pair,
      trials: options.trials,
      lost: { [a.name]: 0, [b.name]: 0 },
      refused: { [a.name]: 0, [b.name]: 0 },
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < options.trials) {
          const trial = next++;
          const { lost, refused } = await oneTrial(options, a, b, trial);
          for (const name of lost) counts.lost[name]++;
          for (const name of refused) counts.refused[name]++;
        }
      }),
    );
    options.onPair?.(counts);
    figures.push(counts);
  }
  return figures;
}

/** "lost/trials" per writer, one line per pair: what docs/mdm.md quotes. */
export function formatFigures(figures: readonly PairFigures[]): string {
  return figures
    .map((f) => {
      const parts = Object.keys(f.lost).map(
        (name) => `${name} ${f.lost[name]}/${f.trials}${f.refused[name] ? ` (${f.refused[name]} refused)` : ''}`,
      );
      return `${f.pair}: ${parts.join(', ')}`;
    })
    .join('\n');
}
