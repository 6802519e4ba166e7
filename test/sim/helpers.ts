import { parse } from 'csv-parse/sync';
import { DEFAULT_CREDENTIALS, type Simulator } from '../../sim/index.js';

/** Bulk API CSV as rows, read with csv-parse (as the extractor reads it); an unquoted empty field is null. */
export function parseCsv(text: string, delimiter = ','): Array<Array<string | null>> {
  return parse(text, { delimiter, record_delimiter: ['\r\n', '\n'], cast: (value, ctx) => (value === '' && !ctx.quoting ? null : value) }) as Array<Array<string | null>>;
}

export const V = '62.0';

export async function tokenFor(sim: Simulator, params: Record<string, string> = {}): Promise<string> {
  const res = await postForm(sim, {
    grant_type: 'client_credentials',
    client_id: DEFAULT_CREDENTIALS.clientId,
    client_secret: DEFAULT_CREDENTIALS.clientSecret,
    ...params,
  });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

export function postForm(sim: Simulator, params: Record<string, string>): Promise<Response> {
  return fetch(`${sim.url}/services/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
}

export function api(sim: Simulator, token: string, path: string, init: RequestInit = {}): Promise<Response> {
  const url = path.startsWith('http') ? path : `${sim.url}${path.startsWith('/services') ? '' : `/services/data/v${V}`}${path}`;
  return fetch(url, { ...init, headers: { Authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) } });
}

export function q(soql: string): string {
  return `/query?q=${encodeURIComponent(soql)}`;
}

export interface QueryPage {
  totalSize: number;
  done: boolean;
  nextRecordsUrl?: string;
  records: Array<Record<string, unknown>>;
}
