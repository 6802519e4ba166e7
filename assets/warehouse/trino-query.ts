/**
 * Runs one statement on a Trino coordinator through its client protocol (the trino-client
 * package): POST /v1/statement, then follow `nextUri` until the query ends, collecting rows.
 * The run's AbortSignal cancels the query on the server (DELETE of its nextUri, via
 * `client.cancel`). Authentication: none (a user name only), HTTP basic (user + password, HTTPS
 * only, as Trino requires) or a JWT bearer token; TLS with an optional CA bundle.
 */

import { BasicAuth, Trino, type QueryResult as TrinoQueryResult } from 'trino-client';

import { firstLine } from './athena-sql.js';

export interface TrinoConnection {
  /** http(s)://host:port of the coordinator. */
  server: string;
  catalog: string;
  schema: string;
  user: string;
  password?: string;
  /** A JWT sent as `Authorization: Bearer` (Trino's JWT authenticator). */
  jwt?: string;
  /** PEM CA bundle for a server certificate no public CA signed. */
  caPem?: string;
  /** Session properties (`SET SESSION` equivalents). */
  session?: Record<string, string>;
  /** Gives up (and cancels the query) after this long. */
  timeoutMs?: number;
}

export interface TrinoStatementRecord {
  queryId: string;
  sql: string;
  purpose: string;
}

export interface TrinoResult {
  queryId: string;
  columns: { name: string; type: string }[];
  /** Rows with every value as Trino's JSON gives it; see `text()` for the canonical text. */
  rows: unknown[][];
  updateCount?: number;
}

export class TrinoQueryError extends Error {
  override name = 'TrinoQueryError';
  constructor(
    message: string,
    readonly queryId: string | undefined,
    readonly errorName: string | undefined,
  ) {
    super(message);
  }
}

export class TrinoQueryCancelledError extends TrinoQueryError {
  override name = 'TrinoQueryCancelledError';
}

/** A value as text, the way Athena's GetQueryResults reports it (null stays null). */
export function trinoText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

export class TrinoQueryRunner {
  private readonly client: Trino;

  constructor(
    readonly conn: TrinoConnection,
    private readonly onStatement?: (record: TrinoStatementRecord) => void,
  ) {
    const https = conn.server.startsWith('https:');
    if (conn.password !== undefined && !https) {
      throw new Error(`trino: a password is only sent over HTTPS (Trino refuses basic authentication on ${conn.server}); use an https:// server`);
    }
    this.client = Trino.create({
      server: conn.server,
      catalog: conn.catalog,
      schema: conn.schema,
      source: 'sfpipe',
      auth: new BasicAuth(conn.user, conn.jwt ? undefined : conn.password),
      ...(conn.session ? { session: conn.session } : {}),
      ...(conn.jwt ? { extraHeaders: { Authorization: `Bearer ${conn.jwt}` } } : {}),
      ...(conn.caPem ? { ssl: { ca: conn.caPem } } : {}),
    });
  }

  /** Runs `sql` to completion and returns all its rows. */
  async run(sql: string, purpose: string, opts: { signal?: AbortSignal } = {}): Promise<TrinoResult> {
    const { signal } = opts;
    const head = firstLine(sql);
    if (signal?.aborted) throw new TrinoQueryCancelledError(`${purpose}: cancelled before start (${head})`, undefined, undefined);
    let iter;
    try {
      iter = await this.client.query(sql);
    } catch (err) {
      throw new TrinoQueryError(`${purpose}: could not reach Trino at ${this.conn.server}: ${describeHttpError(err)} (statement: ${head})`, undefined, undefined);
    }
    const rows: unknown[][] = [];
    let columns: { name: string; type: string }[] = [];
    let queryId: string | undefined;
    let updateCount: number | undefined;
    let announced = false;
    const deadline = this.conn.timeoutMs ? Date.now() + this.conn.timeoutMs : Infinity;
    const cancel = async (): Promise<void> => {
      if (queryId) await this.client.cancel(queryId).catch(() => undefined);
    };
    for (;;) {
      let step: IteratorResult<TrinoQueryResult>;
      try {
        step = await iter.next();
      } catch (err) {
        await cancel();
        throw new TrinoQueryError(`${purpose}: Trino query ${queryId ?? '(not started)'} failed: ${describeHttpError(err)} (statement: ${head})`, queryId, undefined);
      }
      if (step.done) break;
      const page = step.value;
      queryId ??= page.id;
      if (!announced && queryId) {
        announced = true;
        this.onStatement?.({ queryId, sql, purpose });
      }
      if (page.error) {
        const e = page.error;
        throw new TrinoQueryError(`${purpose}: Trino query ${queryId} FAILED: ${e.errorName}: ${e.message} (statement: ${head})`, queryId, e.errorName);
      }
      if (page.columns && columns.length === 0) columns = page.columns.map((c) => ({ name: c.name, type: c.type }));
      if (page.data) for (const r of page.data) rows.push(r as unknown[]);
      const count = (page as { updateCount?: number }).updateCount;
      if (typeof count === 'number') updateCount = count;
      if (signal?.aborted) {
        await cancel();
        throw new TrinoQueryCancelledError(`${purpose}: Trino query ${queryId} cancelled because the run was cancelled (${head})`, queryId, 'USER_CANCELED');
      }
      if (Date.now() >= deadline) {
        await cancel();
        throw new TrinoQueryError(`${purpose}: Trino query ${queryId} still running after ${this.conn.timeoutMs} ms; cancelled (statement: ${head})`, queryId, 'EXCEEDED_TIME_LIMIT');
      }
    }
    if (!queryId) throw new TrinoQueryError(`${purpose}: Trino returned no query id (${head})`, undefined, undefined);
    return { queryId, columns, rows, ...(updateCount !== undefined ? { updateCount } : {}) };
  }

  /** Rows as text (Athena's shape), for code shared by both engines. */
  async rowsAsText(sql: string, purpose: string, opts: { signal?: AbortSignal } = {}): Promise<(string | null)[][]> {
    const r = await this.run(sql, purpose, opts);
    return r.rows.map((row) => row.map(trinoText));
  }
}

/** An HTTP failure without the request's headers (which carry the credentials). */
function describeHttpError(err: unknown): string {
  const e = err as { response?: { status?: number; statusText?: string; data?: unknown }; code?: string; message?: string };
  if (e.response?.status) {
    const body = typeof e.response.data === 'string' ? e.response.data.slice(0, 300) : '';
    const hint = e.response.status === 401 ? ' (check trino.user and the password or JWT)' : '';
    return `HTTP ${e.response.status} ${e.response.statusText ?? ''}${hint}${body ? `: ${body}` : ''}`.trim();
  }
  return e.code ? `${e.code}: ${e.message ?? ''}` : (e.message ?? String(err));
}
