import type { SalesforceApi } from './api.js';

export interface QueryPage {
  records: Record<string, unknown>[];
  totalSize: number;
  /** The server's clock when the page was served (HTTP Date header), if given. */
  serverTime: Date | null;
}

interface QueryResponse {
  totalSize: number;
  done: boolean;
  nextRecordsUrl?: string;
  records: Record<string, unknown>[];
}

/**
 * REST query pages one at a time (never the whole result in memory), following
 * nextRecordsUrl. A failed page is retried by SalesforceApi at the same URL, so an
 * INVALID_SESSION_ID or a 503 mid-paging resumes exactly where it stopped.
 */
export async function* restQueryPages(api: SalesforceApi, opts: { apiVersion: string; soql: string; pageSize: number; queryAll?: boolean }): AsyncGenerator<QueryPage> {
  const endpoint = opts.queryAll ? 'queryAll' : 'query';
  let url: string | undefined = `/services/data/v${opts.apiVersion}/${endpoint}?q=${encodeURIComponent(opts.soql)}`;
  let kind = 'query';
  while (url) {
    const res: { body: QueryResponse; headers: Record<string, string> } = await api.request<QueryResponse>(kind, {
      method: 'GET',
      url,
      headers: { 'Sforce-Query-Options': `batchSize=${opts.pageSize}` },
    });
    const date = res.headers['date'] ? new Date(res.headers['date']) : null;
    yield { records: res.body.records, totalSize: res.body.totalSize, serverTime: date && !Number.isNaN(date.getTime()) ? date : null };
    url = res.body.done ? undefined : res.body.nextRecordsUrl;
    kind = 'queryMore';
  }
}
