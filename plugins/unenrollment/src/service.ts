import {
  ConflictProblem,
  type DeviceDirectory,
  type DeviceRecord,
  type DeviceRetirementService,
  type ManagedItem,
  NotFoundProblem,
  ProblemError,
  type Unenrollment,
  type UnenrollmentRequest,
  type UnenrollmentService,
  ValidationProblem,
} from 'enrollment-gateway/sdk';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { JobControl } from './jobs.js';
import { type RequestDoc, SERVER_STEPS, type StepDoc, toUnenrollment, type UnenrollmentDoc } from './steps.js';
import type { JoinedRequests, UnenrollmentReader, UnenrollmentStarts } from './storage/unenrollment-records.js';

const requestSchema = z.object({
  deviceId: z.string().min(1).max(100),
  trigger: z.enum(['user', 'admin', 'checkout', 'inactivity']),
  requestedBy: z.object({
    kind: z.enum(['user', 'admin', 'device', 'system']),
    id: z.string().min(1).max(300),
    displayName: z.string().max(300).optional(),
  }),
});

/** Managed items by the plugin that reported them. */
export type ItemCollector = (deviceId: string) => Promise<{ plugin: string; items: ManagedItem[] }[]>;

/** What the request role reads and writes: it creates an unenrollment once, and joins requests to it. */
export type ServiceRecords = UnenrollmentStarts & UnenrollmentReader & JoinedRequests;

export interface ServiceDeps {
  records: ServiceRecords;
  directory: () => DeviceDirectory;
  retirement: () => DeviceRetirementService;
  collectItems: ItemCollector;
  jobs: JobControl;
  logger: Logger;
}

export const unenrollmentId = (device: Pick<DeviceRecord, 'id' | 'enrollmentId'>) =>
  `${device.id}:${device.enrollmentId ?? 'none'}`;

/** Starts unenrollments (once per enrollment of a device, however many ask) and reports them. */
export class Unenrollments implements UnenrollmentService {
  constructor(private readonly deps: ServiceDeps) {}

  async start(input: UnenrollmentRequest): Promise<Unenrollment> {
    const parsed = requestSchema.safeParse(input);
    if (!parsed.success)
      throw new ValidationProblem(`invalid unenrollment request: ${parsed.error.issues[0]?.message}`);
    const request = parsed.data;
    const device = await this.deps.directory().get(request.deviceId);
    if (!device) throw new NotFoundProblem('no such device');
    // A device user may only remove their own devices; the portal checks too, this holds for any caller.
    if (request.requestedBy.kind === 'user' && device.userId !== request.requestedBy.id) {
      throw new ProblemError(403, 'Forbidden', 'this device belongs to another user');
    }
    const id = unenrollmentId(device);
    const now = new Date();
    const asked: RequestDoc = { trigger: request.trigger, requestedBy: request.requestedBy, at: now };
    let doc = await this.deps.records.get(id);
    if (!doc) {
      if (device.state === 'retired') throw new ConflictProblem('this device is already retired');
      const fresh = await this.plan(id, device, asked);
      if (await this.deps.records.create(fresh)) {
        await this.deps.records.record(id, asked);
        this.deps.logger.info(
          { deviceId: device.id, trigger: request.trigger, steps: fresh.steps.length },
          'unenrollment started',
        );
        await this.deps.jobs.ensure(id, device.id);
        return toUnenrollment(fresh, [asked]);
      }
      // Someone else started it a moment ago (a double click, the admin and the user at once): join theirs.
      doc = await this.deps.records.get(id);
      if (!doc) throw new ConflictProblem('the unenrollment changed while it was being started; try again');
    }
    return this.join(doc, asked);
  }

  async get(deviceId: string): Promise<Unenrollment | undefined> {
    const doc = await this.deps.records.latestOf(deviceId);
    if (!doc) return undefined;
    const requests = await this.deps.records.of([doc._id]);
    return toUnenrollment(doc, requests.get(doc._id) ?? []);
  }

  async list(filter: { state?: Unenrollment['state']; limit: number }): Promise<Unenrollment[]> {
    const docs = await this.deps.records.list(filter);
    const requests = await this.deps.records.of(docs.map((d) => d._id));
    return docs.map((doc) => toUnenrollment(doc, requests.get(doc._id) ?? []));
  }

  /**
   * Adds a request to a running or finished unenrollment (a repeated click adds nothing). A CheckOut mid-wipe
   * wakes the job, which then skips the remote steps still open.
   */
  private async join(doc: UnenrollmentDoc, asked: RequestDoc): Promise<Unenrollment> {
    const added = await this.deps.records.record(doc._id, asked);
    if (doc.state === 'in-progress') {
      await this.deps.jobs.ensure(doc._id, doc.deviceId);
      if (added && asked.trigger === 'checkout') await this.deps.jobs.wake(doc._id);
    }
    const requests = await this.deps.records.of([doc._id]);
    return toUnenrollment(doc, requests.get(doc._id) ?? []);
  }

  /**
   * The step list, fixed when the unenrollment is created: what the plugins say they installed, then the MDM
   * profile, then the server-side steps. Shown in full from the first moment, so progress has a denominator.
   */
  private async plan(id: string, device: DeviceRecord, asked: RequestDoc): Promise<UnenrollmentDoc> {
    const target = { deviceId: device.id, enrollmentId: device.enrollmentId };
    const [collected, mdmProfile] = await Promise.all([
      this.deps.collectItems(device.id),
      this.deps.retirement().enrollmentProfileIdentifier(target),
    ]);
    const now = asked.at;
    const checkedOut = asked.trigger === 'checkout' || device.state === 'checked-out';
    const remote = (step: Omit<StepDoc, 'state' | 'attempts' | 'updatedAt'>): StepDoc => ({
      ...step,
      state: checkedOut ? 'skipped' : 'pending',
      detail: checkedOut ? 'the device removed its management profile itself (CheckOut)' : undefined,
      attempts: 0,
      updatedAt: now,
    });
    const steps: StepDoc[] = [remote({ name: 'cancel-queued-commands', kind: 'cancel' })];
    const seen = new Set<string>([`profile:${mdmProfile}`]);
    for (const { plugin, items } of collected) {
      for (const item of items) {
        const key = `${item.kind}:${item.identifier}`;
        // A malformed contribution would fail its command forever; it is logged and left to the MDM profile.
        if (!validItem(item)) {
          this.deps.logger.warn(
            { contributor: plugin, item },
            'ignored a managed item that cannot be removed by identifier',
          );
          continue;
        }
        if (seen.has(key)) continue;
        seen.add(key);
        const app = item.kind === 'application';
        steps.push(
          remote({
            name: `${app ? 'remove-app' : 'remove-profile'}:${item.identifier}`,
            kind: 'remove-item',
            requestType: app ? 'RemoveApplication' : 'RemoveProfile',
            identifier: item.identifier,
            displayName: item.displayName,
            source: plugin,
          }),
        );
      }
    }
    steps.push(
      remote({
        name: `remove-mdm-profile:${mdmProfile}`,
        kind: 'remove-mdm',
        requestType: 'RemoveProfile',
        identifier: mdmProfile,
      }),
    );
    for (const name of SERVER_STEPS)
      steps.push({ name, kind: 'server', state: 'pending', attempts: 0, updatedAt: now });
    return {
      _id: id,
      deviceId: device.id,
      udid: device.udid,
      userId: device.userId,
      enrollmentId: device.enrollmentId,
      trigger: asked.trigger,
      requestedBy: asked.requestedBy,
      state: 'in-progress',
      steps,
      checkedOutAt: checkedOut ? now : undefined,
      startedAt: now,
      updatedAt: now,
    };
  }
}

function validItem(item: ManagedItem): boolean {
  return (
    (item.kind === 'application' || item.kind === 'profile') &&
    typeof item.identifier === 'string' &&
    item.identifier.length > 0 &&
    item.identifier.length <= 255 &&
    item.identifier === item.identifier.trim() &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    !/[\u0000-\u001f\u007f]/.test(item.identifier)
  );
}
