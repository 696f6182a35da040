/**
 * Errors are recognised by a brand rather than `instanceof`: a partner plugin may bring its own copy
 * of the SDK, and its ProblemError must still render as a problem.
 */
const brand = (name: string) => Symbol.for(`enrollment-gateway.error.${name}`);
function isBranded(value: unknown, name: string): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand(name)] === true;
}

/** Base of every error the gateway raises on purpose. */
export class GatewayError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    for (
      let proto = Object.getPrototypeOf(this);
      proto && proto !== Error.prototype;
      proto = Object.getPrototypeOf(proto)
    ) {
      Object.defineProperty(this, brand(proto.constructor.name), { value: true });
    }
  }

  static is(value: unknown): value is GatewayError {
    return isBranded(value, 'GatewayError');
  }
}

/** An HTTP error rendered as application/problem+json (RFC 9457) for JSON APIs. */
export class ProblemError extends GatewayError {
  readonly status: number;
  readonly title: string;
  readonly detail?: string;
  readonly type: string;
  readonly extensions: Record<string, unknown>;
  /** Response headers the problem carries (e.g. Retry-After on a 429 or 503). */
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    title: string,
    detail?: string,
    options: {
      type?: string;
      extensions?: Record<string, unknown>;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(`http_${status}`, detail ?? title, { cause: options.cause });
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.type = options.type ?? 'about:blank';
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }

  static override is(value: unknown): value is ProblemError {
    return isBranded(value, 'ProblemError');
  }
}

export class ValidationProblem extends ProblemError {
  constructor(
    detail: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(400, 'Invalid request', detail, { extensions: { issues } });
  }
}

export class NotFoundProblem extends ProblemError {
  constructor(detail = 'Not found') {
    super(404, 'Not found', detail);
  }
}

export class ConflictProblem extends ProblemError {
  constructor(detail: string) {
    super(409, 'Conflict', detail);
  }
}

/** Invalid or missing configuration: start-up prints one line and exits non-zero. */
export class ConfigError extends GatewayError {
  constructor(message: string) {
    super('config_invalid', message);
  }
}

/** A plugin cannot be loaded (missing dependency, cycle, duplicate, unsupported range, bad config). */
export class PluginLoadError extends GatewayError {
  constructor(
    readonly plugin: string,
    readonly problem: string,
  ) {
    super('plugin_load', `plugin "${plugin}": ${problem}`);
  }
}

/** A veto raised by an extension (for example before an enrollment profile is built); `userMessage` is shown to the user. */
export class VetoError extends GatewayError {
  constructor(
    readonly plugin: string,
    readonly userMessage: string,
  ) {
    super('vetoed', `vetoed by ${plugin}: ${userMessage}`);
  }

  static override is(value: unknown): value is VetoError {
    return isBranded(value, 'VetoError');
  }
}
