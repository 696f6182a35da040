import escapeHtml from 'escape-html';
import type { StringKey, Translate } from '../strings.js';

/**
 * Drawings of the four screens in Settings where the user installs the profile (iOS 15 to 18 look alike here).
 * Plain SVG served as images from the portal's origin. Their words come from the string catalogue (iOS shows
 * Settings in the user's language too), XML-escaped.
 */
const W = 300;
const H = 190;

// Presentation attributes only: a <style> element could fall under the CSP of the response.
const T = 'font-size="14" fill="#000"';
const S = 'font-size="11" fill="#6d6d72"';

const frame = (title: string, body: string, brand: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="-apple-system,Helvetica,Arial,sans-serif">` +
  `<rect width="${W}" height="${H}" fill="#f2f2f7"/>` +
  `<text x="16" y="34" font-size="17" font-weight="700" fill="#000">${title}</text>${body.replaceAll('class="h"', `fill="none" stroke="${brand}" stroke-width="3"`)}</svg>`;

const row = (y: number, label: string, highlight = false, chevron = true) =>
  `<rect x="12" y="${y}" width="${W - 24}" height="36" rx="10" fill="#fff"/>` +
  `<text ${T} x="26" y="${y + 23}">${label}</text>` +
  (chevron ? `<path d="M${W - 34} ${y + 12}l6 6-6 6" fill="none" stroke="#c4c4c7" stroke-width="2"/>` : '') +
  (highlight ? `<rect class="h" x="10" y="${y - 2}" width="${W - 20}" height="40" rx="12"/>` : '');

const tap = (x: number, y: number, brand: string) =>
  `<circle cx="${x}" cy="${y}" r="8" fill="${brand}" fill-opacity=".2" stroke="${brand}" stroke-width="2"/>`;

export function installIllustrations(translate: Translate, brand: string): string[] {
  const t = (key: StringKey) => escapeHtml(translate(key));
  const org = t('art.management');
  return [
    frame(
      t('art.settings'),
      row(52, t('art.profileDownloaded'), true) +
        tap(220, 70, brand) +
        row(100, t('art.wifi')) +
        row(140, t('art.general')),
      brand,
    ),
    frame(
      t('art.vpn'),
      `<text ${S} x="26" y="66">${t('art.downloadedProfile')}</text>${row(74, org, true)}${tap(230, 92, brand)}`,
      brand,
    ),
    frame(
      t('art.installProfile'),
      `<text x="${W - 16}" y="34" font-size="15" font-weight="600" fill="#007aff" text-anchor="end">${t('art.install')}</text>` +
        `<rect class="h" x="${W - 74}" y="15" width="66" height="28" rx="8"/>${tap(W - 14, 44, brand)}` +
        `<rect x="12" y="56" width="${W - 24}" height="64" rx="10" fill="#fff"/>` +
        `<rect x="24" y="68" width="40" height="40" rx="9" fill="#8e8e93"/>` +
        `<text ${T} x="76" y="86" font-weight="600">${org}</text>` +
        `<text ${S} x="76" y="104">${t('art.verified')}</text>` +
        `<text ${S} x="20" y="146">${t('art.passcode')}</text>`,
      brand,
    ),
    frame(
      t('art.remoteManagement'),
      `<rect x="40" y="52" width="${W - 80}" height="118" rx="14" fill="#fff"/>` +
        (['art.trustQuestion.1', 'art.trustQuestion.2', 'art.trustQuestion.3'] as const)
          .map((key, i) => `<text ${S} x="${W / 2}" y="${82 + i * 16}" text-anchor="middle">${t(key)}</text>`)
          .join('') +
        `<line x1="40" y1="128" x2="${W - 40}" y2="128" stroke="#d1d1d6"/>` +
        `<line x1="${W / 2}" y1="128" x2="${W / 2}" y2="170" stroke="#d1d1d6"/>` +
        `<text x="${W / 2 - 55}" y="154" font-size="15" fill="#007aff" text-anchor="middle">${t('art.cancel')}</text>` +
        `<text x="${W / 2 + 55}" y="154" font-size="15" font-weight="600" fill="#007aff" text-anchor="middle">${t('art.trust')}</text>` +
        `<rect class="h" x="${W / 2 + 8}" y="133" width="94" height="32" rx="8"/>${tap(W / 2 + 98, 162, brand)}`,
      brand,
    ),
  ];
}
