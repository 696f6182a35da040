import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { toJsonSafe } from '../src/delivery.js';
import { signatureHeader, signPayload, verifySignature } from '../src/signing.js';

describe('webhooks: signing and verification', () => {
  const secret = 'whsec-test-0123456789abcdef';
  const body = '{"id":"e1","type":"device.enrolled","data":{"udid":"U1"}}';
  const now = 1_750_000_000;

  it('is HMAC-SHA256 in hex over "<timestamp>.<body>"', () => {
    const independent = createHmac('sha256', secret).update(`${now}.${body}`).digest('hex');
    expect(signPayload(secret, now, body)).to.equal(independent);
    expect(signatureHeader(secret, now, Buffer.from(body))).to.equal(`v1=${independent}`);
  });

  it('accepts a fresh, matching signature and refuses a changed body, another secret or a stale timestamp', () => {
    const signature = signatureHeader(secret, now, body);
    const check = (over: Partial<Parameters<typeof verifySignature>[0]>) =>
      verifySignature({ secret, body, timestamp: String(now), signature, nowSeconds: now + 10, ...over });
    expect(check({})).to.deep.equal({ ok: true });
    expect(check({ body: body.replace('U1', 'U2') })).to.deep.equal({ ok: false, reason: 'bad-signature' });
    expect(check({ secret: 'another-secret-0123456789' })).to.deep.equal({ ok: false, reason: 'bad-signature' });
    expect(check({ nowSeconds: now + 301 })).to.deep.equal({ ok: false, reason: 'stale-timestamp' });
    expect(check({ nowSeconds: now - 301 })).to.deep.equal({ ok: false, reason: 'stale-timestamp' });
    expect(check({ timestamp: String(now + 1) })).to.deep.equal({ ok: false, reason: 'bad-signature' });
    expect(check({ signature: undefined })).to.deep.equal({ ok: false, reason: 'missing-headers' });
    expect(check({ timestamp: 'yesterday' })).to.deep.equal({ ok: false, reason: 'missing-headers' });
    expect(check({ signature: 'v1=zz' })).to.deep.equal({ ok: false, reason: 'bad-signature' });
  });

  it('accepts any matching v1 entry of a list (room for rotating secrets)', () => {
    const old = signatureHeader('old-secret-0123456789abcdef', now, body);
    const current = signatureHeader(secret, now, body);
    expect(
      verifySignature({ secret, body, timestamp: String(now), signature: `${old}, ${current}`, nowSeconds: now }),
    ).to.deep.equal({ ok: true });
  });

  it('turns plist bytes and dates in command results into base64 and ISO strings', () => {
    const at = new Date('2026-01-02T03:04:05.000Z');
    expect(toJsonSafe({ a: Buffer.from('hi'), b: [at, 1, 'x'], c: { d: null } })).to.deep.equal({
      a: 'aGk=',
      b: ['2026-01-02T03:04:05.000Z', 1, 'x'],
      c: { d: null },
    });
  });
});
