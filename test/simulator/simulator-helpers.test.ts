import { expect } from 'chai';
import { RsaKeyPool, rewriteUrl, summarizeLatencies } from '../support/device-simulator.js';
import { flattenScepSubject } from '../support/device-simulator-profile.js';

describe('device simulator helpers', () => {
  it('rewrites only whole public-URL prefixes to the local base URL', () => {
    const base = 'http://127.0.0.1:8080';
    expect(rewriteUrl('https://gateway.test/mdm/checkin', 'https://gateway.test', base)).to.equal(
      'http://127.0.0.1:8080/mdm/checkin',
    );
    expect(rewriteUrl('https://gateway.test/scep?operation=GetCACaps', 'https://gateway.test/', `${base}/`)).to.equal(
      'http://127.0.0.1:8080/scep?operation=GetCACaps',
    );
    expect(rewriteUrl('https://gateway.test', 'https://gateway.test', base)).to.equal(base);
    expect(rewriteUrl('https://gateway.test/gw/x', 'https://gateway.test/gw', `${base}/prefix`)).to.equal(
      'http://127.0.0.1:8080/prefix/x',
    );
    expect(rewriteUrl('https://gateway.test.evil.example/x', 'https://gateway.test', base)).to.equal(
      'https://gateway.test.evil.example/x',
    );
    expect(rewriteUrl('https://gateway.testing/x', 'https://gateway.test', base)).to.equal('https://gateway.testing/x');
    expect(rewriteUrl('https://gateway.test/x', undefined, base)).to.equal('https://gateway.test/x');
  });

  it('flattens Apple SCEP subjects and rejects malformed ones', () => {
    expect(
      flattenScepSubject([
        [['O', 'Org']],
        [
          ['CN', 'a'],
          ['2.5.4.5', 'serial'],
        ],
      ]),
    ).to.deep.equal([
      { type: 'O', value: 'Org' },
      { type: 'CN', value: 'a' },
      { type: '2.5.4.5', value: 'serial' },
    ]);
    expect(() => flattenScepSubject([['CN', 'flat']])).to.throw(/pairs/);
    expect(() => flattenScepSubject([])).to.throw(/non-empty/);
  });

  it('key pool: reuse mode cycles a fixed set; unique mode never repeats a key', async () => {
    const reuse = new RsaKeyPool({ size: 2, reuse: true, modulusLength: 1024 });
    const a = await reuse.take();
    const b = await reuse.take();
    const c = await reuse.take();
    expect(a).to.not.equal(b);
    expect(c).to.equal(a);
    const unique = new RsaKeyPool({ size: 2, modulusLength: 1024 });
    await unique.warm();
    const keys = await Promise.all([unique.take(), unique.take(), unique.take()]);
    expect(new Set(keys.map((k) => k.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'))).size).to.equal(
      3,
    );
    expect(keys[0].privateKey.asymmetricKeyDetails?.modulusLength).to.equal(1024);
  });

  it('summarizes latencies with nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(summarizeLatencies(values)).to.deep.equal({ count: 100, p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 });
    expect(summarizeLatencies([])).to.deep.equal({ count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 });
  });
});
