/**
 * Version of the plugin API (this SDK), following semver:
 * - a patch release fixes behaviour without changing any type or contract;
 * - a minor release only adds (a contract, an extension point, an optional member, an event) — a plugin
 *   built for 1.0 keeps loading and working on every 1.x;
 * - a major release removes or changes something, and plugins declare the majors they support.
 * Plugins declare the range they support in `coreApi` (usually "^2.<the minor whose additions they use>.0");
 * the loader refuses a plugin whose range excludes this version before anything starts.
 *
 * 1.1.0 added: deviceStatusItemsPoint and adminNavigationPoint (contracts/surfaces), unenrollmentRef and
 * managedItemsPoint (contracts/unenrollment), deviceRetirementRef (contracts/mdm), browserSessionsRef,
 * companyPortalRef (contracts/portal), the `html` template, collectExtensions, askVetoPoint, and the
 * OpenAPI route helpers (adminApi, adminRoute, describeRoute, pageOf, cursors), and optimistic concurrency
 * (expectedVersion, etag, VersionedSettingsStore, mountVersionedSettingsRoutes).
 *
 * 2.0.0 made events durable: `emit(event, payload, { eventId, apply? })` records the event in the core's
 * outbox and returns `{ recorded }`; handlers run in workers, at least once, and get `(payload, ctx, meta)`
 * with `meta.eventId`. Added stableUuid, withTimeout/TimeoutError and GenerationCache.
 * 2.1.0 added LiveChannel (server-sent events fanned out across replicas over Redis pub/sub).
 * 2.2.0 added rate limits: `ctx.rateLimits`, `rateLimit` route middleware, `RateLimitedProblem`, `refuseWhenLimited`,
 * and `headers` on ProblemError.
 * 2.3.0 added device identities (contracts/device-identity): `enrollmentIdentityPoint` (a plugin contributes the
 * enrollment profile's identity payload, e.g. ACME), `deviceIdentityIssuerRef` and `DeviceIdentityRefusedError`.
 * 2.4.0 added adminSignInMethodsPoint, AdminPrincipal.session (browser-session sign-out and CSRF token) and
 * GatewayInfo.organizationName (the one organisation name every plugin shows).
 * 2.5.0 added reverseDnsIdentifier and the optional UserDirectory.membersOf.
 * 2.6.0 added UserDirectory.searchGroups (optional) and DirectoryGroup, for group pickers.
 * 2.7.0 added declarative device management (contracts/declarative): declarationsPoint, declarativeManagementRef,
 * the ddm.statusChanged event, and checkinMessageHandlersPoint (contracts/mdm) for check-in types mdm leaves to others.
 * 2.8.0 added account-driven enrollment: EnrollmentType 'account-driven', the 'account-driven-enrollment'
 * resolution outcome, EnrollmentSessionRequest.accountDriven (AccountDrivenEnrollment), the optional
 * EnrollmentSessionService.fetchProfile and DeviceRecord.userEnrollment.
 * 2.9.0 added enrollment attempts (contracts/enrollment-attempts): the `enrollment.step` event, ENROLLMENT_STEPS,
 * ENROLLMENT_FAILURE_REASONS and enrollmentAttemptsRef (a user's latest attempt, for the portal).
 * 2.10.0 added DeviceIdentityIssuer.deliverIdentityPayload (optional) and IdentityPayloadDelivery: a new identity
 * payload reaches an enrolled device by reinstalling its enrollment profile (ACME renewal).
 * 2.11.0 added the user.groupsChanged event (identity-entra raises it when a sign-in brings other groups; ddm re-syncs
 * the user's devices), PluginRouter (the type route modules take), bulkWriteInChunks and strictPageCsp.
 * 2.12.0 added legacyProfilesPoint (a plugin's profile delivered by a com.apple.configuration.legacy declaration) and
 * the optional DeclarativeManagement.takesDeclarations and requestSyncAll, VersionedSettingsRouteOptions.onSaved,
 * modelOn, and declarationOutcome (what management.declarations says of one configuration).
 * 2.13.0 added withRedisLock (work one replica at a time, released only by its holder).
 * docs/plugins.md keeps the full history.
 */
export const CORE_API_VERSION = '2.13.0';
