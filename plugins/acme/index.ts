import {
  definePlugin,
  deviceCommandsRef,
  deviceDirectoryRef,
  deviceIdentityIssuerRef,
  deviceStatusItemsPoint,
  enrollmentIdentityPoint,
  enrollmentSessionsRef,
  type PluginContext,
  stableUuid,
} from 'enrollment-gateway/sdk';
import { type AcmeConfig, acmeConfigSchema, attestationRoots } from './src/config.js';
import { ACME_BODY_LIMIT, mountAcmeRoutes } from './src/http/acme-routes.js';
import { mountAcmeAdminRoutes } from './src/http/admin-routes.js';
import { parseAnchors } from './src/protocol/attestation.js';
import { AcmeService } from './src/services/acme-service.js';
import { attestedIdentityItems } from './src/services/device-status.js';
import { IdentityPayloads } from './src/services/identity-payload.js';
import { NonceStore } from './src/services/nonces.js';
import { PropertyAttestations } from './src/services/property-attestation.js';
import { IdentityRenewals } from './src/services/renewals.js';
import { PropertyRecords, propertyModels } from './src/storage/property-records.js';
import { acmeModels, IdentityRecords, OrderRecords } from './src/storage/records.js';

const RENEWAL_QUEUE = 'acme-renewal';

function build(ctx: PluginContext<AcmeConfig>) {
  const models = acmeModels(ctx.mongo);
  const orders = new OrderRecords(models);
  const identities = new IdentityRecords(models);
  const properties = new PropertyRecords(propertyModels(ctx.mongo));
  const payloads = new IdentityPayloads(identities, { publicUrl: ctx.gateway.publicUrl, ...ctx.config });
  const acme = new AcmeService({
    publicUrl: ctx.gateway.publicUrl,
    nonces: new NonceStore(ctx.redis, ctx.redisKeyPrefix, ctx.config.nonceTtlSeconds),
    orders,
    identities,
    issuer: ctx.resolve(deviceIdentityIssuerRef),
    sessions: ctx.resolve(enrollmentSessionsRef),
    anchorsPem: attestationRoots(ctx.config),
    orderTtlSeconds: ctx.config.orderTtlSeconds,
  });
  const refusals = ctx.metrics.counter('acme_refusals_total', 'ACME requests refused, by ACME error type', ['type']);
  const attestations = new PropertyAttestations({
    records: properties,
    commands: () => ctx.resolve(deviceCommandsRef),
    directory: () => ctx.resolve(deviceDirectoryRef),
    anchors: parseAnchors(attestationRoots(ctx.config)),
    minimumOsVersion: ctx.config.minimumOsVersion,
    refusals: ctx.metrics.counter(
      'acme_property_attestation_refusals_total',
      'DevicePropertiesAttestation answers not believed, by reason',
      ['reason'],
    ),
    logger: ctx.logger,
  });
  const renewals = new IdentityRenewals({
    publicUrl: ctx.gateway.publicUrl,
    orders,
    records: properties,
    payloads,
    issuer: () => ctx.resolve(deviceIdentityIssuerRef),
    directory: () => ctx.resolve(deviceDirectoryRef),
    windowDays: ctx.config.renewalWindowDays,
    failures: ctx.metrics.counter('acme_renewal_failures_total', 'ACME renewals the device answered with an error'),
    logger: ctx.logger,
  });
  return { orders, identities, properties, payloads, acme, refusals, attestations, renewals };
}

/**
 * ACME (RFC 8555) for device identities with Apple's device-attest-01: iOS/iPadOS 16+ devices get a hardware-bound,
 * attested identity from the gateway CA instead of a SCEP one, renewed before it expires; their properties are
 * attested (DevicePropertiesAttestation) after enrollment. Meets mdm only through the SDK.
 */
export default definePlugin({
  name: 'acme',
  version: '1.1.0',
  coreApi: '^2.12.0',
  description: 'ACME with managed device attestation: hardware-bound device identities for iOS/iPadOS 16+',
  dependsOn: ['mdm'],
  optionalDependsOn: ['admin-access'],
  config: acmeConfigSchema,
  register(api) {
    let built: ReturnType<typeof build> | undefined;
    const services = (ctx: PluginContext<AcmeConfig>) => {
      built ??= build(ctx);
      return built;
    };
    api.contribute(enrollmentIdentityPoint, (ctx) => services(ctx).payloads);
    api.contribute(deviceStatusItemsPoint, (ctx) => ({
      statusFor: (devices) => attestedIdentityItems(services(ctx).orders, services(ctx).properties, devices),
    }));
    // Once enrolled, an iOS/iPadOS 16+ device is asked to attest its properties; the same CommandUUID on every delivery.
    api.on('device.enrolled', async (event, ctx, meta) => {
      if (!ctx.config.attestPropertiesOnEnrollment) return;
      await services(ctx).attestations.request(
        event.deviceId,
        stableUuid(meta.eventId, 'acme DevicePropertiesAttestation'),
      );
    });
    api.on('command.result', async (event, ctx) => {
      await services(ctx).attestations.onCommandResult(event);
      await services(ctx).renewals.onCommandResult(event);
    });
    api.queue<{ kind: 'renew' }>({
      name: RENEWAL_QUEUE,
      processor: async (_job, ctx) => ({ renewed: await services(ctx).renewals.renewDue() }),
    });
    api.onStart(async (ctx) => {
      await services(ctx).orders.ensureIndexes();
      await services(ctx).properties.ensureIndexes();
      if (ctx.gateway.role === 'serve' || ctx.config.renewalWindowDays === 0) return;
      await ctx
        .queue<{ kind: 'renew' }>(RENEWAL_QUEUE)
        .queue.upsertJobScheduler('acme-renewal', { every: 3_600_000 }, { name: 'renew', data: { kind: 'renew' } });
    });
    api.routes({
      prefix: '/acme',
      bodyLimitBytes: ACME_BODY_LIMIT,
      mount: (router, ctx) => mountAcmeRoutes(router, services(ctx).acme, services(ctx).refusals),
    });
    api.routes({
      prefix: '/api/acme',
      mount: (router, ctx) =>
        mountAcmeAdminRoutes(router, ctx, {
          records: services(ctx).identities,
          payloads: services(ctx).payloads,
          defaultIdentity: ctx.config.defaultIdentity,
          properties: services(ctx).properties,
          attestations: services(ctx).attestations,
          renewals: services(ctx).renewals,
        }),
    });
  },
});
