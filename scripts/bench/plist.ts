/**
 * How fast the device plist reader takes a large report (a ~0.9 MiB InstalledApplicationList with 4,000 apps) and a
 * typical small check-in, side by side with the `plist` package's own parser on the same bytes, so the ratio shows
 * what the safety checks cost whatever the machine is doing.
 *   npm run bench -- plist [--apps 4000] [--rounds 20]
 */
import { parse as parsePlainPlist } from 'plist';
import { parseDevicePlist } from '../../plugins/mdm/src/protocol/plist-safe.js';
import { option, percentiles } from './_stats.js';

const HEADER =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n';

function doc(body: string): Buffer {
  return Buffer.from(`${HEADER}<plist version="1.0">${body}</plist>`);
}

function report(apps: number): Buffer {
  const items = Array.from(
    { length: apps },
    (_, i) =>
      `<dict><key>Identifier</key><string>com.example.app${i}</string><key>Name</key><string>App ${i}</string>` +
      `<key>Version</key><string>1.${i}</string><key>BundleSize</key><integer>${i * 1000}</integer>` +
      `<key>IsValidated</key><true/></dict>`,
  );
  return doc(`<dict><key>InstalledApplicationList</key><array>${items.join('')}</array></dict>`);
}

const CHECKIN = doc(
  '<dict><key>MessageType</key><string>TokenUpdate</string><key>Topic</key><string>com.apple.mgmt.External.x</string>' +
    '<key>UDID</key><string>00008030-001A2B3C4D5E6F70</string><key>PushMagic</key><string>magic</string>' +
    '<key>Token</key><data>AAECAwQFBgcICQoLDA0ODw==</data></dict>',
);

function time(rounds: number, parse: () => unknown): number[] {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    parse();
    samples.push(performance.now() - started);
  }
  return samples;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const apps = option(args, 'apps', 4000);
  const rounds = option(args, 'rounds', 20);
  const big = report(apps);
  const bigText = big.toString('utf8');
  const smallText = CHECKIN.toString('utf8');
  // Interleaved rounds, so both parsers see the same machine.
  const safeBig: number[] = [];
  const plainBig: number[] = [];
  for (let i = 0; i < rounds; i++) {
    safeBig.push(...time(1, () => parseDevicePlist(big)));
    plainBig.push(...time(1, () => parsePlainPlist(bigText)));
  }
  const safeSmall = time(rounds * 100, () => parseDevicePlist(CHECKIN));
  const plainSmall = time(rounds * 100, () => parsePlainPlist(smallText));
  const figures = {
    reportBytes: big.length,
    reportMs: percentiles(safeBig),
    plainReportMs: percentiles(plainBig),
    reportRatio: Math.round((percentiles(safeBig).p50 / percentiles(plainBig).p50) * 100) / 100,
    checkinMs: percentiles(safeSmall),
    plainCheckinMs: percentiles(plainSmall),
    checkinRatio: Math.round((percentiles(safeSmall).p50 / percentiles(plainSmall).p50) * 100) / 100,
  };
  console.log(
    `report ${big.length} bytes: p50 ${figures.reportMs.p50.toFixed(1)} ms (plist package ${figures.plainReportMs.p50.toFixed(1)} ms); ` +
      `check-in: p50 ${figures.checkinMs.p50.toFixed(3)} ms (plist package ${figures.plainCheckinMs.p50.toFixed(3)} ms)`,
  );
  return figures;
}
