/**
 * Runs one Athena statement: StartQueryExecution in a workgroup (+ output location), polls
 * GetQueryExecution with exponential backoff, reads GetQueryResults page by page, and stops the
 * query (StopQueryExecution) when the caller's AbortSignal fires (a SIGTERM'd run).
 */

import {
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type AthenaClient,
  type QueryExecution,
} from '@aws-sdk/client-athena';

import { abortableSleep } from '../../runtime/retry.js';
import { firstLine } from './athena-sql.js';

export interface AthenaQueryOptions {
  workGroup: string;
  /** s3://bucket/prefix/ for results; omit when the workgroup enforces its own. */
  outputLocation?: string;
  catalog?: string;
  /** Default database for unqualified names. */
  database?: string;
  /** First poll delay; doubles up to `pollMaxMs`. */
  pollInitialMs?: number;
  pollMaxMs?: number;
  /** Gives up (and stops the query) after this long. */
  timeoutMs?: number;
  /** GetQueryResults page size (Athena's maximum is 1000). */
  pageSize?: number;
  /** Called with every statement once Athena accepted it (logging / tests). */
  onStatement?: (record: StatementRecord) => void;
}

export interface StatementRecord {
  queryExecutionId: string;
  sql: string;
  /** What the statement is for, e.g. `merge raw`. */
  purpose: string;
}

export interface QueryResult {
  queryExecutionId: string;
  columns: string[];
  /** Data rows (the header row Athena returns for SELECTs is removed); null = SQL NULL. */
  rows: (string | null)[][];
  /** Rows written by a DML statement, when Athena reports it. */
  updateCount?: number;
}

export class AthenaQueryError extends Error {
  override name = 'AthenaQueryError';
  constructor(
    message: string,
    readonly queryExecutionId: string | undefined,
    readonly state: string | undefined,
    readonly stateChangeReason: string | undefined,
  ) {
    super(message);
  }
}

export class AthenaQueryCancelledError extends AthenaQueryError {
  override name = 'AthenaQueryCancelledError';
}

/** Waits, or less when the signal aborts (the caller then stops the query). */
const sleep = (ms: number, signal?: AbortSignal): Promise<void> => abortableSleep(ms, signal).catch(() => undefined);

export class AthenaQueryRunner {
  private readonly pollInitialMs: number;
  private readonly pollMaxMs: number;
  private readonly pageSize: number;

  constructor(
    private readonly client: AthenaClient,
    private readonly opts: AthenaQueryOptions,
  ) {
    this.pollInitialMs = opts.pollInitialMs ?? 250;
    this.pollMaxMs = opts.pollMaxMs ?? 5000;
    this.pageSize = Math.min(1000, Math.max(1, opts.pageSize ?? 1000));
  }

  get workGroup(): string {
    return this.opts.workGroup;
  }

  /** Runs `sql` to completion and returns all its rows. `hasHeader` = the statement is a SELECT. */
  async run(sql: string, purpose: string, opts: { signal?: AbortSignal; hasHeader?: boolean } = {}): Promise<QueryResult> {
    const { signal } = opts;
    const head = firstLine(sql);
    if (signal?.aborted) throw new AthenaQueryCancelledError(`${purpose}: cancelled before start (${head})`, undefined, undefined, undefined);
    const started = await this.client.send(
      new StartQueryExecutionCommand({
        QueryString: sql,
        WorkGroup: this.opts.workGroup,
        ...(this.opts.outputLocation ? { ResultConfiguration: { OutputLocation: this.opts.outputLocation } } : {}),
        ...(this.opts.catalog || this.opts.database
          ? {
              QueryExecutionContext: {
                ...(this.opts.catalog ? { Catalog: this.opts.catalog } : {}),
                ...(this.opts.database ? { Database: this.opts.database } : {}),
              },
            }
          : {}),
      }),
    );
    const id = started.QueryExecutionId;
    if (!id) throw new AthenaQueryError(`${purpose}: StartQueryExecution returned no id (${head})`, undefined, undefined, undefined);
    this.opts.onStatement?.({ queryExecutionId: id, sql, purpose });

    await this.wait(id, purpose, head, signal);
    return this.results(id, opts.hasHeader ?? /^\s*(SELECT|WITH|SHOW|DESCRIBE)\b/i.test(sql), signal);
  }

  private async stop(id: string): Promise<void> {
    try {
      await this.client.send(new StopQueryExecutionCommand({ QueryExecutionId: id }));
    } catch {
      // Best effort: the query may have finished meanwhile.
    }
  }

  private async wait(id: string, purpose: string, head: string, signal: AbortSignal | undefined): Promise<QueryExecution> {
    const deadline = this.opts.timeoutMs ? Date.now() + this.opts.timeoutMs : Infinity;
    let delay = this.pollInitialMs;
    for (;;) {
      if (signal?.aborted) {
        await this.stop(id);
        throw new AthenaQueryCancelledError(
          `${purpose}: Athena query ${id} stopped because the run was cancelled (${head})`,
          id,
          'CANCELLED',
          'cancelled by the pipeline',
        );
      }
      const out = await this.client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
      const execution = out.QueryExecution ?? {};
      const state = execution.Status?.State;
      if (state === 'SUCCEEDED') return execution;
      if (state === 'FAILED' || state === 'CANCELLED') {
        const reason = execution.Status?.StateChangeReason ?? execution.Status?.AthenaError?.ErrorMessage ?? 'no reason given';
        const Err = state === 'CANCELLED' ? AthenaQueryCancelledError : AthenaQueryError;
        throw new Err(`${purpose}: Athena query ${id} ${state}: ${reason} (statement: ${head})`, id, state, reason);
      }
      if (Date.now() >= deadline) {
        await this.stop(id);
        throw new AthenaQueryError(
          `${purpose}: Athena query ${id} still ${state ?? 'unknown'} after ${this.opts.timeoutMs} ms; stopped (statement: ${head})`,
          id,
          state,
          'timeout',
        );
      }
      await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), signal);
      delay = Math.min(this.pollMaxMs, delay * 2);
    }
  }

  private async results(
    id: string,
    hasHeader: boolean,
    signal: AbortSignal | undefined,
  ): Promise<QueryResult> {
    const rows: (string | null)[][] = [];
    let columns: string[] = [];
    let updateCount: number | undefined;
    let token: string | undefined;
    let first = true;
    do {
      if (signal?.aborted) throw new AthenaQueryCancelledError(`Athena query ${id}: cancelled while reading results`, id, 'SUCCEEDED', 'cancelled');
      const page = await this.client.send(
        new GetQueryResultsCommand({ QueryExecutionId: id, MaxResults: this.pageSize, ...(token ? { NextToken: token } : {}) }),
      );
      if (first) {
        columns = (page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c) => c.Name ?? c.Label ?? '');
        if (typeof page.UpdateCount === 'number') updateCount = page.UpdateCount;
      }
      let pageRows = (page.ResultSet?.Rows ?? []).map((r) => (r.Data ?? []).map((d) => (d.VarCharValue === undefined ? null : d.VarCharValue)));
      // Athena repeats the column names as the first row of a SELECT's first page.
      if (first && hasHeader && pageRows.length > 0) pageRows = pageRows.slice(1);
      for (const r of pageRows) rows.push(r);
      token = page.NextToken || undefined;
      first = false;
    } while (token);
    return { queryExecutionId: id, columns, rows, ...(updateCount !== undefined ? { updateCount } : {}) };
  }
}
