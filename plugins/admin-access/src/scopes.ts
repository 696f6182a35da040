/**
 * True when `granted` covers `required`: "*" covers all, "devices:*" covers "devices:read", and "*:read" (a
 * read-only administrator) covers every "<area>:read".
 */
export function scopeCovers(granted: readonly string[], required: string): boolean {
  const [area, action] = required.split(':');
  return granted.some(
    (scope) => scope === '*' || scope === required || scope === `${area}:*` || scope === `*:${action}`,
  );
}
