/**
 * The `event_log:` section of the pipeline config: where runs, materializations, check results and
 * freshness states are kept.
 *
 * ```yaml
 * event_log:
 *   store: s3                        # sqlite (default: <state dir>/events.sqlite) | s3
 *   s3_location: s3://bucket/prefix/ # default: $SFPIPE_EVENT_LOG_S3
 *   region: eu-west-1                # default: $SFPIPE_ATHENA_REGION, then $AWS_REGION
 *   endpoint: http://127.0.0.1:5000  # an emulator (tests); default: $SFPIPE_AWS_ENDPOINT
 * ```
 */
import type { ConfigReader } from './config-reader.js';

export type EventLogConfig =
  | { store: 'sqlite' }
  | {
      store: 's3';
      /** `s3://bucket/prefix/` (always ends with a slash). */
      location: string;
      region: string;
      /** An emulator's endpoint (tests); null in production. */
      endpoint: string | null;
    };

export function readEventLogConfig(r: ConfigReader, env: NodeJS.ProcessEnv = process.env): EventLogConfig {
  const base = ['event_log'];
  if (r.has(base) && r.raw(base) !== null && (typeof r.raw(base) !== 'object' || Array.isArray(r.raw(base)))) {
    r.fail(base, 'must be a mapping', 'write event_log: { store: sqlite } or event_log: { store: s3, s3_location: s3://bucket/prefix/ }');
  }
  const store = r.oneOf([...base, 'store'], ['sqlite', 's3'] as const, 'sqlite');
  if (store === 'sqlite') {
    for (const key of ['s3_location', 'region', 'endpoint']) {
      if (r.has([...base, key])) r.fail([...base, key], 'only applies to store: s3', `remove event_log.${key} or set event_log.store: s3`);
    }
    return { store };
  }
  const get = (key: string, ...envNames: string[]): string | null => {
    const v = r.optionalString([...base, key]) ?? envNames.map((n) => env[n]).find((v) => v !== undefined && v.length > 0) ?? null;
    return v && v.length > 0 ? v : null;
  };
  const location =
    get('s3_location', 'SFPIPE_EVENT_LOG_S3') ??
    r.fail([...base, 's3_location'], 'is missing', 'set event_log.s3_location (e.g. s3://my-lake/sfpipe/event-log/) or the SFPIPE_EVENT_LOG_S3 environment variable');
  if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(location)) {
    r.fail([...base, 's3_location'], `"${location}" is not an s3:// location`, 'write s3://bucket/prefix/');
  }
  const region = r.awsRegion(
    [...base, 'region'],
    get('region', 'SFPIPE_ATHENA_REGION', 'AWS_REGION') ??
      r.fail([...base, 'region'], 'is missing', 'set event_log.region (e.g. eu-west-1) or the SFPIPE_ATHENA_REGION or AWS_REGION environment variable'),
    'event_log.region, $SFPIPE_ATHENA_REGION or $AWS_REGION',
  );
  const endpoint = get('endpoint', 'SFPIPE_AWS_ENDPOINT');
  if (endpoint !== null && !/^https?:\/\/\S+$/.test(endpoint)) {
    r.fail([...base, 'endpoint'], `"${endpoint}" is not an http(s) URL`, 'write e.g. http://127.0.0.1:5000, or remove it in production');
  }
  return { store, location: location.endsWith('/') ? location : `${location}/`, region, endpoint };
}
