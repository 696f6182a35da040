import escapeHtml from 'escape-html';

const SAFE = Symbol('gateway.safeHtml');

/** Markup that is already escaped (built with `html`), so interpolating it again keeps it as is. */
export interface SafeHtml {
  readonly [SAFE]: true;
  readonly value: string;
  toString(): string;
}

function safe(value: string): SafeHtml {
  return { [SAFE]: true, value, toString: () => value };
}

export function isSafeHtml(value: unknown): value is SafeHtml {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[SAFE] === true;
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map((item: HtmlValue) => render(item)).join('');
  if (isSafeHtml(value)) return value.value;
  return escapeHtml(String(value));
}

/**
 * Templates for server-rendered pages that escape by default: every interpolated value is HTML-escaped
 * unless it was itself built with `html`. Arrays are joined; null, undefined and false render nothing.
 *   html`<li>${device.name}</li>` — a device named "<script>" renders as text.
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return safe(out);
}

/** Trusted markup from a constant (an inline SVG icon); never pass user input. */
export function trustedHtml(markup: string): SafeHtml {
  return safe(markup);
}

/**
 * The Content-Security-Policy of the gateway's server-rendered pages: scripts, styles and connections only from the
 * gateway itself, nothing inline, no frames, forms posting only here. `imageSources` adds image origins (a
 * configured logo); `data:` images are allowed where a page draws them (QR codes).
 */
export function strictPageCsp(options: { imageSources?: readonly string[]; dataImages?: boolean } = {}): string {
  const images = ["'self'", ...(options.dataImages ? ['data:'] : []), ...(options.imageSources ?? [])];
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${images.join(' ')}`,
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}
