import {
  collectExtensions,
  type DeviceRecord,
  type DeviceStatusItem,
  deviceStatusItemsPoint,
  html,
  type PluginRouter,
  ProblemError,
  type SafeHtml,
  type SignedInUser,
} from 'enrollment-gateway/sdk';
import type Koa from 'koa';
import {
  csrfOk,
  kitOf,
  type PortalDeps,
  readForm,
  renderNotFound,
  requireUser,
  seeOther,
  signInPage,
  takeStreamSlot,
} from '../deps.js';
import { type PageKit, renderMessage } from '../layout.js';
import { openEventStream } from '../live.js';
import {
  type DeviceView,
  deviceRegion,
  renderDeviceList,
  renderDevicePage,
  renderRemoveConfirm,
} from '../pages/devices.js';

/** What "Check status" asks for: enough to show the device is alive and how it is doing. */
const STATUS_QUERIES = [
  'DeviceName',
  'OSVersion',
  'BuildVersion',
  'ProductName',
  'Model',
  'SerialNumber',
  'BatteryLevel',
  'DeviceCapacity',
  'AvailableDeviceCapacity',
];

const NAME_MAX = 60;
const validName = (name: string) =>
  name.length >= 1 &&
  name.length <= NAME_MAX &&
  ![...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/** The user's own device, or undefined after a 404 (unknown) or 403 (another user's) page. */
async function ownDevice(ctx: Koa.Context, deps: PortalDeps, kit: PageKit): Promise<DeviceRecord | undefined> {
  const device = await deps.directory().get(String(ctx.params.id));
  if (!device) {
    renderNotFound(ctx, kit);
    return undefined;
  }
  if (device.userId !== (kit.user as SignedInUser).id) {
    renderMessage(ctx, kit, {
      id: 'forbidden',
      status: 403,
      title: kit.t('error.forbidden.title'),
      message: kit.t('error.forbidden.body'),
    });
    return undefined;
  }
  return device;
}

async function statusItems(
  deps: PortalDeps,
  devices: readonly DeviceRecord[],
): Promise<Map<string, DeviceStatusItem[]>> {
  const outcomes = await collectExtensions(deps.ctx, deviceStatusItemsPoint, (c) => c.statusFor(devices));
  const byDevice = new Map<string, DeviceStatusItem[]>();
  for (const { value } of outcomes) {
    for (const [deviceId, items] of Object.entries(value ?? {})) {
      if (Array.isArray(items)) byDevice.set(deviceId, [...(byDevice.get(deviceId) ?? []), ...items]);
    }
  }
  return byDevice;
}

async function loadDevice(deps: PortalDeps, device: DeviceRecord): Promise<DeviceView> {
  const unenrollment = deps.unenrollment();
  const [name, readiness, items, check, run] = await Promise.all([
    deps.names.get(device.id, device.userId ?? ''),
    deps.readiness()?.get(device.id),
    statusItems(deps, [device]),
    deps.state.check(device.id),
    unenrollment?.get(device.id),
  ]);
  // A removal of an earlier enrollment of the device is history, not progress.
  const current = run && (!run.enrollmentId || run.enrollmentId === device.enrollmentId) ? run : undefined;
  return {
    device,
    name,
    readiness,
    items: items.get(device.id) ?? [],
    check,
    unenrollment: current,
    removable: unenrollment !== undefined && device.state !== 'retired',
  };
}

export function mountDeviceRoutes(router: PluginRouter, deps: PortalDeps): void {
  const page = async (ctx: Koa.Context, kit: PageKit, device: DeviceRecord, flash?: SafeHtml, status?: number) =>
    renderDevicePage(ctx, kit, await loadDevice(deps, device), flash, status);

  router.get('/devices', async (ctx) => {
    const kit = await requireUser(ctx, deps, '/devices');
    if (!kit) return;
    const userId = (kit.user as SignedInUser).id;
    const [devices, names] = await Promise.all([deps.directory().listForUser(userId), deps.names.forUser(userId)]);
    const shown = devices.filter((d) => d.state !== 'retired');
    const readiness = deps.readiness();
    renderDeviceList(
      ctx,
      kit,
      await Promise.all(
        shown.map(async (device) => ({
          device,
          name: names.get(device.id),
          readiness: await readiness?.get(device.id),
        })),
      ),
    );
  });

  router.get('/devices/:id', async (ctx) => {
    const kit = await requireUser(ctx, deps, ctx.path);
    const device = kit && (await ownDevice(ctx, deps, kit));
    if (!kit || !device) return;
    const flash =
      ctx.query.renamed === '1'
        ? html`<p class="alert ok" role="status">${kit.t('device.rename.saved')}</p>`
        : undefined;
    await page(ctx, kit, device, flash);
  });

  router.post('/devices/:id/rename', async (ctx) => {
    const base = `/devices/${encodeURIComponent(ctx.params.id)}`;
    const kit = await requireUser(ctx, deps, base);
    const device = kit && (await ownDevice(ctx, deps, kit));
    if (!kit || !device) return;
    const form = await readForm(ctx);
    if (!(await csrfOk(ctx, deps, kit, form))) return;
    const name = (form.get('name') ?? '').trim();
    if (!validName(name)) {
      const alert = html`<p class="alert" role="alert">${kit.t('device.rename.invalid')}</p>`;
      return page(ctx, kit, device, alert, 400);
    }
    await deps.names.set(device.id, device.userId as string, name);
    await deps.live.publish({ deviceId: device.id });
    seeOther(ctx, `${base}?renamed=1`);
  });

  router.post('/devices/:id/check', async (ctx) => {
    const base = `/devices/${encodeURIComponent(ctx.params.id)}`;
    const kit = await requireUser(ctx, deps, base);
    const device = kit && (await ownDevice(ctx, deps, kit));
    if (!kit || !device) return;
    if (!(await csrfOk(ctx, deps, kit, await readForm(ctx)))) return;
    const notManaged = () => {
      const alert = html`<p class="alert" role="alert">${kit.t('device.check.notManaged')}</p>`;
      return page(ctx, kit, device, alert, 409);
    };
    if (device.state !== 'enrolled') return notManaged();
    if (!(await deps.state.claimCheck(device.id))) {
      const alert = html`<p class="alert" role="alert">${kit.t('device.check.tooSoon')}</p>`;
      return page(ctx, kit, device, alert, 429);
    }
    let queued: { commandUuid: string } | undefined;
    try {
      // The command service wakes the device through the push service as it queues the command.
      [queued] = await deps.commands().enqueue([device.id], {
        requestType: 'DeviceInformation',
        payload: { Queries: STATUS_QUERIES },
        origin: `portal:${device.userId}`,
      });
    } finally {
      if (!queued) await deps.state.releaseCheck(device.id);
    }
    if (!queued) return notManaged();
    await deps.state.startCheck(device.id, queued.commandUuid);
    seeOther(ctx, base);
  });

  router.get('/devices/:id/remove', async (ctx) => {
    const base = `/devices/${encodeURIComponent(ctx.params.id)}`;
    const kit = await requireUser(ctx, deps, ctx.path);
    const device = kit && (await ownDevice(ctx, deps, kit));
    if (!kit || !device) return;
    if (device.state === 'retired') return seeOther(ctx, base);
    renderRemoveConfirm(ctx, kit, device, await deps.names.get(device.id, device.userId ?? ''));
  });

  router.post('/devices/:id/remove', async (ctx) => {
    const base = `/devices/${encodeURIComponent(ctx.params.id)}`;
    const kit = await requireUser(ctx, deps, `${base}/remove`);
    const device = kit && (await ownDevice(ctx, deps, kit));
    if (!kit || !device) return;
    if (!(await csrfOk(ctx, deps, kit, await readForm(ctx)))) return;
    const unenrollment = deps.unenrollment();
    if (!unenrollment) {
      return renderMessage(ctx, kit, {
        id: 'remove-unavailable',
        status: 503,
        title: kit.t('device.remove.heading'),
        message: kit.t('remove.unavailable'),
      });
    }
    const user = kit.user as SignedInUser;
    try {
      await unenrollment.start({
        deviceId: device.id,
        trigger: 'user',
        requestedBy: { kind: 'user', id: user.id, displayName: user.displayName },
      });
    } catch (error) {
      if (!ProblemError.is(error) || error.status >= 500) throw error;
      const alert = html`<p class="alert" role="alert">${error.detail ?? error.title}</p>`;
      return page(ctx, kit, device, alert, error.status);
    }
    await deps.live.publish({ deviceId: device.id, userId: user.id });
    seeOther(ctx, base);
  });

  router.get('/devices/:id/events', async (ctx) => {
    const id = String(ctx.params.id);
    const path = `/devices/${encodeURIComponent(id)}`;
    const user = await deps.sessions()?.currentUser(ctx);
    const release = await takeStreamSlot(deps, ctx, user?.id);
    const kit = kitOf(deps, { user });
    await openEventStream(ctx, {
      onClose: release,
      live: deps.live,
      refreshMs: deps.config.liveRefreshSeconds * 1000,
      maxMs: deps.config.liveStreamSeconds * 1000,
      logger: deps.ctx.logger,
      concerns: () => ({ deviceId: id, userId: user?.id }),
      render: async () => {
        const device = user ? await deps.directory().get(id) : undefined;
        if (!device || device.userId !== user?.id) return { signin: signInPage(path) };
        const view = await loadDevice(deps, device);
        const finished = view.unenrollment !== undefined && view.unenrollment.state !== 'in-progress';
        return { html: deviceRegion(kit, view).value, final: finished };
      },
    });
  });
}
