import { createHash } from 'node:crypto';
import { html, type SafeHtml, trustedHtml } from '../sdk/html.js';

type JsonObject = Record<string, unknown>;

/** The one stylesheet, inline and allowed by its hash: the page loads nothing else (the machine may be offline). */
const STYLE = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1f;background:#fff}
header{background:#0b3d91;color:#fff;padding:1rem 2rem}header h1{margin:0;font-size:1.4rem}
header a{color:#fff}
main{display:grid;grid-template-columns:16rem 1fr;gap:2rem;padding:1rem 2rem}
nav ul{list-style:none;padding:0;margin:0 0 1rem}nav a{color:#0b3d91;text-decoration:none}
nav h2{font-size:1rem;margin:1rem 0 .25rem}
section.op{border:1px solid #d0d4dc;border-radius:6px;padding:.75rem 1rem;margin:0 0 1rem}
.method{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}
.get{color:#0a6b2d}.post{color:#8a4b00}.put,.patch{color:#1d4f91}.delete{color:#a4111b}
h3{margin:.2rem 0;font-size:1.05rem}code{font-size:.92em}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #d0d4dc;padding:.2rem .5rem;text-align:left}
pre{background:#f4f5f7;padding:.5rem;overflow:auto;max-height:24rem;font-size:.85em}
.scope{background:#eef2fb;border-radius:4px;padding:0 .3rem}
`;

export const referenceStyleHash = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

interface Operation {
  method: string;
  path: string;
  op: JsonObject;
}

function operations(document: JsonObject): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries((document.paths ?? {}) as Record<string, JsonObject>)) {
    for (const method of METHODS) {
      const op = item[method] as JsonObject | undefined;
      if (op) out.push({ method, path, op });
    }
  }
  return out;
}

function schemaBlock(schema: unknown): SafeHtml {
  return html`<pre>${JSON.stringify(schema, null, 2)}</pre>`;
}

function renderOperation({ method, path, op }: Operation): SafeHtml {
  const params = (op.parameters ?? []) as JsonObject[];
  const body = (op.requestBody as JsonObject | undefined)?.content as Record<string, JsonObject> | undefined;
  const responses = (op.responses ?? {}) as Record<string, JsonObject>;
  return html`<section class="op" id="${String(op.operationId)}">
    <h3><span class="method ${method}">${method}</span> <code>${path}</code></h3>
    <p>${String(op.summary ?? '')}${op['x-scope'] ? html` <span class="scope">scope ${String(op['x-scope'])}</span>` : ''}</p>
    ${op.description ? html`<p>${String(op.description)}</p>` : ''}
    ${
      params.length > 0
        ? html`<table><caption>Parameters</caption><thead><tr><th scope="col">Name</th><th scope="col">In</th><th scope="col">Required</th><th scope="col">Schema</th></tr></thead><tbody>
        ${params.map(
          (p) =>
            html`<tr><td><code>${String(p.name)}</code></td><td>${String(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td><td><code>${JSON.stringify(p.schema)}</code>${p.description ? html` — ${String(p.description)}` : ''}</td></tr>`,
        )}</tbody></table>`
        : ''
    }
    ${body ? Object.entries(body).map(([type, media]) => html`<h4>Request body (${type})</h4>${schemaBlock(media.schema)}`) : ''}
    <h4>Responses</h4>
    <ul>${Object.entries(responses).map(([status, response]) => {
      const content = response.content as Record<string, JsonObject> | undefined;
      return html`<li><strong>${status}</strong> ${String(response.description ?? '')}
        ${content ? Object.entries(content).map(([type, media]) => html`<details><summary>${type}</summary>${schemaBlock(media.schema)}</details>`) : ''}</li>`;
    })}</ul>
  </section>`;
}

/** A readable, server-rendered reference of the OpenAPI document: no scripts, no external assets. */
export function renderApiReference(document: JsonObject): string {
  const info = document.info as JsonObject;
  const ops = operations(document);
  const tags = [...new Set(ops.flatMap(({ op }) => (op.tags as string[]) ?? []))].sort();
  const byTag = (tag: string) => ops.filter(({ op }) => ((op.tags as string[]) ?? []).includes(tag));
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${String(info.title)} — API reference</title><style>${trustedHtml(STYLE)}</style></head>
<body><header><h1>${String(info.title)} <small>${String(info.version)}</small></h1>
<p>${String(info.description ?? '')} Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a>.</p></header>
<main><nav aria-label="Operations">${tags.map(
    (tag) =>
      html`<h2>${tag}</h2><ul>${byTag(tag).map(
        ({ method, path, op }) =>
          html`<li><a href="#${String(op.operationId)}">${method.toUpperCase()} ${path}</a></li>`,
      )}</ul>`,
  )}</nav>
<div>${tags.map((tag) => html`<h2>${tag}</h2>${byTag(tag).map(renderOperation)}`)}</div></main></body></html>`.value;
}
