import { formatIsoZ, formatSf } from '../datetime.js';
import { makeId } from '../ids.js';
import type { SimOrg } from '../org.js';
import type { UserRec } from '../record.js';
import type { FieldDef } from '../schema.js';
import { COLUMN_DELIMITERS, csvRow } from '../csv.js';
import { compileSoql } from '../soql/eval.js';
import { json, NOT_FOUND, sfError, type Reply } from './reply.js';
import { soqlErrorReply } from './rest.js';

type JobState = 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';

interface Job {
  id: string;
  operation: 'query' | 'queryAll';
  state: JobState;
  polls: number;
  records: UserRec[];
  fields: FieldDef[];
  createdDate: string;
  apiVersion: string;
  columnDelimiter: string;
  lineEnding: 'LF' | 'CRLF';
  errorMessage?: string;
  startedAt: number;
}

const ROWS_PER_CHUNK = 1000;

/** Bulk API 2.0 query jobs. The result set is snapshotted when the job is created. */
export class BulkApi {
  private jobs = new Map<string, Job>();
  private seq = 0;

  constructor(
    private readonly org: SimOrg,
    private readonly createdById: string,
    private readonly defaultMaxRecords: number,
    private readonly datetimeFormat: 'iso' | 'salesforce' = 'iso',
  ) {}

  create(version: string, rawBody: string, fail: boolean): Reply {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(rawBody) as Record<string, unknown>;
    } catch {
      return sfError(400, 'JSON_PARSER_ERROR', 'Cannot deserialize request body');
    }
    const operation = body.operation;
    if (operation !== 'query' && operation !== 'queryAll') {
      return sfError(400, 'INVALIDJOB', `InvalidJob : Invalid operation: ${String(operation)}`);
    }
    if (typeof body.query !== 'string') return sfError(400, 'INVALIDJOB', 'InvalidJob : query is required');
    const delimName = typeof body.columnDelimiter === 'string' ? body.columnDelimiter : 'COMMA';
    if (!(delimName in COLUMN_DELIMITERS)) return sfError(400, 'INVALIDJOB', `InvalidJob : Invalid columnDelimiter: ${delimName}`);
    const lineEnding = body.lineEnding === 'CRLF' ? 'CRLF' : 'LF';
    let records: UserRec[];
    let fields: FieldDef[];
    try {
      const cq = compileSoql(body.query, this.org);
      if (cq.count) return sfError(400, 'INVALIDJOB', 'InvalidJob : Aggregate Relationships and COUNT() are not supported by Bulk API 2.0 query');
      records = cq.run(this.org.visibleRecords());
      fields = cq.fields;
    } catch (e) {
      return soqlErrorReply(e);
    }
    const job: Job = {
      id: makeId('750', this.org.pod, ++this.seq),
      operation, state: 'UploadComplete', polls: 0, records, fields,
      createdDate: formatSf(this.org.nowMs()), apiVersion: version,
      columnDelimiter: delimName, lineEnding, startedAt: Date.now(),
    };
    if (fail) this.fail(job);
    this.jobs.set(job.id, job);
    return json(200, this.info(job, false));
  }

  poll(id: string, fail: boolean): Reply {
    const job = this.jobs.get(id);
    if (!job) return NOT_FOUND();
    if (fail) this.fail(job);
    job.polls++;
    if (job.state === 'UploadComplete' || job.state === 'InProgress') {
      job.state = job.polls === 1 ? 'InProgress' : 'JobComplete';
    }
    return json(200, this.info(job, true));
  }

  abort(id: string, rawBody: string): Reply {
    const job = this.jobs.get(id);
    if (!job) return NOT_FOUND();
    let state: unknown;
    try {
      state = (JSON.parse(rawBody) as { state?: unknown }).state;
    } catch { /* handled below */ }
    if (state !== 'Aborted') return sfError(400, 'INVALIDJOB', 'InvalidJob : only state Aborted can be set on a query job');
    if (job.state !== 'JobComplete' && job.state !== 'Failed') job.state = 'Aborted';
    return json(200, this.info(job, false));
  }

  remove(id: string): Reply {
    if (!this.jobs.delete(id)) return NOT_FOUND();
    return { status: 204 };
  }

  results(id: string, locator: string | null, maxRecordsParam: string | null): Reply {
    const job = this.jobs.get(id);
    if (!job) return NOT_FOUND();
    if (job.state !== 'JobComplete') {
      return sfError(400, 'INVALIDJOB', `InvalidJob : Query job ${id} is in state ${job.state}, results are available in state JobComplete`);
    }
    let offset = 0;
    if (locator !== null && locator !== '') {
      const decoded = Buffer.from(locator, 'base64').toString('utf8');
      if (!/^\d+$/.test(decoded) || Number(decoded) > job.records.length) {
        return sfError(400, 'INVALIDLOCATOR', `InvalidLocator : Invalid locator: ${locator}`);
      }
      offset = Number(decoded);
    }
    const maxRecords = maxRecordsParam ? Number(maxRecordsParam) : this.defaultMaxRecords;
    if (!Number.isInteger(maxRecords) || maxRecords < 1) return sfError(400, 'INVALIDREQUEST', 'maxRecords must be a positive integer');
    const end = Math.min(offset + maxRecords, job.records.length);
    // Real locators are base64 offsets too (e.g. "MTAwMDA" = 10000); `null` marks the last page.
    const next = end < job.records.length ? Buffer.from(String(end)).toString('base64').replace(/=+$/, '') : 'null';
    const delim = COLUMN_DELIMITERS[job.columnDelimiter]!;
    const eol = job.lineEnding === 'CRLF' ? '\r\n' : '\n';
    const org = this.org;
    const fields = job.fields;
    const fmt = this.datetimeFormat === 'iso' ? formatIsoZ : formatSf;
    return {
      status: 200,
      headers: {
        'Content-Type': 'text/csv',
        'Sforce-Locator': next,
        'Sforce-NumberOfRecords': String(end - offset),
      },
      async stream(write) {
        await write(csvRow(fields.map((f) => f.name), delim, eol));
        for (let i = offset; i < end; i += ROWS_PER_CHUNK) {
          let chunk = '';
          for (let j = i; j < Math.min(i + ROWS_PER_CHUNK, end); j++) {
            const rec = job.records[j]!;
            chunk += csvRow(fields.map((f) => {
              const v = org.value(rec, f);
              if (v === null) return null;
              if (typeof v === 'number' && f.type === 'datetime') return fmt(v);
              if (typeof v === 'number' && f.type === 'date') return new Date(v).toISOString().slice(0, 10);
              return String(v);
            }), delim, eol);
          }
          await write(chunk);
        }
      },
    };
  }

  private fail(job: Job): void {
    job.state = 'Failed';
    job.errorMessage = 'INTERNAL_ERROR : The query job failed to complete (injected fault).';
  }

  private info(job: Job, detailed: boolean): Record<string, unknown> {
    const base: Record<string, unknown> = {
      id: job.id,
      operation: job.operation,
      object: 'User',
      createdById: this.createdById,
      createdDate: job.createdDate,
      systemModstamp: job.createdDate,
      state: job.state,
      concurrencyMode: 'Parallel',
      contentType: 'CSV',
      apiVersion: Number(job.apiVersion),
      lineEnding: job.lineEnding,
      columnDelimiter: job.columnDelimiter,
    };
    if (!detailed) return base;
    const complete = job.state === 'JobComplete';
    return {
      ...base,
      jobType: 'V2Query',
      numberRecordsProcessed: complete ? job.records.length : 0,
      retries: 0,
      totalProcessingTime: complete ? Date.now() - job.startedAt : 0,
      isPkChunkingSupported: true,
      ...(job.state === 'Failed' ? { errorMessage: job.errorMessage } : {}),
    };
  }
}
