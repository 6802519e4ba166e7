import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { abortableSleep } from '../../runtime/retry.js';
import { SalesforceApiError, type SalesforceApi } from './api.js';

interface JobInfo {
  id: string;
  state: 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';
  errorMessage?: string;
  numberRecordsProcessed?: number;
}

export interface BulkOptions {
  apiVersion: string;
  soql: string;
  /** Records per results page (bounds memory). */
  pageSize: number;
  pollIntervalMs?: number;
  pollTimeoutMs?: number;
  signal: AbortSignal;
}

/** Records the CSV of a results page is handed on in: a page's records are never all parsed at once. */
const RECORDS_PER_GROUP = 2000;
/** Characters of the CSV text fed to the parser at a time. */
const CSV_SLICE = 64 * 1024;

/** `text` in slices of about `size` characters, never splitting a surrogate pair. */
function* textSlices(text: string, size: number): Generator<string> {
  for (let from = 0; from < text.length; ) {
    let to = Math.min(text.length, from + size);
    const last = text.charCodeAt(to - 1);
    // A high surrogate ends the slice: its pair goes with it into this slice or the next.
    if (to < text.length && last >= 0xd800 && last <= 0xdbff) to += to - 1 > from ? -1 : 1;
    yield text.slice(from, to);
    from = to;
  }
}

/**
 * The CSV's records in groups of `size`, parsed as they are consumed: a results page of 20,000
 * records parsed whole held them all at once (tens of MB of short-lived objects, which V8 then
 * kept as heap), where a group at a time holds a tenth.
 */
export async function* csvRecordGroups(text: string, size: number, sliceChars = CSV_SLICE): AsyncGenerator<Record<string, string>[]> {
  if (text.trim().length === 0) return;
  const parser = Readable.from(textSlices(text, sliceChars)).pipe(parse({ columns: true, delimiter: ',', relax_column_count: false, bom: true }));
  try {
    let group: Record<string, string>[] = [];
    for await (const record of parser) {
      group.push(record as Record<string, string>);
      if (group.length >= size) {
        yield group;
        group = [];
      }
    }
    if (group.length > 0) yield group;
  } finally {
    parser.destroy();
  }
}

/** Bulk API 2.0 query: create the job, poll until JobComplete, read CSV pages by Sforce-Locator. */
export async function* bulkQueryPages(api: SalesforceApi, opts: BulkOptions): AsyncGenerator<Record<string, string>[]> {
  const base = `/services/data/v${opts.apiVersion}/jobs/query`;
  const created = await api.request<JobInfo>(
    'bulkCreate',
    {
      method: 'POST',
      url: base,
      body: JSON.stringify({ operation: 'query', query: opts.soql, contentType: 'CSV', columnDelimiter: 'COMMA', lineEnding: 'LF' }),
    },
    // A timed-out create may have made a job: retrying could start a second one.
    { notIdempotent: true },
  );
  const jobId = created.body.id;
  let done = false;
  try {
    yield* jobPages(api, base, jobId, opts);
    done = true;
  } catch (err) {
    done = (err as SalesforceApiError).errorCode === 'BULK_JOB_FAILED'; // the job ended by itself
    throw err;
  } finally {
    // Timed out, canceled, or abandoned mid-read (REST fallback): stop the job, it would go on.
    if (!done) {
      await api
        .request('bulkAbort', { method: 'PATCH', url: `${base}/${jobId}`, body: JSON.stringify({ state: 'Aborted' }) }, { cleanup: true })
        .catch(() => undefined);
    }
  }
}

async function* jobPages(api: SalesforceApi, base: string, jobId: string, opts: BulkOptions): AsyncGenerator<Record<string, string>[]> {
  const deadline = Date.now() + (opts.pollTimeoutMs ?? 10 * 60_000);
  let interval = opts.pollIntervalMs ?? 500;
  for (;;) {
    const job = (await api.request<JobInfo>('bulkPoll', { method: 'GET', url: `${base}/${jobId}` })).body;
    if (job.state === 'JobComplete') break;
    if (job.state === 'Failed' || job.state === 'Aborted') {
      throw new SalesforceApiError(`Bulk API 2.0 job ${jobId} ${job.state}: ${job.errorMessage ?? 'no message'}`, { status: null, errorCode: 'BULK_JOB_FAILED', retryable: true });
    }
    if (Date.now() > deadline) {
      throw new SalesforceApiError(`Bulk API 2.0 job ${jobId} still ${job.state} after ${Math.round((opts.pollTimeoutMs ?? 600_000) / 1000)} s`, { status: null, errorCode: 'BULK_JOB_TIMEOUT', retryable: true });
    }
    await abortableSleep(interval, opts.signal);
    interval = Math.min(5000, Math.round(interval * 1.5));
  }
  let locator: string | null = null;
  do {
    const q: string = `maxRecords=${opts.pageSize}${locator ? `&locator=${encodeURIComponent(locator)}` : ''}`;
    const res: { body: string; headers: Record<string, string> } = await api.request<string>(
      'bulkResults',
      { method: 'GET', url: `${base}/${jobId}/results?${q}`, headers: { Accept: 'text/csv' } },
      { responseType: 'text/plain' },
    );
    const text = typeof res.body === 'string' ? res.body : String(res.body ?? '');
    for await (const records of csvRecordGroups(text, RECORDS_PER_GROUP)) yield records;
    const next = res.headers['sforce-locator'];
    locator = next && next !== 'null' ? next : null;
  } while (locator);
}
