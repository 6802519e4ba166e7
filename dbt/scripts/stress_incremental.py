#!/usr/bin/env python3
"""Randomized check of dim_sf_user_scd on DuckDB: k incremental dbt runs == one
full refresh == an independent Python oracle of docs/data-model.md.

Random histories (nulls, A->B->A, non-tracked-only changes, tombstones and
returns, equal LastModifiedDates, exact repeats) are loaded into sf_raw.sf_user
in K batches; a batch holds versions of any age, so late versions with an
older systemmodstamp than the dimension has seen arrive in later batches.
After each batch: `dbt run` (incremental, lookback 0 so only new rows select
users). At the end the file is copied and rebuilt with --full-refresh.

usage: stress_incremental.py [--users N] [--batches K] [--seed S] [--workdir DIR]
run from the repo root; needs .venv with dbt installed.
"""
import argparse
import datetime as dt
import hashlib
import os
import random
import shutil
import subprocess
import sys

import duckdb

ap = argparse.ArgumentParser()
ap.add_argument("--users", type=int, default=300)
ap.add_argument("--batches", type=int, default=4)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--workdir", default="/tmp/sfpipe-dbt-stress")
args = ap.parse_args()
rnd = random.Random(args.seed)

repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
dbt_bin = os.path.join(repo, ".venv", "bin", "dbt")
shutil.rmtree(args.workdir, ignore_errors=True)
os.makedirs(args.workdir)
inc_db = os.path.join(args.workdir, "inc.duckdb")
full_db = os.path.join(args.workdir, "full.duckdb")

DIV = ["North", "South", None, "EMEA"]
PHASE = ["Phase1", "Complete", None]
base = dt.datetime(2025, 1, 1)

# ---- random observations: (id, name, division, phase, isactive, isdeleted, lmd, smm)
obs = []
for u in range(args.users):
    uid = f"005U{u:08d}"
    t = base + dt.timedelta(seconds=rnd.randint(0, 10_000))
    state = [rnd.choice(["Ann", "Bob"]), rnd.choice(DIV), rnd.choice(PHASE), rnd.random() < 0.8]
    lmd = t
    for _ in range(rnd.randint(1, 10)):
        r = rnd.random()
        deleted = None
        if r < 0.25:
            state[1] = rnd.choice(DIV)
        elif r < 0.45:
            state[2] = rnd.choice(PHASE)
        elif r < 0.65:
            state[0] = rnd.choice(["Ann", "Bob", "Cy"])
            state[3] = rnd.random() < 0.5
        elif r < 0.75:
            deleted = True  # tombstone: last known values, isdeleted = true
        # else: automated change only (systemmodstamp moves, nothing else)
        if r < 0.65 and rnd.random() < 0.8:
            lmd = t  # LastModifiedDate sometimes stays equal
        obs.append([uid, state[0], state[1], state[2], state[3], deleted, lmd, t])
        t += dt.timedelta(seconds=rnd.choice([1, 60, 3600, 86400]))

batches = [[] for _ in range(args.batches)]
for o in obs:
    batches[rnd.randrange(args.batches)].append(o)
# exact repeats of already-batched versions, re-extracted in a later batch
for _ in range(len(obs) // 20):
    b = rnd.randrange(args.batches - 1) if args.batches > 1 else 0
    if batches[b]:
        batches[rnd.randrange(b, args.batches)].append(list(rnd.choice(batches[b])))

con = duckdb.connect(inc_db)
con.execute("create schema sf_raw")
con.execute("""create table sf_raw.sf_user (id varchar, name varchar, division varchar,
  audit_phase__c varchar, isactive boolean, isdeleted boolean, lastmodifieddate timestamp,
  systemmodstamp timestamp, _extracted_at timestamp, _extraction_run_id varchar)""")
con.close()


def dbt(db, *extra):
    env = dict(os.environ, SFPIPE_DUCKDB_PATH=db)
    p = subprocess.run([dbt_bin, *extra, "--project-dir", os.path.join(repo, "dbt"),
                        "--profiles-dir", os.path.join(repo, "dbt")],
                       env=env, capture_output=True, text=True)
    last = [l for l in p.stdout.splitlines() if "Done." in l]
    print(" ", " ".join(extra[:2]), "->", last[-1].split("  ")[-1] if last else p.stdout[-2000:])
    if p.returncode != 0:
        print(p.stdout[-4000:])
        sys.exit(2)


for i, batch in enumerate(batches):
    con = duckdb.connect(inc_db)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    seen = {r[0] for r in con.execute("select id || '|' || cast(systemmodstamp as varchar) from sf_raw.sf_user").fetchall()}
    rows = []
    for o in batch:
        key = o[0] + "|" + str(o[7])
        if key in seen and rnd.random() < 0.5:
            continue
        rows.append(o + [now, f"run{i}"])
    if rows:
        con.executemany("insert into sf_raw.sf_user values (?,?,?,?,?,?,?,?,?,?)", rows)
    con.close()
    print(f"batch {i}: {len(rows)} raw rows")
    dbt(inc_db, "run", "--vars", "{scd_extracted_at_lookback_minutes: 0}")

shutil.copy(inc_db, full_db)
dbt(full_db, "build", "--full-refresh")

# ---- independent oracle of docs/data-model.md
con = duckdb.connect(inc_db, read_only=True)
raw = con.execute("""select id, name, division, audit_phase__c, isactive, coalesce(isdeleted, false),
  lastmodifieddate, systemmodstamp, _extracted_at, _extraction_run_id from sf_raw.sf_user""").fetchall()
con.close()
# Of rows of one (id, systemmodstamp), the later observation wins (_extracted_at, then run id).
later = {}
for r in sorted(raw, key=lambda r: (r[8], r[9])):
    later[(r[0], r[7])] = r
by_user = {}
for r in later.values():
    by_user.setdefault(r[0], []).append(r)
expected = set()
for uid, rs in by_user.items():
    rs.sort(key=lambda r: r[7])
    versions = []
    for r in rs:
        tracked = (r[2], r[3], r[5])
        if not versions or versions[-1]["tracked"] != tracked:
            versions.append({"tracked": tracked, "valid_from": r[7], "update_date": r[6], "last": r})
        else:
            versions[-1]["last"] = r
    for i, v in enumerate(versions):
        valid_to = versions[i + 1]["valid_from"] if i + 1 < len(versions) else None
        key = hashlib.md5(f"{uid}|{v['valid_from'].strftime('%Y-%m-%dT%H:%M:%S.%f')}".encode()).hexdigest()
        last = v["last"]
        expected.add((key, uid, last[1], last[2], last[3], last[4], last[5], v["update_date"],
                       v["valid_from"], valid_to, valid_to is None))

COLS = ("user_key, user_id, name, division, audit_phase__c, is_active, is_deleted, "
        "update_date, valid_from, valid_to, is_current")
ok = True
for label, db in (("incremental", inc_db), ("full-refresh", full_db)):
    con = duckdb.connect(db, read_only=True)
    got = con.execute(f"select {COLS} from sf_curated.dim_sf_user_scd").fetchall()
    con.close()
    same = len(got) == len(set(got)) and set(got) == expected
    ok &= same
    print(f"{label}: {len(got)} rows; oracle: {len(expected)} rows; equal: {same}")
    if not same:
        print("  missing:", sorted(expected - set(got))[:5])
        print("  extra:  ", sorted(set(got) - expected)[:5])
r = subprocess.run([sys.executable, os.path.join(repo, "dbt", "scripts", "compare_dims.py"), inc_db, full_db])
ok &= r.returncode == 0
print("STRESS", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
