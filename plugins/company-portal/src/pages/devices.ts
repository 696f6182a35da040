import {
  type DeviceReadiness,
  type DeviceRecord,
  type DeviceStatusItem,
  html,
  type SafeHtml,
  type Unenrollment,
  type UnenrollmentStep,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { hiddenCsrf } from '../deps.js';
import { type PageKit, renderPage } from '../layout.js';
import type { StatusCheck } from '../stores.js';
import type { StringKey, Translate } from '../strings.js';

export interface DeviceView {
  device: DeviceRecord;
  /** The user's name for it, else the name the device reports. */
  name?: string;
  readiness?: DeviceReadiness;
  items: DeviceStatusItem[];
  check?: StatusCheck;
  unenrollment?: Unenrollment;
  /** False when no plugin provides unenrollment. */
  removable: boolean;
}

export function deviceName(kit: PageKit, device: DeviceRecord, nickname?: string): string {
  return nickname ?? device.deviceName ?? device.productName ?? device.model ?? kit.t('device.fallbackName');
}

export function ago(t: Translate, at: Date | number | undefined, now = Date.now()): string {
  if (at === undefined) return t('device.never');
  const minutes = Math.floor((now - new Date(at).getTime()) / 60_000);
  if (minutes < 1) return t('time.justNow');
  if (minutes < 60) return t('time.minutes', { n: minutes });
  if (minutes < 48 * 60) return t('time.hours', { n: Math.floor(minutes / 60) });
  return t('time.days', { n: Math.floor(minutes / 1440) });
}

const time = (t: Translate, at: Date | number | undefined) =>
  at === undefined
    ? html`${t('device.never')}`
    : html`<time datetime="${new Date(at).toISOString()}">${ago(t, at)}</time>`;

export function stateText(t: Translate, device: DeviceRecord, readiness?: DeviceReadiness): string {
  const state = t(`device.state.${device.state}` as StringKey);
  return device.state === 'enrolled' && readiness
    ? `${state} · ${t(`device.readiness.${readiness.state}` as StringKey)}`
    : state;
}

/** The steps a device user can relate to; bookkeeping steps (audit record, announcements) are not listed. */
const STEP_LABELS: Record<string, StringKey> = {
  'cancel-queued-commands': 'remove.step.cancel-queued-commands',
  'remove-app': 'remove.step.remove-app',
  'remove-profile': 'remove.step.remove-profile',
  'remove-mdm-profile': 'remove.step.remove-mdm-profile',
  'revoke-certificates': 'remove.step.revoke-certificates',
  'erase-secrets': 'remove.step.erase-secrets',
};

/** "remove-app:com.azure.authenticator" → "Remove app com.azure.authenticator"; undefined for bookkeeping steps. */
function stepLabel(t: Translate, step: UnenrollmentStep): string | undefined {
  const colon = step.name.indexOf(':');
  const key = STEP_LABELS[colon < 0 ? step.name : step.name.slice(0, colon)];
  return key && t(key, { id: colon < 0 ? '' : step.name.slice(colon + 1) });
}

function removal(t: Translate, run: Unenrollment): SafeHtml {
  return html`<section class="card" data-removal="${run.state}" aria-labelledby="removal-heading">
<h2 id="removal-heading">${t('remove.progress')}</h2><p class="headline">${t(`remove.state.${run.state}` as StringKey)}</p>
<ol class="progress">${run.steps.map((step) => {
    const label = stepLabel(t, step);
    return label === undefined
      ? ''
      : html`<li data-step="${step.state === 'done' || step.state === 'skipped' ? 'done' : step.state === 'running' ? 'active' : step.state === 'pending' ? 'waiting' : 'failed'}"><span class="dot" aria-hidden="true"></span><span>${label}</span><span class="state">${t(`remove.stepState.${step.state}` as StringKey)}</span></li>`;
  })}</ol></section>`;
}

function checkAnswer(t: Translate, check: StatusCheck): SafeHtml {
  if (check.state === 'waiting')
    return html`<p data-check="waiting">${t('device.check.waiting', { ago: ago(t, check.requestedAt) })}</p>`;
  if (check.state === 'not-now') return html`<p data-check="not-now">${t('device.check.notNow')}</p>`;
  if (check.state === 'failed') return html`<p data-check="failed">${t('device.check.failed')}</p>`;
  const a = check.answer ?? {};
  const gb = (v: unknown) => (typeof v === 'number' ? v.toFixed(1) : '?');
  const rows: [string, string | undefined][] = [
    [t('device.os'), a.OSVersion === undefined ? undefined : String(a.OSVersion)],
    [t('device.battery'), typeof a.BatteryLevel === 'number' ? `${Math.round(a.BatteryLevel * 100)} %` : undefined],
    [
      t('device.storage'),
      a.AvailableDeviceCapacity === undefined
        ? undefined
        : t('device.storageValue', { free: gb(a.AvailableDeviceCapacity), total: gb(a.DeviceCapacity) }),
    ],
  ];
  return html`<div data-check="answered"><p>${t('device.check.answered', { ago: ago(t, check.answeredAt) })}</p>
<dl class="facts">${rows.filter(([, v]) => v !== undefined).map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl></div>`;
}

/** The live part of the device page: facts, contributed status lines, the status check and removal progress. */
export function deviceRegion(kit: PageKit, view: DeviceView): SafeHtml {
  const { t } = kit;
  const d = view.device;
  return html`<section class="card" aria-labelledby="facts-heading" data-device-state="${d.state}">
<h2 id="facts-heading">${t('device.details')}</h2><dl class="facts">
<dt>${t('device.state')}</dt><dd>${stateText(t, d, view.readiness)}</dd>
<dt>${t('device.lastCheckIn')}</dt><dd>${time(t, d.lastSeenAt)}</dd>
<dt>${t('device.model')}</dt><dd>${d.productName ?? d.model ?? '—'}</dd>
<dt>${t('device.os')}</dt><dd>${d.osVersion ?? '—'}</dd>
<dt>${t('device.serial')}</dt><dd>${d.serialNumber ?? '—'}</dd>
<dt>${t('device.enrolledAt')}</dt><dd>${time(t, d.enrolledAt)}</dd></dl></section>
${
  view.items.length > 0
    ? html`<section class="card" aria-labelledby="items-heading"><h2 id="items-heading">${t('device.statusItems')}</h2>
<dl class="facts">${view.items.map(
        (item) =>
          html`<dt>${item.label}</dt><dd class="tone-${item.tone}">${item.value}${item.action ? html`<br><span class="muted">${item.action}</span>` : ''}</dd>`,
      )}</dl></section>`
    : ''
}${view.check ? html`<section class="card" aria-label="${t('device.check.heading')}">${checkAnswer(t, view.check)}</section>` : ''}
${view.unenrollment ? removal(t, view.unenrollment) : ''}`;
}

export function renderDevicePage(ctx: Koa.Context, kit: PageKit, view: DeviceView, flash?: SafeHtml, status = 200) {
  const { t } = kit;
  const d = view.device;
  const name = deviceName(kit, d, view.name);
  const leaving = view.unenrollment !== undefined || d.state === 'retired' || d.state === 'retiring';
  const base = `/devices/${encodeURIComponent(d.id)}`;
  renderPage(ctx, kit, {
    id: 'device',
    status,
    title: name,
    body: html`<p><a href="/devices">${t('nav.devices')}</a></p><h1>${name}</h1>${flash ?? ''}
<div data-live="${base}/events" aria-live="polite">${deviceRegion(kit, view)}</div>
${
  leaving
    ? ''
    : html`<section class="card" aria-labelledby="rename-heading"><h2 id="rename-heading">${t('device.rename.heading')}</h2>
<form method="post" action="${base}/rename" class="inline">${hiddenCsrf(kit)}<div class="field">
<label for="device-name">${t('device.rename.label')}</label><input id="device-name" name="name" type="text" maxlength="60" required value="${name}"></div>
<button class="button secondary" type="submit">${t('device.rename.button')}</button></form></section>
${
  d.state === 'enrolled'
    ? html`<section class="card" aria-labelledby="check-heading"><h2 id="check-heading">${t('device.check.heading')}</h2><p>${t('device.check.lead')}</p>
<form method="post" action="${base}/check">${hiddenCsrf(kit)}<button class="button secondary" type="submit">${t('device.check.button')}</button></form></section>`
    : ''
}
${
  view.removable
    ? html`<section class="card" aria-labelledby="remove-heading"><h2 id="remove-heading">${t('device.remove.heading')}</h2>
<p>${t('device.remove.lead', { org: kit.config.organizationName })}</p><a class="button danger" href="${base}/remove">${t('device.remove.button')}</a></section>`
    : ''
}`
}`,
  });
}

export function renderDeviceList(
  ctx: Koa.Context,
  kit: PageKit,
  devices: { device: DeviceRecord; name?: string; readiness?: DeviceReadiness }[],
) {
  const { t } = kit;
  renderPage(ctx, kit, {
    id: 'devices',
    title: t('devices.title'),
    body: html`<h1>${t('devices.title')}</h1><p class="lead">${t('devices.lead')}</p>
${
  devices.length === 0
    ? html`<p>${t('devices.empty')}</p>`
    : html`<ul class="devices">${devices.map(
        ({ device, name, readiness }) =>
          html`<li><a href="/devices/${encodeURIComponent(device.id)}"><span class="name">${deviceName(kit, device, name)}</span><br>
<span>${stateText(t, device, readiness)}</span><br><span class="muted">${t('device.lastCheckIn')}: ${ago(t, device.lastSeenAt)} · ${device.productName ?? device.model ?? ''}</span></a></li>`,
      )}</ul>`
}<p><a class="button secondary" href="/">${t('devices.enroll')}</a></p>`,
  });
}

export function renderRemoveConfirm(ctx: Koa.Context, kit: PageKit, device: DeviceRecord, nickname?: string) {
  const { t } = kit;
  const org = kit.config.organizationName;
  const name = deviceName(kit, device, nickname);
  const base = `/devices/${encodeURIComponent(device.id)}`;
  const list = (items: string[]) => html`${items.map((item) => html`<li>${item}</li>`)}`;
  renderPage(ctx, kit, {
    id: 'remove',
    title: t('remove.title', { name }),
    body: html`<h1>${t('remove.title', { name })}</h1>
<section class="card"><h2>${t('remove.erased.heading')}</h2><ul class="cross">${list([
      t('remove.erased.1'),
      t('remove.erased.2', { org }),
      t('remove.erased.3', { org }),
      t('remove.erased.4'),
    ])}</ul>
<h2>${t('remove.kept.heading')}</h2><ul class="check">${list([t('remove.kept.1'), t('remove.kept.2'), t('remove.kept.3')])}</ul>
<p>${t('remove.afterwards')}</p></section>
<form method="post" action="${base}/remove">${hiddenCsrf(kit)}<button class="button danger" type="submit">${t('remove.confirm')}</button></form>
<p><a class="button secondary" href="${base}">${t('remove.cancel')}</a></p>`,
  });
}
