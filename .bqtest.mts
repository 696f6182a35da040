import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
const N = Number(process.argv[2] ?? 20000);
const conn = () => new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const prefix = 'bqtest' + Math.random().toString(36).slice(2, 6);
const q = new Queue('t', { connection: conn(), prefix });
const t0 = performance.now();
for (let i = 0; i < N; i += 1000) {
  await q.addBulk(Array.from({ length: 1000 }, (_, j) => ({ name: 'w', data: { d: `dev${i + j}` }, opts: { jobId: `wake-dev${i + j}`, delay: 0, removeOnComplete: true } })));
}
const t1 = performance.now();
let done = 0;
await new Promise<void>((resolve) => {
  const w = new Worker('t', async () => { if (++done === N) resolve(); }, { connection: conn(), prefix, concurrency: Number(process.argv[3] ?? 200) });
});
const t2 = performance.now();
console.log({ add: Math.round(N / (t1 - t0) * 1000), process: Math.round(N / (t2 - t1) * 1000), total: Math.round(N / (t2 - t0) * 1000) });
process.exit(0);
