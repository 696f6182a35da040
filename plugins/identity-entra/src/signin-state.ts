import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type Koa from 'koa';

/** How long a started sign-in may take to come back from the identity provider. */
export const SIGN_IN_STATE_TTL_MS = 15 * 60_000;
/** Browsers keep cookies up to ~4 KB; a state that would not fit is refused rather than cut. */
const MAX_COOKIE_CHARS = 3_800;

const keyFor = (secret: string): Buffer =>
  Buffer.from(hkdfSync('sha256', secret, 'enrollment-gateway', 'sign-in state cookie v1', 32));

export type SignInState = Record<string, unknown>;

/**
 * What a browser needs between "sign in" and the provider's callback (return path, OIDC state, nonce and PKCE
 * verifier) lives in the browser, not in Redis: an AES-256-GCM encrypted cookie, bound to its name and expiry,
 * sealed with a key derived from the first session secret and opened with any of them (rotation). A stranger
 * calling GET /auth/signin in a loop creates nothing on the server; the session in Redis starts only once
 * the callback has signed the user in.
 */
export class SignInStateCookie {
  private readonly keys: Buffer[];
  readonly name: string;

  constructor(sessionCookieName: string, secrets: readonly string[]) {
    this.name = `${sessionCookieName}.signin`;
    this.keys = secrets.map(keyFor);
  }

  /** The state of the sign-in this browser started, or an empty one (missing, expired, forged, or another key). */
  open(ctx: Koa.Context): SignInState {
    const value = ctx.cookies.get(this.name);
    if (!value || value.length > MAX_COOKIE_CHARS) return {};
    const [ivText, tagText, dataText] = value.split('.');
    if (!ivText || !tagText || !dataText) return {};
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivText, 'base64url'));
        decipher.setAAD(Buffer.from(this.name));
        decipher.setAuthTag(Buffer.from(tagText, 'base64url'));
        const plain = Buffer.concat([decipher.update(Buffer.from(dataText, 'base64url')), decipher.final()]);
        const parsed = JSON.parse(plain.toString('utf8')) as { exp?: unknown; state?: unknown };
        if (typeof parsed.exp !== 'number' || parsed.exp <= Date.now()) return {};
        return parsed.state && typeof parsed.state === 'object' ? (parsed.state as SignInState) : {};
      } catch {
        // Not sealed with this key: try the next one.
      }
    }
    return {};
  }

  /** Seals `state` into the cookie; false when it is too large to keep (the caller refuses the sign-in). */
  save(ctx: Koa.Context, state: SignInState): boolean {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0], iv);
    cipher.setAAD(Buffer.from(this.name));
    const plain = Buffer.from(JSON.stringify({ exp: Date.now() + SIGN_IN_STATE_TTL_MS, state }));
    const data = Buffer.concat([cipher.update(plain), cipher.final()]);
    const value = [iv, cipher.getAuthTag(), data].map((part) => part.toString('base64url')).join('.');
    if (value.length > MAX_COOKIE_CHARS) return false;
    ctx.cookies.set(this.name, value, { ...this.options(), maxAge: SIGN_IN_STATE_TTL_MS });
    return true;
  }

  clear(ctx: Koa.Context): void {
    ctx.cookies.set(this.name, null, this.options());
  }

  /** Lax: the provider's redirect back to /auth/callback is a top-level GET, which carries Lax cookies. */
  private options() {
    return { httpOnly: true, secure: true, sameSite: 'lax' as const, path: '/', signed: false, overwrite: true };
  }
}
