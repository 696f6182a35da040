import { expect } from 'chai';
import { definePlugin, LiveChannel } from 'enrollment-gateway/sdk';
import { eventually } from '../support/eventually.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

interface Holder {
  channel?: LiveChannel;
}

/** A plugin whose route follows the topics in ?topic=…, forwarding what is published to them. */
const livePlugin = (holder: Holder) =>
  definePlugin({
    name: 'live-probe',
    version: '1.0.0',
    coreApi: '^2.1.0',
    register(api) {
      api.routes({
        prefix: '/live',
        mount(router, ctx) {
          holder.channel ??= new LiveChannel(ctx, { name: 'probe', retryMs: 1234, heartbeatMs: 200 });
          const channel = holder.channel;
          router.get('/events', async (koa) => {
            const topics = ([] as string[]).concat(koa.query.topic ?? []);
            const stream = await channel.open(koa, {
              topics,
              onMessage: (message, open) => open.send(message.event, message.data, String(message.data)),
            });
            stream?.send('hello', { lastEventId: stream.lastEventId ?? null });
          });
        },
      });
      api.onStop(() => holder.channel?.close());
    },
  });

/** Reads an event stream as text until `done(text)` holds; fails after `ms`. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, done: (text: string) => boolean, ms = 5000) {
  let text = '';
  const deadline = Date.now() + ms;
  const decoder = new TextDecoder();
  while (!done(text)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`stream did not show what was expected; got:\n${text}`);
    const chunk = await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out; got:\n${text}`)), left)),
    ]);
    if (chunk.done) return { text, ended: true };
    text += decoder.decode(chunk.value, { stream: true });
  }
  return { text, ended: false };
}

describe('sdk: LiveChannel (server-sent events across replicas over Redis)', function () {
  this.timeout(30_000);
  const holderA: Holder = {};
  const holderB: Holder = {};
  let a: TestGateway;
  let b: TestGateway;

  before(async () => {
    a = await startTestGateway({ label: 'livechan', plugins: [livePlugin(holderA)] });
    b = await startTestGateway({
      label: 'livechan',
      plugins: [livePlugin(holderB)],
      mongodbUri: a.mongodbUri,
      redisPrefix: a.redisPrefix,
    });
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('delivers a message published on one replica to the streams following its topics on the other, once each', async () => {
    const res = await b.fetch('/live/events?topic=device:1&topic=user:7', { headers: { 'Last-Event-ID': '41' } });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).to.equal('no-store');
    const reader = res.body!.getReader();
    const opened = await readUntil(reader, (t) => t.includes('event: hello'));
    expect(opened.text).to.match(/^retry: 1234\n\n/);
    expect(opened.text).to.include('data: {"lastEventId":"41"}');
    const other = await b.fetch('/live/events?topic=device:2');
    const otherReader = other.body!.getReader();
    await readUntil(otherReader, (t) => t.includes('event: hello'));

    await holderA.channel!.publish('device:9', 'progress', 'not-for-you');
    await holderA.channel!.publish(['device:1', 'user:7'], 'progress', 'step-2');
    const got = await readUntil(reader, (t) => t.includes('step-2'));
    expect(got.text).to.include('id: step-2\nevent: progress\ndata: "step-2"\n\n');
    expect(got.text).not.to.include('not-for-you');
    // Followed by both topics, the stream still got the message once; the heartbeat keeps it alive meanwhile.
    const later = await readUntil(reader, (t) => t.includes(': keep-alive'));
    expect(got.text + later.text).to.include(': keep-alive');
    expect((got.text + later.text).match(/step-2/g)).to.have.length(2); // id line and data line of one event
    const otherGot = await readUntil(otherReader, (t) => t.includes(': keep-alive'));
    expect(otherGot.text).not.to.include('step-2');

    expect(holderB.channel!.openStreams).to.equal(2);
    await reader.cancel();
    await otherReader.cancel();
    await eventually(() => expect(holderB.channel!.openStreams).to.equal(0));
  });

  it('close() ends every open stream promptly, and later opens get an ended stream with the retry hint', async () => {
    const res = await b.fetch('/live/events?topic=device:1');
    const reader = res.body!.getReader();
    await readUntil(reader, (t) => t.includes('event: hello'));
    expect(holderB.channel!.openStreams).to.equal(1);

    const started = Date.now();
    await holderB.channel!.close();
    const rest = await readUntil(reader, () => false);
    expect(rest.ended).to.equal(true);
    expect(Date.now() - started).to.be.lessThan(1000);
    expect(holderB.channel!.openStreams).to.equal(0);

    const again = await b.fetch('/live/events?topic=device:1');
    expect(again.status).to.equal(200);
    expect(await again.text()).to.equal('retry: 1234\n\n');
    // Publishing still works from any replica after the other closed its channel.
    await holderA.channel!.publish('device:1', 'progress', 'after');
  });
});
