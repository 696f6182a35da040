import {
  type DeviceReadiness,
  type DeviceRecord,
  type EnrollmentSession,
  html,
  type SafeHtml,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import { type PageKit, renderPage } from '../layout.js';
import type { StringKey } from '../strings.js';
import { installSteps } from './outcomes.js';

export interface StatusView {
  session: EnrollmentSession;
  device?: DeviceRecord;
  readiness?: DeviceReadiness;
  /** False when no plugin installs Authenticator: enrolled is ready. */
  tracksReadiness: boolean;
  /** The portal path that starts the download, while the profile can still be downloaded. */
  downloadPath?: string;
}

export type StatusPhase =
  | 'downloading'
  | 'install'
  | 'enrolling'
  | 'installing'
  | 'ready'
  | 'attention'
  | 'expired'
  | 'cancelled'
  | 'removed';

const FINAL: readonly StatusPhase[] = ['ready', 'expired', 'cancelled', 'removed'];
const RANK: Record<EnrollmentSession['state'], number> = {
  issued: 0,
  downloaded: 1,
  'certificate-issued': 2,
  enrolled: 3,
  cancelled: -1,
  expired: -1,
};

export function statusPhase(view: StatusView): StatusPhase {
  const { session, device, readiness } = view;
  switch (session.state) {
    case 'cancelled':
      return 'cancelled';
    case 'expired':
      return 'expired';
    case 'issued':
      return 'downloading';
    case 'downloaded':
      return 'install';
    case 'certificate-issued':
      return 'enrolling';
  }
  if (device && device.state !== 'enrolled') return device.state === 'pending' ? 'enrolling' : 'removed';
  if (!view.tracksReadiness || readiness?.state === 'ready') return 'ready';
  return readiness?.state === 'needs-attention' ? 'attention' : 'installing';
}

export const isFinalPhase = (phase: StatusPhase) => FINAL.includes(phase);

type StepState = 'done' | 'active' | 'waiting' | 'failed';

function steps(view: StatusView, phase: StatusPhase): [StringKey, StepState][] {
  const rank = RANK[view.session.state];
  const enrolled = rank === 3;
  const list: [StringKey, StepState][] = [
    ['status.step.downloaded', rank >= 1 ? 'done' : rank === 0 ? 'active' : 'waiting'],
    ['status.step.enrolled', enrolled ? 'done' : rank >= 1 ? 'active' : 'waiting'],
  ];
  if (view.tracksReadiness) {
    const app: StepState =
      phase === 'ready' ? 'done' : phase === 'attention' ? 'failed' : phase === 'installing' ? 'active' : 'waiting';
    list.push(['status.step.authenticator', app]);
  }
  list.push(['status.step.ready', phase === 'ready' ? 'done' : 'waiting']);
  return list;
}

const STEP_TEXT: Record<StepState, StringKey> = {
  done: 'status.state.done',
  active: 'status.state.active',
  waiting: 'status.state.waiting',
  failed: 'status.state.failed',
};

/** The live region of the status page: re-rendered on every update and sent over server-sent events. */
export function statusRegion(kit: PageKit, view: StatusView): { html: SafeHtml; phase: StatusPhase } {
  const { t } = kit;
  const phase = statusPhase(view);
  const actions: Partial<Record<StatusPhase, SafeHtml>> = {
    downloading: view.downloadPath
      ? html`<a class="button" href="${view.downloadPath}">${t('status.download')}</a>`
      : undefined,
    expired: html`<a class="button" href="/">${t('status.restart')}</a>`,
    cancelled: html`<a class="button secondary" href="/">${t('status.restart')}</a>`,
    ready: html`<a class="button" href="/devices">${t('status.devices')}</a>`,
    attention: html`<a href="/help">${t('status.help')}</a>`,
    install: html`<a href="/help">${t('status.help')}</a>`,
  };
  return {
    phase,
    html: html`<div class="card" data-state="${phase}">
<p class="headline">${t(`status.headline.${phase}` as StringKey)}</p>
${phase === 'removed' ? '' : html`<p>${t(`status.detail.${phase}` as StringKey)}</p>`}
<ol class="progress" aria-label="${t('status.progress')}">${steps(view, phase).map(
      ([label, state]) =>
        html`<li data-step="${state}"><span class="dot" aria-hidden="true"></span><span>${t(label)}</span><span class="state">${t(STEP_TEXT[state])}</span></li>`,
    )}</ol>${actions[phase] ?? ''}</div>`,
  };
}

export function renderStatus(ctx: Koa.Context, kit: PageKit, view: StatusView): void {
  const { t } = kit;
  const region = statusRegion(kit, view);
  const live = `/enroll/status/${view.session.id}/events`;
  const startDownload = region.phase === 'downloading' && view.downloadPath;
  renderPage(ctx, kit, {
    id: 'status',
    title: t('status.title'),
    // The download starts by itself: a navigation answered with a profile leaves this page in place.
    head: startDownload
      ? html`<meta http-equiv="refresh" content="0; url=${view.downloadPath}">`
      : isFinalPhase(region.phase)
        ? undefined
        : html`<noscript><meta http-equiv="refresh" content="10"></noscript>`,
    body: html`<h1>${t('status.title')}</h1>
<div data-live="${live}" aria-live="polite">${region.html}</div>
${['downloading', 'install'].includes(region.phase) ? html`<div data-while="downloading install">${installSteps(kit)}</div>` : ''}`,
  });
}
