/**
 * `sfpipe docs serve`: dbt's generated documentation site over node:http, read-only. It serves
 * the three files `dbt docs generate` writes (index.html, catalog.json, manifest.json) and
 * nothing else of the target directory (run results, compiled SQL).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { DOCS_FILES } from './docs.js';

export interface RunningDocs {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.json': 'application/json; charset=utf-8' };

/** dbt's single-page site carries its scripts and styles inline and fetches the two JSON files. */
const HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

function hostName(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']'));
  return h.replace(/:\d+$/, '');
}

export function startDocsServer(opts: { dir: string; host?: string; port: number }): Promise<RunningDocs> {
  const host = opts.host ?? '127.0.0.1';
  const server = http.createServer((req, res) => {
    const send = (status: number, body: string | Buffer, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}) => {
      res.writeHead(status, { ...HEADERS, 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'read-only: GET and HEAD only\n', undefined, { allow: 'GET, HEAD' });
    // A loopback server answers loopback names only (DNS rebinding).
    if (LOOPBACK.test(host) && !LOOPBACK.test(hostName(req.headers.host ?? ''))) return send(403, 'unexpected Host\n');
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    const name = pathname === '/' ? 'index.html' : pathname.slice(1);
    if (!(DOCS_FILES as readonly string[]).includes(name)) return send(404, 'not found\n');
    let body: Buffer;
    try {
      body = fs.readFileSync(path.join(opts.dir, name));
    } catch {
      return send(404, `${name} is missing: run sfpipe docs generate\n`);
    }
    return send(200, body, TYPES[path.extname(name)]);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      const { port } = server.address() as AddressInfo;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `http://${shown}:${port}`,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}
