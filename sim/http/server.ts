import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { FaultAction, FaultInjector, RequestKind } from '../faults.js';
import type { SimOrg } from '../org.js';
import { BayeuxServer } from './bayeux.js';
import { BulkApi } from './bulk.js';
import { handleToken, type Credentials, type Identity, type TokenStore } from './oauth.js';
import {
  httpFault, INVALID_SESSION, json, NOT_FOUND, QUERY_TIMEOUT, REQUEST_LIMIT, type Reply,
} from './reply.js';
import { RestApi } from './rest.js';

export interface SimStats {
  apiCalls: number;
  callsByKind: Record<string, number>;
  requests: Array<{ method: string; path: string; status: number }>;
}

export interface ServerDeps {
  org: SimOrg;
  faults: FaultInjector;
  tokens: TokenStore;
  creds: Credentials;
  ident: Identity;
  apiVersion: string;
  dailyApiLimit: number;
  bulkMaxRecords: number;
  bulkDatetimeFormat: 'iso' | 'salesforce';
  stats: SimStats;
  /** How long a CometD connect waits for events before it is answered empty. */
  streamingTimeoutMs: number;
}

interface Route {
  kind: RequestKind;
  auth: boolean;
  /** The Streaming API: its own allocation (no API call counted), Bayeux-shaped auth failures. */
  streaming?: boolean;
  run: (body: string) => Reply;
}

function versionOk(v: string, newest: string): boolean {
  const n = Number(v);
  return n >= 31 && n <= Number(newest);
}

export class SimServer {
  readonly server: Server;
  private readonly rest: RestApi;
  private readonly bulk: BulkApi;
  readonly bayeux: BayeuxServer;
  baseUrl = '';

  constructor(private readonly d: ServerDeps) {
    this.rest = new RestApi(d.org, () => d.dailyApiLimit);
    this.bulk = new BulkApi(d.org, d.ident.userId, d.bulkMaxRecords, d.bulkDatetimeFormat);
    this.bayeux = new BayeuxServer({ events: d.org.changeEvents, nowMs: () => d.org.nowMs(), connectTimeoutMs: d.streamingTimeoutMs });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.send(res, json(500, [{ errorCode: 'UNKNOWN_EXCEPTION', message: String(err) }]), undefined);
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 5000;
  }

  async listen(port: number, host: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.baseUrl = `http://${h}:${addr.port}`;
    return this.baseUrl;
  }

  async close(): Promise<void> {
    this.bayeux.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private route(method: string, url: URL, req: IncomingMessage, fault: { current?: FaultAction }): Route | undefined {
    const p = url.pathname.replace(/\/+$/, '') || '/';
    const d = this.d;
    const batch = req.headers['sforce-query-options'] as string | undefined;
    if (p === '/services/oauth2/token' && method === 'POST') {
      return {
        kind: 'token', auth: false,
        run: (body) => handleToken(new URLSearchParams(body), req.headers.authorization, d.creds, d.tokens, d.ident, this.baseUrl),
      };
    }
    if (p === `/id/${d.ident.orgId}/${d.ident.userId}` && method === 'GET') {
      return {
        kind: 'other', auth: true,
        run: () => json(200, {
          id: `${this.baseUrl}${p}`, user_id: d.ident.userId, organization_id: d.ident.orgId,
          username: d.creds.username, display_name: 'Integration User', active: true, user_type: 'STANDARD',
          urls: { rest: `${this.baseUrl}/services/data/v{version}/`, query: `${this.baseUrl}/services/data/v{version}/query/` },
        }),
      };
    }
    const cometd = /^\/cometd\/(\d+\.\d)$/.exec(p);
    if (cometd && versionOk(cometd[1]!, d.apiVersion) && method === 'POST') {
      return { kind: 'streaming', auth: true, streaming: true, run: (body) => this.bayeux.handle(body) };
    }
    if (p === '/services/data' && method === 'GET') return { kind: 'other', auth: false, run: () => this.rest.versions(d.apiVersion) };
    const m = /^\/services\/data\/v(\d+\.\d)(\/.*)?$/.exec(p);
    if (!m || !versionOk(m[1]!, d.apiVersion)) return undefined;
    const v = m[1]!;
    const rest = m[2] ?? '/';
    let mm: RegExpExecArray | null;
    if (rest === '/' && method === 'GET') return { kind: 'other', auth: true, run: () => this.rest.resources(v) };
    if (/^\/sobjects\/user\/describe$/i.test(rest) && method === 'GET') return { kind: 'describe', auth: true, run: () => this.rest.describe(v) };
    if ((mm = /^\/sobjects\/user\/([A-Za-z0-9]{15,18})$/i.exec(rest)) && method === 'GET') {
      const id = mm[1]!;
      return { kind: 'other', auth: true, run: () => this.rest.retrieve(v, id) };
    }
    if (rest === '/limits' && method === 'GET') return { kind: 'limits', auth: true, run: () => this.rest.limits() };
    if ((rest === '/query' || rest === '/queryAll') && method === 'GET') {
      return { kind: 'query', auth: true, run: () => this.rest.query(v, url.searchParams.get('q'), batch) };
    }
    if ((mm = /^\/query(?:All)?\/([^/]+)$/.exec(rest)) && method === 'GET') {
      const loc = mm[1]!;
      return { kind: 'queryMore', auth: true, run: () => this.rest.queryMore(v, loc, batch) };
    }
    if (rest === '/jobs/query' && method === 'POST') {
      return { kind: 'bulkCreate', auth: true, run: (body) => this.bulk.create(v, body, fault.current?.kind === 'bulkJobFailed') };
    }
    if ((mm = /^\/jobs\/query\/([A-Za-z0-9]+)$/.exec(rest))) {
      const id = mm[1]!;
      if (method === 'GET') return { kind: 'bulkPoll', auth: true, run: () => this.bulk.poll(id, fault.current?.kind === 'bulkJobFailed') };
      if (method === 'DELETE') return { kind: 'other', auth: true, run: () => this.bulk.remove(id) };
      if (method === 'PATCH') return { kind: 'other', auth: true, run: (body) => this.bulk.abort(id, body) };
    }
    if ((mm = /^\/jobs\/query\/([A-Za-z0-9]+)\/results$/.exec(rest)) && method === 'GET') {
      const id = mm[1]!;
      return {
        kind: 'bulkResults', auth: true,
        run: () => this.bulk.results(id, url.searchParams.get('locator'), url.searchParams.get('maxRecords')),
      };
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const d = this.d;
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://sim');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    res.on('finish', () => d.stats.requests.push({ method, path: url.pathname + url.search, status: res.statusCode }));
    res.on('close', () => {
      if (!res.writableFinished) d.stats.requests.push({ method, path: url.pathname + url.search, status: res.statusCode });
    });

    const fault: { current?: FaultAction } = {};
    const route = this.route(method, url, req, fault);
    const kind = route?.kind ?? 'other';
    d.stats.callsByKind[kind] = (d.stats.callsByKind[kind] ?? 0) + 1;
    fault.current = d.faults.take(kind);
    if (fault.current?.kind === 'slow') {
      // A client that gives up ends the wait (Salesforce goes on with the work, as below).
      const left = new AbortController();
      const onClose = () => left.abort();
      res.once('close', onClose);
      await delay(fault.current.delayMs, undefined, { signal: left.signal }).catch(() => undefined);
      res.off('close', onClose);
    }
    const f = fault.current;
    const reset = f?.kind === 'resetMidBody';

    if (!route) return this.send(res, NOT_FOUND(), undefined);
    if (route.auth) {
      const m = /^(?:Bearer|OAuth)\s+(.+)$/i.exec(req.headers.authorization ?? '');
      const token = m?.[1]?.trim();
      const refused = (): Reply => (route.streaming ? this.bayeux.authFailure(body) : INVALID_SESSION());
      if (!token || !d.tokens.check(token)) return this.send(res, refused(), undefined);
      if (f?.kind === 'invalidSession') {
        d.tokens.invalidate(token);
        return this.send(res, refused(), undefined);
      }
      if (!route.streaming) {
        if (!d.org.consumeApiCall(d.dailyApiLimit)) return this.send(res, REQUEST_LIMIT(), undefined);
        d.stats.apiCalls++;
      }
    }
    if (f?.kind === 'http') {
      if (kind === 'token') return this.send(res, json(f.status, { error: 'server_error', error_description: 'injected fault' }), undefined);
      return this.send(res, httpFault(f.status), undefined);
    }
    if (f?.kind === 'requestLimit') return this.send(res, REQUEST_LIMIT(), undefined);
    if (f?.kind === 'queryTimeout') return this.send(res, QUERY_TIMEOUT(), undefined);
    return this.send(res, route.run(body), reset ? 'reset' : undefined);
  }

  private async send(res: ServerResponse, r: Reply, mode: 'reset' | undefined): Promise<void> {
    const headers: Record<string, string> = {
      ...r.headers,
      'Sforce-Limit-Info': `api-usage=${this.d.org.apiUsage()}/${this.d.dailyApiLimit}`,
      // The simulated clock, as Salesforce's servers send theirs.
      Date: new Date(this.d.org.nowMs()).toUTCString(),
    };
    if (r.stream) {
      res.writeHead(r.status, headers);
      let written = 0;
      const write = async (chunk: string): Promise<void> => {
        if (res.destroyed) throw new Error('client went away');
        if (mode === 'reset' && written > 0) {
          res.write(chunk.slice(0, Math.ceil(chunk.length / 2)));
          await new Promise((resolve) => setImmediate(resolve));
          res.destroy();
          throw new Error('reset');
        }
        written++;
        if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
      };
      try {
        await r.stream(write);
        res.end();
      } catch {
        res.destroy();
      }
      return;
    }
    const buf = Buffer.from(r.body ?? '', 'utf8');
    headers['Content-Length'] = String(buf.length);
    res.writeHead(r.status, headers);
    if (mode === 'reset') {
      res.write(buf.subarray(0, Math.max(1, Math.floor(buf.length / 2))));
      await new Promise((resolve) => setImmediate(resolve));
      res.destroy();
      return;
    }
    res.end(buf);
  }
}
