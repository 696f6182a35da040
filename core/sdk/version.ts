/**
 * Version of the plugin API (this SDK), following semver:
 * - a patch release fixes behaviour without changing any type or contract;
 * - a minor release only adds (a contract, an extension point, an optional member, an event) — a plugin
 *   built for 1.0 keeps loading and working on every 1.x;
 * - a major release removes or changes something, and plugins declare the majors they support.
 * Plugins declare the range they support in `coreApi` (usually "^1.<the minor whose additions they use>.0");
 * the loader refuses a plugin whose range excludes this version before anything starts.
 *
 * 1.1.0 added: deviceStatusItemsPoint and adminNavigationPoint (contracts/surfaces), unenrollmentRef and
 * managedItemsPoint (contracts/unenrollment), deviceRetirementRef (contracts/mdm), browserSessionsRef,
 * companyPortalRef (contracts/portal), the `html` template, collectExtensions, askVetoPoint, and the
 * OpenAPI route helpers (adminApi, adminRoute, describeRoute, pageOf, cursors), and optimistic concurrency
 * (expectedVersion, etag, VersionedSettingsStore, mountVersionedSettingsRoutes). docs/plugins.md keeps the
 * full history.
 */
export const CORE_API_VERSION = '1.1.0';
