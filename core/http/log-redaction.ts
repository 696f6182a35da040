import type Koa from 'koa';

/**
 * Request logs must not carry bearer secrets that travel in URLs: one-time enrollment links
 * (`/mdm/enroll/<token>`), and whatever link a plugin mounts with a secret route parameter. The query string is
 * never logged; the path is logged with such parameters replaced.
 */

/** Route parameter names whose value is a secret: a plugin naming a parameter `:token` gets it redacted. */
const SECRET_PARAMETER = /token|secret|code|key|invite|link|password|signature/i;
/** In a path no route matched, a segment that looks like a random token (a mistyped link still carries one). */
const TOKEN_LIKE_SEGMENT = /^(?=[A-Za-z0-9_~.%-]*[0-9])(?=[A-Za-z0-9_~.%-]*[A-Za-z])[A-Za-z0-9_~.%-]{20,}$/;
export const REDACTED = '[redacted]';

/** The path to log for this request. */
export function loggablePath(ctx: Koa.Context): string {
  const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
  if (typeof matched !== 'string') return redactTokenLikeSegments(ctx.path);
  const pattern = matched.split('/');
  const segments = ctx.path.split('/');
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const name = /^:(\w+)/.exec(pattern[i] ?? '')?.[1];
    if (name !== undefined && SECRET_PARAMETER.test(name)) {
      // Patterns with segments of their own (`:rest*`) do not line up: redact from here on.
      if (pattern.length !== segments.length) return [...out, REDACTED].join('/');
      out.push(REDACTED);
    } else {
      out.push(segments[i]);
    }
  }
  return out.join('/');
}

/** Replaces path segments that look like random tokens (used where no route says which segment is a secret). */
export function redactTokenLikeSegments(path: string): string {
  return path
    .split('/')
    .map((segment) => (TOKEN_LIKE_SEGMENT.test(segment) ? REDACTED : segment))
    .join('/');
}
