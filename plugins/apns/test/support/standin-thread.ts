/**
 * The APNs stand-in in a worker thread (its own core, as Apple would be another machine), and a bare node:http2
 * client that measures its ceiling. Shared by measure-throughput.ts and `npm run bench -- push`.
 */
import http2 from 'node:http2';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { ApnsStandin, type PemPair, type TestPki } from '../../../../test/support/apns-standin.js';

export interface StandinCounters {
  counters: ApnsStandin['counters'];
  maxOpen: number;
}

type ThreadRequest = 'counters' | 'stop';

if (!isMainThread && (workerData as { apnsStandinThread?: boolean } | undefined)?.apnsStandinThread) {
  const { pki, maxConcurrentStreams } = workerData as {
    pki: Pick<TestPki, 'ca' | 'server'>;
    maxConcurrentStreams: number;
  };
  const standin = await ApnsStandin.start({ pki, maxConcurrentStreams, record: false });
  parentPort?.postMessage({ url: standin.url });
  parentPort?.on('message', async (request: ThreadRequest) => {
    const snapshot: StandinCounters = { counters: { ...standin.counters }, maxOpen: standin.maxOpenStreamsPerSession };
    if (request === 'stop') await standin.close();
    parentPort?.postMessage(snapshot);
    if (request === 'stop') process.exit(0);
  });
}

export interface StandinThread {
  url: string;
  counters(): Promise<StandinCounters>;
  stop(): Promise<StandinCounters>;
}

export async function startStandinThread(
  pki: Pick<TestPki, 'ca' | 'server'>,
  maxConcurrentStreams = 1000,
): Promise<StandinThread> {
  // Workers do not inherit tsx's loader hooks: register them in the worker before importing this file.
  const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); });`;
  const worker = new Worker(bootstrap, {
    eval: true,
    workerData: { apnsStandinThread: true, pki: { ca: pki.ca, server: pki.server }, maxConcurrentStreams },
  });
  const { url } = await new Promise<{ url: string }>((resolve) => worker.once('message', resolve));
  let chain = Promise.resolve<unknown>(undefined);
  const ask = (request: ThreadRequest) => {
    const answer = chain.then(
      () =>
        new Promise<StandinCounters>((resolve) => {
          worker.once('message', resolve);
          worker.postMessage(request);
        }),
    );
    chain = answer;
    return answer;
  };
  return {
    url,
    counters: () => ask('counters'),
    stop: async () => {
      const last = await ask('stop');
      await worker.terminate();
      return last;
    },
  };
}

export interface BareRun {
  pushesPerSecond: number;
  /** Client-thread busy time per push (event-loop utilisation), less sensitive to other load than wall time. */
  busyMicrosPerPush: number;
}

/** The ceiling: plain node:http2 with the same connections and stream window, no bookkeeping. */
export async function bareClientRun(
  url: string,
  caPem: string,
  push: PemPair & { topic: string },
  tokens: readonly string[],
  magic: string,
  options: { poolSize: number; streamsPerSession: number },
): Promise<BareRun> {
  const sessions = await Promise.all(
    Array.from(
      { length: options.poolSize },
      () =>
        new Promise<http2.ClientHttp2Session>((resolve, reject) => {
          const session = http2.connect(url, { cert: push.certPem, key: push.keyPem, ca: caPem, maxSessionMemory: 64 });
          session.once('remoteSettings', () => resolve(session));
          session.once('error', reject);
        }),
    ),
  );
  const body = `{"mdm":${JSON.stringify(magic)}}`;
  const started = performance.now();
  const elu = performance.eventLoopUtilization();
  let next = 0;
  let done = 0;
  let failures = 0;
  await new Promise<void>((resolve) => {
    const pump = (session: http2.ClientHttp2Session): void => {
      if (next >= tokens.length) return;
      const token = tokens[next++];
      const stream = session.request(
        {
          ':method': 'POST',
          ':path': `/3/device/${token}`,
          'apns-topic': push.topic,
          'apns-push-type': 'mdm',
          'apns-priority': '10',
          'apns-expiration': '0',
        },
        { endStream: false },
      );
      let status = 0;
      stream.on('response', (headers) => {
        status = Number(headers[':status']);
      });
      stream.on('data', () => {});
      stream.on('error', () => {});
      stream.on('close', () => {
        if (status !== 200) failures++;
        if (++done === tokens.length) resolve();
        else pump(session);
      });
      stream.end(body);
    };
    for (const session of sessions) for (let i = 0; i < options.streamsPerSession; i++) pump(session);
  });
  const elapsed = performance.now() - started;
  const busy = (performance.eventLoopUtilization(elu).active * 1000) / tokens.length;
  await Promise.all(sessions.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  if (failures > 0) throw new Error(`bare client: ${failures} pushes failed`);
  return { pushesPerSecond: (tokens.length / elapsed) * 1000, busyMicrosPerPush: busy };
}
