import { z } from 'zod';

/** C0 and C1 control characters, DEL, and the line/paragraph separators; `allow` lists exceptions. */
function hasControlCharacter(value: string, allow: readonly number[] = []): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
    if (control && !allow.includes(code)) return true;
  }
  return false;
}

/** Tab, line feed and carriage return may appear in a description. */
const TEXT_WHITESPACE = [0x09, 0x0a, 0x0d];

export const nameSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .refine((value) => !hasControlCharacter(value), 'must not contain control characters');

export const descriptionSchema = z
  .string()
  .max(1000, 'must be at most 1000 characters')
  .refine((value) => !hasControlCharacter(value, TEXT_WHITESPACE), 'must not contain control characters');

export const groupIdSchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((value) => !hasControlCharacter(value), 'must not contain control characters');

const groupList = z
  .array(groupIdSchema)
  .max(1000)
  .transform((ids) => [...new Set(ids)]);

export const assignmentsSchema = z.strictObject({
  allUsers: z.boolean().default(false),
  includedGroups: groupList.default([]),
  excludedGroups: groupList.default([]),
});

const assignmentsChecked = assignmentsSchema.superRefine((value, ctx) => {
  if (!value.allUsers && value.includedGroups.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'assign the profile to all users or to at least one group' });
  }
  const overlap = value.includedGroups.filter((id) => value.excludedGroups.includes(id));
  if (overlap.length > 0) {
    ctx.addIssue({ code: 'custom', message: `groups both included and excluded: ${overlap.join(', ')}` });
  }
});

export const enrollmentTypeSchema = z.enum(['web-based', 'app-based', 'account-driven']);

export const createProfileBody = z.strictObject({
  name: nameSchema,
  description: descriptionSchema.default(''),
  enrollmentType: enrollmentTypeSchema,
  assignments: assignmentsChecked,
  /** Where to insert (1 = highest); default last. */
  priority: z.number().int().min(1).optional(),
});

export const updateProfileBody = z.strictObject({
  version: z.number().int().min(0).optional(),
  name: nameSchema.optional(),
  description: descriptionSchema.optional(),
  enrollmentType: enrollmentTypeSchema.optional(),
  assignments: assignmentsChecked.optional(),
});

const profileId = z.string().min(1).max(100);

export const reorderBody = z.strictObject({
  order: z.array(profileId).max(10_000),
  version: z.number().int().min(0),
});

export const moveBody = z.strictObject({
  toPosition: z.number().int().min(1),
  version: z.number().int().min(0),
});

export const listQuery = z.object({
  cursor: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const explainQuery = z.object({
  userId: z.string().min(1).max(200),
  platform: z.enum(['iOS', 'iPadOS', 'android', 'macOS', 'windows', 'unknown']).optional(),
  osVersion: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){0,2}$/)
    .optional(),
  userAgent: z.string().max(1000).optional(),
});

export const createLimitPolicyBody = z.strictObject({
  name: nameSchema,
  groups: groupList.refine((ids) => ids.length > 0, 'name at least one group'),
  limit: z.number().int().min(1).max(15),
  priority: z.number().int().min(1).max(10_000),
});

export const updateLimitPolicyBody = z.strictObject({
  version: z.number().int().min(0).optional(),
  name: nameSchema.optional(),
  groups: groupList.refine((ids) => ids.length > 0, 'name at least one group').optional(),
  limit: z.number().int().min(1).max(15).optional(),
  priority: z.number().int().min(1).max(10_000).optional(),
});

export type CreateProfileInput = z.output<typeof createProfileBody>;
export type UpdateProfileInput = z.output<typeof updateProfileBody>;
export type CreateLimitPolicyInput = z.output<typeof createLimitPolicyBody>;
export type UpdateLimitPolicyInput = z.output<typeof updateLimitPolicyBody>;
