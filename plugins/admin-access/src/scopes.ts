/** True when `granted` covers `required`: "*" covers all, "devices:*" covers "devices:read". */
export function scopeCovers(granted: readonly string[], required: string): boolean {
  const [area] = required.split(':');
  return granted.some((scope) => scope === '*' || scope === required || scope === `${area}:*`);
}
