import {
  checkinMessageHandlersPoint,
  type PluginContext,
  pushServiceRef,
  pushTopicRef,
  userDirectoryRef,
} from 'enrollment-gateway/sdk';
import { defaultProfileIdentifier, type MdmConfig } from '../config.js';
import { mdmMetrics, meteredEnqueue, meteredEvents } from '../http/metrics.js';
import { MongoBulkOperations } from '../storage/bulk-operations.js';
import { CommandStore } from '../storage/command-store.js';
import { inventoryStore } from '../storage/device-records.js';
import { DeviceViews } from '../storage/device-views.js';
import { IdentityBindings } from '../storage/identity-bindings.js';
import { mdmModels } from '../storage/models.js';
import { PresenceStore, presenceResolutionMs } from '../storage/presence-store.js';
import { BulkCommandService } from './bulk-commands.js';
import { CertificateService } from './certificate-service.js';
import { CheckinService } from './checkin-service.js';
import { CommandMirror } from './command-mirror.js';
import { CommandService } from './command-service.js';
import { DeviceBindingCache } from './device-binding-cache.js';
import { DeviceIdentityVerifier } from './device-identity.js';
import { DeviceMigration } from './device-migration.js';
import { DeviceSecrets } from './device-secrets.js';
import { MongoDeviceDirectory } from './directory.js';
import { EnrollmentService } from './enrollment-service.js';
import { PkiService } from './pki-service.js';
import { PresenceMarks } from './presence-marks.js';
import { RetirementService } from './retirement-service.js';
import { LOADED_MEMBER, RevocationList } from './revocation-list.js';
import { ScepService } from './scep-service.js';

/** Everything the plugin builds once per gateway, wired by hand: the graph is small and explicit. */
export function buildServices(ctx: PluginContext<MdmConfig>) {
  const models = mdmModels(ctx.mongo);
  const metrics = mdmMetrics(ctx.metrics);
  // Answers and completed enrollments are counted where they are announced, once per recorded fact.
  const events = meteredEvents(ctx.events, metrics);
  const views = new DeviceViews(models);
  const organization = ctx.config.organizationName ?? ctx.gateway.organizationName;
  const pki = new PkiService(models, ctx.keyVault, ctx.logger, organization);
  const enrollments = new EnrollmentService(
    models,
    pki,
    {
      publicUrl: ctx.gateway.publicUrl,
      organization,
      profileIdentifier: ctx.config.profileIdentifier ?? defaultProfileIdentifier(ctx.gateway.publicUrl),
      sessionTtlSeconds: ctx.config.enrollmentSessionTtlSeconds,
    },
    ctx.tryResolve(pushTopicRef),
    ctx,
  );
  const revocations = new RevocationList(models, ctx.redis, ctx.redisKeyPrefix, ctx.logger);
  const presence = new PresenceMarks(
    ctx.redis,
    ctx.redisKeyPrefix,
    new PresenceStore(models, presenceResolutionMs(ctx.config.presenceFlushSeconds)),
    ctx.logger,
  );
  const bindingCache = new DeviceBindingCache(
    ctx.redis,
    ctx.redisKeyPrefix,
    ctx.logger,
    { key: revocations.key, loadedMember: LOADED_MEMBER },
    presence.key,
  );
  const identity = new DeviceIdentityVerifier(
    models,
    async () => (await pki.get()).ca.certPem,
    revocations,
    presence,
    bindingCache,
    new IdentityBindings(models.devices.db),
  );
  const commandStore = new CommandStore(models);
  const commands = new CommandService(
    commandStore,
    new CommandMirror(ctx.redis, ctx.redisKeyPrefix),
    views,
    inventoryStore(models),
    events,
    () => ctx.tryResolve(pushServiceRef),
    ctx.logger,
  );
  const secrets = new DeviceSecrets(models, ctx.keyVault, ctx.logger);
  const checkins = new CheckinService(models, views, identity, revocations, commands, events, secrets, ctx.logger, () =>
    ctx.extensions(checkinMessageHandlersPoint).map((c) => c.value),
  );
  const scep = new ScepService(
    models,
    views,
    revocations,
    pki,
    enrollments,
    ctx.config.deviceCertificateValidityDays,
    ctx.logger,
  );
  const directory = new MongoDeviceDirectory(models, views, secrets, commands);
  const certificates = new CertificateService(models, revocations, ctx.logger);
  const retirement = new RetirementService(
    models,
    views,
    revocations,
    secrets,
    enrollments,
    commands,
    ctx.logger,
    bindingCache,
  );
  const migration = new DeviceMigration(models, revocations, secrets, ctx.logger);
  commands.enqueue = meteredEnqueue(commands.enqueue.bind(commands), metrics);
  const bulkStorage = new MongoBulkOperations(ctx.mongo);
  const bulk = new BulkCommandService(bulkStorage, commands, views, () => ctx.tryResolve(userDirectoryRef));
  const createSession = enrollments.create.bind(enrollments);
  enrollments.create = async (request) => {
    const session = await createSession(request);
    metrics.sessionsIssued.inc();
    return session;
  };
  return {
    models,
    views,
    pki,
    enrollments,
    revocations,
    identity,
    commands,
    commandStore,
    bulk,
    bulkStorage,
    checkins,
    scep,
    directory,
    certificates,
    secrets,
    retirement,
    migration,
    metrics,
    presence,
  };
}
