import { definePlugin, type PluginContext } from 'enrollment-gateway/sdk';
import { AdminApiClient } from './src/api-client.js';
import { mountAssets } from './src/assets.js';
import { type AdminCenterConfig, adminCenterConfigSchema } from './src/config.js';
import { LiveDeviceEvents, mountLiveRoutes } from './src/live.js';
import { mountAccountEnrollmentPage } from './src/pages/account-enrollment.js';
import { mountAdministratorsPage } from './src/pages/administrators.js';
import { mountAuditPage } from './src/pages/audit.js';
import { mountBulkPages } from './src/pages/bulk.js';
import { mountCompliancePage } from './src/pages/compliance.js';
import { mountDdmPage } from './src/pages/ddm.js';
import { mountDevicePage } from './src/pages/device.js';
import { mountDevicesPage } from './src/pages/devices.js';
import { mountEnrollPage } from './src/pages/enroll.js';
import { mountHomePage } from './src/pages/home.js';
import { mountPoliciesPage } from './src/pages/policies.js';
import { mountProfilePages } from './src/pages/profiles.js';
import { mountPushPage } from './src/pages/push.js';
import { mountSetupPage } from './src/pages/setup.js';
import { mountSignInPage } from './src/pages/sign-in.js';
import { mountUserPages } from './src/pages/users.js';
import { mountWebhooksPage } from './src/pages/webhooks.js';

/**
 * The admin web UI: server-rendered pages over the plugins' own admin API (read through loopback with
 * the admin's credentials, so a page shows exactly what the API allows), small scripts for forms,
 * drag-and-drop and live updates, and a strict CSP.
 */
export default definePlugin({
  name: 'admin-center',
  version: '1.0.0',
  coreApi: '^2.11.0',
  description: 'Admin web UI: setup, enrollment profiles, devices, push certificate, policies, users, audit log',
  dependsOn: ['admin-access'],
  optionalDependsOn: ['identity-entra', 'admin-passkeys', 'unenrollment', 'mdm'],
  config: adminCenterConfigSchema,
  register(api) {
    let live: LiveDeviceEvents | undefined;
    const liveEvents = (ctx: PluginContext<AdminCenterConfig>) => {
      live ??= new LiveDeviceEvents(ctx);
      return live;
    };
    api.routes({
      prefix: '/admin',
      mount(router, ctx) {
        // The overview once setup is done; the checklist until then (pages read the API, so does this).
        router.get('/', async (koa) => {
          const checklist = await new AdminApiClient(koa).get<{ complete: boolean }>('/api/setup/checklist');
          // Unreadable (an anonymous browser): the checklist page, which sends it to sign in and back there.
          koa.redirect(!checklist.ok || !checklist.body.complete ? '/admin/setup' : '/admin/home');
        });
        mountAssets(router);
        mountSetupPage(router, ctx);
        mountHomePage(router, ctx);
        mountProfilePages(router, ctx);
        mountDevicesPage(router, ctx);
        mountDevicePage(router, ctx);
        mountUserPages(router, ctx);
        mountPushPage(router, ctx);
        mountPoliciesPage(router, ctx);
        mountCompliancePage(router, ctx);
        mountAccountEnrollmentPage(router, ctx);
        mountDdmPage(router, ctx);
        mountEnrollPage(router, ctx);
        mountAuditPage(router, ctx);
        mountSignInPage(router, ctx);
        mountAdministratorsPage(router, ctx);
        mountWebhooksPage(router, ctx);
        mountBulkPages(router, ctx);
      },
    });
    api.routes({
      prefix: '/api/admin-center',
      mount: (router, ctx) => mountLiveRoutes(router, ctx, liveEvents(ctx)),
    });
    api.on('command.result', async (event, ctx) => {
      await liveEvents(ctx).publish({
        deviceId: event.deviceId,
        event: 'command',
        data: { commandUuid: event.commandUuid, requestType: event.requestType, status: event.status },
      });
    });
    api.on('device.unenrolled', async (event, ctx) => {
      await liveEvents(ctx).publish({
        deviceId: event.deviceId,
        event: 'unenrollment',
        data: { state: event.unreachable ? 'device-unreachable' : 'completed' },
      });
    });
    api.onStop(async () => {
      await live?.close();
    });
  },
});
