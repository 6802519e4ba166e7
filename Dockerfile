# syntax=docker/dockerfile:1
#
# sf-user-pipeline image: the sfpipe CLI (Node 20) plus dbt-core/dbt-athena/dbt-duckdb in
# a Python virtualenv. Used by the Helm chart in helm/sf-user-pipeline.
#
# Every stage starts FROM Debian's own image and takes Node.js 20 and Python from Debian's
# packages (trixie: nodejs 20.19, python3.13), so the base can be made from Debian packages
# alone where no registry is reachable: `make image` (test/services/image/build.sh) then
# makes debian:trixie-slim with mmdebstrap, tags it locally and builds this file unchanged
# with buildah. With Docker: docker build -t sf-user-pipeline:0.1.0 .
#   - every stage uses the same Debian release so that native modules (better-sqlite3,
#     @duckdb/node-api) and the venv (/usr/bin/python3) built in one stage run unchanged
#     in the final stage;
#   - paths match what the code looks up: package.json ("type": "module") at /app,
#     dist/ next to assets/config/embedded.yaml and dbt/ (assets/dbt/dbt-project.ts
#     finds the dbt project at <root>/dbt), dbt at $SFPIPE_DBT;
#   - the container runs as uid/gid 10001 with a read-only root filesystem: every
#     write goes to $SFPIPE_HOME (/var/lib/sfpipe) or /tmp (emptyDirs in the chart;
#     dbt's target/ and logs/ live under $SFPIPE_HOME/dbt).

ARG BASE_IMAGE=debian:trixie-slim

# ---- 1. TypeScript build: npm ci, tsc, then drop the dev dependencies ---------------
FROM ${BASE_IMAGE} AS build
# Node 20 and npm from Debian, and the toolchain for better-sqlite3, which is compiled here
# against Debian's Node headers (libnode-dev, nodedir /usr): nothing is downloaded but the
# npm packages (no prebuilt binary, no header tarball).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm libnode-dev python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr \
    npm_config_build_from_source=true \
    npm_config_update_notifier=false
WORKDIR /src
COPY package.json package-lock.json ./
# build_ca (optional build secret): a CA bundle for a TLS-intercepting proxy between the build
# and the registries, e.g. docker build --secret id=build_ca,src=/etc/ssl/certs/ca-certificates.crt .
# It is only mounted for the RUN steps that fetch packages, never stored in a layer.
RUN --mount=type=secret,id=build_ca \
    if [ -s /run/secrets/build_ca ]; then export npm_config_cafile=/run/secrets/build_ca; fi \
 && npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY runtime ./runtime
COPY assets ./assets
COPY sim ./sim
COPY k8s ./k8s
RUN npx tsc -p tsconfig.json \
 && chmod +x dist/bin/sfpipe.js \
 && npm prune --omit=dev --no-audit --no-fund
# What the production node_modules holds but Node never loads (issue 19, "A smaller image"):
#   - @duckdb/node-bindings-*-musl: the musl build of DuckDB (70 MB), installed next to the
#     glibc one because Debian's npm 9 ignores package.json "libc";
#   - better-sqlite3: everything but the compiled addon (its SQLite sources, the objects and
#     test extension of the source compile); the `bindings` loader looks in build/Release;
#   - jsforce's browser bundles (dist/, browser/: used only by bundlers through its
#     "browser" field) and TypeScript sources; core-js, core-js-pure and
#     @babel/runtime-corejs3, which only those bundles use (jsforce's lib/ requires none);
#   - TypeScript sources and declarations (*.ts, *.mts, *.cts) and source maps (*.map);
#   - debug symbols of the native addons (strip --strip-unneeded keeps the dynamic symbols).
# Then a smoke test: the native addons and jsforce still load.
RUN cd node_modules \
 && rm -rf @duckdb/node-bindings-*-musl \
 && mv better-sqlite3/build/Release/better_sqlite3.node /tmp/ \
 && rm -rf better-sqlite3/build better-sqlite3/deps better-sqlite3/src better-sqlite3/binding.gyp \
 && mkdir -p better-sqlite3/build/Release && mv /tmp/better_sqlite3.node better-sqlite3/build/Release/ \
 && rm -rf jsforce/dist jsforce/browser jsforce/src core-js core-js-pure @babel/runtime-corejs3 \
 && find . -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' \) -delete \
 && strip --strip-unneeded @duckdb/node-bindings-*/*.node @duckdb/node-bindings-*/*.so better-sqlite3/build/Release/better_sqlite3.node \
 && cd .. \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get(); require('jsforce'); require('jsforce/lib/http-api.js')" \
 && node --input-type=module -e "const { DuckDBInstance } = await import('@duckdb/node-api'); const c = await (await DuckDBInstance.create(':memory:')).connect(); await c.run('select 1')"

# ---- 2. dbt virtualenv (Debian's python3, the same interpreter as the runtime) -------
FROM ${BASE_IMAGE} AS python
# gcc + headers: some of dbt's dependencies (mmh3) have no wheel for Debian's python3.13
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev gcc libc6-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The full set (every adapter), each package at the version of dbt/constraints.txt.
COPY dbt/requirements.txt dbt/constraints.txt /tmp/dbt/
RUN --mount=type=secret,id=build_ca \
    if [ -s /run/secrets/build_ca ]; then export PIP_CERT=/run/secrets/build_ca; fi \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/dbt/requirements.txt \
 && /opt/venv/bin/dbt --version
# Not needed at run time (issue 19, "A smaller image"):
#   - pip itself: the image never installs anything;
#   - networkx's test suites and the type stubs (*.pyi);
#   - babel's locale data but English and root: dbt reads CSVs and results through agate,
#     whose number parsing uses babel with agate's default locale en_US (en_US -> en -> root);
#   - debug symbols of the extension modules pip compiled here (zstandard, lz4, msgpack,
#     PyYAML: 30 MB of the 36); strip --strip-unneeded keeps the dynamic symbols;
#   - the bytecode caches (__pycache__): the root filesystem is read-only
#     (PYTHONDONTWRITEBYTECODE=1), so each dbt start compiles the modules it imports in memory
#     (about 1.5 s of CPU), for 27 MB less to pull on every fresh node.
# Then dbt still starts, and agate still parses an en_US number.
RUN /opt/venv/bin/python -m pip uninstall -y -q pip \
 && cd /opt/venv/lib/python3*/site-packages \
 && rm -rf networkx/*/tests networkx/*/*/tests networkx/*/*/*/tests \
 && find . -name '*.pyi' -delete \
 && find babel/locale-data -type f ! -name root.dat ! -name en.dat ! -name 'en_*.dat' -delete \
 && find . -name '*.so' -exec strip --strip-unneeded {} + \
 && find /opt/venv -name __pycache__ -prune -exec rm -rf {} + \
 && export PYTHONDONTWRITEBYTECODE=1 \
 && /opt/venv/bin/dbt --version \
 && /opt/venv/bin/python -c "import agate, decimal; assert agate.Number().cast('1,234.5') == decimal.Decimal('1234.5')" \
 && test -z "$(find /opt/venv -name __pycache__)"

# ---- 3. runtime ------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
# apt-get clean: a base made with mmdebstrap has no docker-clean hook, so the .debs (120 MB)
# would stay in /var/cache/apt (harmless on the official slim image, which has it).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs python3 ca-certificates tini \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --system --gid 10001 sfpipe \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sfpipe --shell /usr/sbin/nologin sfpipe \
 && mkdir -p /var/lib/sfpipe /etc/sfpipe \
 && chown 10001:10001 /var/lib/sfpipe

WORKDIR /app
COPY --from=python /opt/venv /opt/venv
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY assets/config/embedded.yaml ./assets/config/embedded.yaml
COPY dbt/dbt_project.yml dbt/profiles.yml dbt/requirements.txt dbt/constraints.txt ./dbt/
COPY dbt/models ./dbt/models
COPY dbt/macros ./dbt/macros
COPY dbt/tests ./dbt/tests

ENV NODE_ENV=production \
    SFPIPE_HOME=/var/lib/sfpipe \
    SFPIPE_DBT=/opt/venv/bin/dbt \
    SFPIPE_DBT_PROJECT_DIR=/app/dbt \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

USER 10001:10001
# tini as PID 1: node as PID 1 would ignore a SIGTERM it has no handler for (`check`, `lineage`),
# so a pod would wait out its grace period; tini forwards signals and reaps dbt's children.
# The script runs through its own first line (env -S): Node's flags and MALLOC_ARENA_MAX for sfpipe.
ENTRYPOINT ["/usr/bin/tini", "--", "/app/dist/bin/sfpipe.js"]
CMD ["--help"]
