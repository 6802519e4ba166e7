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
import { z } from 'zod';
import type { ConfigReader } from './config-reader.js';
import { awsRegion, matching, msg, oneOf, section, setting, type Env } from './schema-kit.js';

const S3_ONLY = ['s3_location', 'region', 'endpoint'] as const;

export function eventLogSchema(env: Env) {
  const s3 = section({
    store: z.literal('s3'),
    s3_location: setting(
      matching(
        /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/,
        (v) => `"${v}" is not an s3:// location`,
        'write s3://bucket/prefix/',
        'set event_log.s3_location (e.g. s3://my-lake/sfpipe/event-log/) or the SFPIPE_EVENT_LOG_S3 environment variable',
      ).transform((v) => (v.endsWith('/') ? v : `${v}/`)),
      { env: ['SFPIPE_EVENT_LOG_S3'], from: env },
    ),
    region: setting(
      awsRegion('event_log.region, $SFPIPE_ATHENA_REGION or $AWS_REGION', 'set event_log.region (e.g. eu-west-1) or the SFPIPE_ATHENA_REGION or AWS_REGION environment variable'),
      { env: ['SFPIPE_ATHENA_REGION', 'AWS_REGION'], from: env },
    ),
    endpoint: setting(
      matching(/^https?:\/\/\S+$/, (v) => `"${v}" is not an http(s) URL`, 'write e.g. http://127.0.0.1:5000, or remove it in production').nullable(),
      { env: ['SFPIPE_AWS_ENDPOINT'], default: null, from: env },
    ),
  }).transform(({ store, s3_location, region, endpoint }) => ({
    store,
    /** `s3://bucket/prefix/` (always ends with a slash). */
    location: s3_location,
    region,
    /** An emulator's endpoint (tests); null in production. */
    endpoint,
  }));
  const sqlite = section(
    { store: z.literal('sqlite') },
    { elsewhere: Object.fromEntries(S3_ONLY.map((k) => [k, msg('only applies to store: s3', `remove event_log.${k} or set event_log.store: s3`)])) },
  );
  const notMapping = () => msg('must be a mapping', 'write event_log: { store: sqlite } or event_log: { store: s3, s3_location: s3://bucket/prefix/ }');
  // The store picks the shape: sqlite has no settings of its own, s3 reads its location.
  return setting(
    section({ store: setting(oneOf(['sqlite', 's3']), { default: 'sqlite' }) }, { notMapping })
      .loose()
      .pipe(z.any())
      .transform((v: { store: 'sqlite' | 's3' }, ctx) => {
        const r = (v.store === 's3' ? s3 : sqlite).safeParse(v);
        if (r.success) return r.data;
        for (const i of r.error.issues) ctx.addIssue(i as never);
        return z.NEVER;
      }),
    { default: {}, reads: [sqlite, s3] },
  );
}

export type EventLogConfig = { store: 'sqlite' } | z.output<ReturnType<typeof eventLogSchema>>;

export function readEventLogConfig(r: ConfigReader, env: Env = process.env): EventLogConfig {
  return r.parse(['event_log'], eventLogSchema(env));
}
