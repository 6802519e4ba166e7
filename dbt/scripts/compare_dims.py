#!/usr/bin/env python3
"""Compare sf_curated.dim_sf_user_scd in two DuckDB files, ignoring _dbt_updated_at.

usage: compare_dims.py A.duckdb B.duckdb   (exit 0 = identical rows, 1 = different)
"""
import sys

import duckdb

COLS = ("user_key, user_id, name, division, audit_phase__c, is_active, is_deleted, "
        "update_date, valid_from, valid_to, is_current, _scd_id")

a, b = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f"attach '{a}' as a (read_only)")
con.execute(f"attach '{b}' as b (read_only)")
n_a = con.sql("select count(*) from a.sf_curated.dim_sf_user_scd").fetchone()[0]
n_b = con.sql("select count(*) from b.sf_curated.dim_sf_user_scd").fetchone()[0]
only_a = con.sql(f"select count(*) from (select {COLS} from a.sf_curated.dim_sf_user_scd "
                 f"except all select {COLS} from b.sf_curated.dim_sf_user_scd)").fetchone()[0]
only_b = con.sql(f"select count(*) from (select {COLS} from b.sf_curated.dim_sf_user_scd "
                 f"except all select {COLS} from a.sf_curated.dim_sf_user_scd)").fetchone()[0]
print(f"rows: {n_a} vs {n_b}; only in first: {only_a}; only in second: {only_b}")
if only_a or only_b:
    print(con.sql(f"(select 'first' as side, {COLS} from a.sf_curated.dim_sf_user_scd except all "
                  f"select 'first', {COLS} from b.sf_curated.dim_sf_user_scd) union all "
                  f"(select 'second', {COLS} from b.sf_curated.dim_sf_user_scd except all "
                  f"select 'second', {COLS} from a.sf_curated.dim_sf_user_scd) order by user_id, valid_from limit 20"))
    sys.exit(1)
print("IDENTICAL (excluding _dbt_updated_at)")
