import type { SensorDef } from '../sensors.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AssetDef } from '../definitions.js';
import { errorMessage, UsageError } from '../errors.js';
import type { EventLog } from '../storage/event-log.js';
import type { Logger } from '../logging.js';
import type { EnvironmentSummary } from '../pipeline.js';
import { CSS, SCRIPT } from './client.js';
import { UiHttpError, type UiExtension, type UiRequest, type UiResult, type UiRoute } from './extension.js';
import { html, href, type Html } from './html.js';
import { coreRoutes } from './pages.js';

export interface UiServerOptions {
  /** Where to listen; 127.0.0.1 unless told otherwise. */
  host?: string;
  /** 0: any free port. */
  port: number;
  /** The pipeline's name, in every page's header. */
  title: string;
  /** The CLI's program name, in the commands the pages show (`<program> lineage --json`). */
  program: string;
  /** Materialization metadata numbers charted on an asset's page (the pipeline's chartedMetadata); none by default. */
  chartedMetadata?: readonly string[];
  definitions: readonly AssetDef<any>[];
  /** The pipeline's sensors (the lineage JSON names them, as the CLI's does). */
  sensors?: readonly SensorDef[];
  /** The environment it serves (the lineage JSON names it, as the CLI's does; pages show it). */
  environment?: EnvironmentSummary;
  eventLog: EventLog;
  extension?: UiExtension;
  log?: Logger;
  now?: () => Date;
}

export interface RunningUi {
  /** http://host:port */
  url: string;
  close(): Promise<void>;
}

/**
 * Every answer's headers: nothing from elsewhere (scripts, styles, frames), no caching (the event
 * log moves on), no sniffing, no referrer with a selection in it.
 */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-resource-policy': 'same-origin',
};

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * `sfpipe ui`: a read-only web view of the event log and the asset graph, server-rendered HTML
 * (lists and tables need no script) with JSON endpoints that print what the CLI's --json prints.
 * Only GET and HEAD are answered. Bound to loopback, it also refuses requests whose Host header
 * names another host (a DNS-rebinding page cannot read it).
 */
export async function startUiServer(options: UiServerOptions): Promise<RunningUi> {
  const host = options.host ?? '127.0.0.1';
  const extension = options.extension ?? {};
  const now = options.now ?? (() => new Date());
  const routes: UiRoute[] = [...coreRoutes({ definitions: options.definitions, sensors: options.sensors ?? [], ...(options.environment ? { environment: options.environment } : {}), eventLog: options.eventLog, extension, now, program: options.program, chartedMetadata: options.chartedMetadata ?? [] }), ...(extension.routes ?? [])];
  const nav = [{ label: 'Graph', href: '/' }, { label: 'Runs', href: '/runs' }, ...(extension.nav ?? [])];
  const loopback = LOOPBACK.test(host);

  const page = (title: string, body: Html): string =>
    html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} · ${options.title}</title><link rel="stylesheet" href="/static/ui.css"><script src="/static/ui.js" defer></script></head>
<body><header><a class="brand" href="/">${options.title}</a><nav>${nav.map((n) => html`<a href="${href(n.href)}">${n.label}</a>`)}</nav></header>
<main>${body}</main></body></html>
`.text;

  const send = (res: http.ServerResponse, head: boolean, status: number, type: string, body: string, extra: Record<string, string> = {}) => {
    const bytes = Buffer.from(body, 'utf8');
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(bytes.length), ...extra });
    res.end(head ? undefined : bytes);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      send(res, false, 405, 'text/plain; charset=utf-8', `${options.program} ui is read-only: only GET and HEAD\n`, { allow: 'GET, HEAD' });
      return;
    }
    const head = method === 'HEAD';
    if (loopback && !hostAllowed(req.headers.host)) {
      send(res, head, 421, 'text/plain; charset=utf-8', 'this server answers requests for localhost only\n');
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      send(res, head, 400, 'text/plain; charset=utf-8', 'bad request\n');
      return;
    }
    const path = url.pathname;
    const api = path.startsWith('/api/');
    if (path === '/static/ui.css') return send(res, head, 200, 'text/css; charset=utf-8', CSS);
    if (path === '/static/ui.js') return send(res, head, 200, 'text/javascript; charset=utf-8', SCRIPT);
    if (path === '/healthz') return send(res, head, 200, 'text/plain; charset=utf-8', 'ok\n');
    const request: UiRequest = { path, params: url.searchParams };
    try {
      let result: UiResult | null = null;
      for (const route of routes) {
        const m = route.pattern.exec(path);
        if (m) {
          result = await route.handle(m, request);
          break;
        }
      }
      if (!result) throw new UiHttpError(404, `nothing at ${path}`);
      if (result.kind === 'json') send(res, head, result.status ?? 200, 'application/json; charset=utf-8', result.text);
      else send(res, head, result.status ?? 200, 'text/html; charset=utf-8', page(result.title, result.body));
    } catch (err) {
      const status = err instanceof UiHttpError ? err.status : err instanceof UsageError ? 400 : err instanceof URIError ? 400 : 500;
      const message = err instanceof URIError ? 'the path is not valid percent-encoding' : errorMessage(err);
      if (status >= 500) options.log?.error(`ui: ${method} ${path}: ${message}`);
      if (api) send(res, head, status, 'application/json; charset=utf-8', JSON.stringify({ error: message }, null, 2) + '\n');
      else send(res, head, status, 'text/html; charset=utf-8', page(`Error ${status}`, html`<h1>Error ${status}</h1><pre class="error-box" id="error">${message}</pre>`));
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      options.log?.error(`ui: ${errorMessage(err)}`);
      if (!res.headersSent) send(res, false, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Host header of a loopback request: localhost, 127.x or [::1], with any port. */
function hostAllowed(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  const name = hostHeader.startsWith('[') ? hostHeader.slice(1, hostHeader.indexOf(']')) : hostHeader.replace(/:\d+$/, '');
  return LOOPBACK.test(name.toLowerCase());
}
