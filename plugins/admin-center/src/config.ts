import { z } from 'zod';

export const adminCenterConfigSchema = z.object({
  portalPath: z
    .string()
    .regex(/^\/[A-Za-z0-9/_-]*$/)
    .default('/enrollment/webenrollment/ios')
    .describe('Path of the Company Portal page device users open to enroll (shown with a QR code)'),
  liveRetireTimeoutSeconds: z
    .number()
    .int()
    .min(10)
    .max(3600)
    .default(600)
    .describe('How long an open device page follows a retirement by server-sent events'),
});

export type AdminCenterConfig = z.output<typeof adminCenterConfigSchema>;
