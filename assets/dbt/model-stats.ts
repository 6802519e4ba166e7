import type { Metadata } from '../../runtime/definitions.js';
import type { MaterializationRecord } from '../../runtime/storage/event-log.js';

/** Relations the statistics may read instead of a model, as dbt rendered them for this target. */
export interface StatsRelations {
  /** The source sf_raw.sf_user, or null when dbt's manifest does not name it. */
  rawUsers: string | null;
  /** The environment's schema suffix (e.g. `_alice` in dev): the models are in sf_staging<suffix>, sf_curated<suffix>. */
  schemaSuffix: string;
}

/** Per-model row statistics for the run summary: what the model holds, what this run changed. */
export interface ModelStatsQuery {
  sql(relations: StatsRelations): string;
  summarize(row: Record<string, number>, previous: Metadata | null): { metadata: Metadata; summary: string };
}

export const MODEL_STATS: Record<string, ModelStatsQuery> = {
  'sf_staging/stg_sf_user': {
    // The view has one row per (id, systemmodstamp) of raw, both non-null: counted from raw, without
    // the view's window over every raw row (at 1M raw rows about a third of the time).
    sql: ({ rawUsers, schemaSuffix }) =>
      rawUsers
        ? `select count(*) as observations, count(distinct id) as users from (select distinct id, systemmodstamp from ${rawUsers} where id is not null and systemmodstamp is not null) as versions`
        : `select count(*) as observations, count(distinct user_id) as users from sf_staging${schemaSuffix}.stg_sf_user`,
    summarize: (r) => ({ metadata: { observations: r.observations, users: r.users }, summary: `${r.observations} observations of ${r.users} users` }),
  },
  'sf_curated/dim_sf_user_scd': {
    sql: ({ schemaSuffix }) =>
      `select count(*) as versions, count(*) filter (where is_current) as current_versions, count(distinct user_id) as users, count(*) filter (where is_current and is_deleted) as deleted_users from sf_curated${schemaSuffix}.dim_sf_user_scd`,
    summarize: (r, prev) => {
      const closed = r.versions! - r.current_versions!;
      const before = prev && typeof prev.versions === 'number' && typeof prev.current_versions === 'number' ? prev : null;
      const opened = before ? r.versions! - (before.versions as number) : r.versions!;
      const newlyClosed = before ? closed - ((before.versions as number) - (before.current_versions as number)) : closed;
      return {
        metadata: { versions: r.versions, current_versions: r.current_versions, users: r.users, deleted_users: r.deleted_users, versions_opened: opened, versions_closed: newlyClosed },
        summary: `${r.versions} versions of ${r.users} users; this run opened ${opened} and closed ${newlyClosed}`,
      };
    },
  },
};

export function previousMetadata(prev: MaterializationRecord | null | undefined): Metadata | null {
  return prev?.metadata ?? null;
}
