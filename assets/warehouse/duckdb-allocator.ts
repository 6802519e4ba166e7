/**
 * DuckDB's memory comes from the jemalloc it bundles, configured to keep freed pages resident for
 * a second (dirty_decay_ms and muzzy_decay_ms 1000) before returning them to the OS. A commit that
 * spills and reloads its buffer pool frees and allocates tens of MB a second, so up to a second's
 * worth stayed resident on top of memory_limit: a 1M-user extraction peaked between 245 and 278 MB
 * over identical runs. Returned at once, it peaks at about 217 MB, run after run; the commit takes
 * about a second longer at a million users (bench/extract.ts).
 *
 * jemalloc reads its configuration once, from this variable, when the library loads: import this
 * module before anything imports @duckdb/node-api (bin/sfpipe.ts imports it first). A value set
 * outside the process is kept. Child processes inherit it: dbt-duckdb's DuckDB reads it too.
 */
export const DUCKDB_ALLOCATOR_ENV = 'DUCKDB_JE_MALLOC_CONF';
export const DUCKDB_ALLOCATOR_CONF = 'dirty_decay_ms:0,muzzy_decay_ms:0';

process.env[DUCKDB_ALLOCATOR_ENV] ??= DUCKDB_ALLOCATOR_CONF;
