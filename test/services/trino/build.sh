#!/usr/bin/env bash
# Lays out a Trino server from Maven Central artifacts under .tools/trino-<version>/:
#
#   lib/                    io.trino:trino-main and its runtime dependencies (the server classpath)
#   plugin/iceberg/         io.trino:trino-iceberg + runtime deps (the Iceberg connector)
#   plugin/hive/            io.trino:trino-hive + runtime deps (Athena's external JSON tables)
#   launcher/TrinoServer.class
#
# No server tarball is published on Maven Central, so the layout is made here:
# - each plugin directory leaves out the SPI jars the server provides (trino-spi, slice,
#   jackson-annotations, opentelemetry-api, opentelemetry-context): a plugin that bundles its own
#   copies is not recognised;
# - the published plugin jars lack META-INF/services/io.trino.spi.Plugin, so a one-file jar adds it;
# - TrinoServer.java is the launcher (new io.trino.server.Server().start(version)).
#
# Idempotent: skipped when the stamp (version + hash of this folder's build inputs) matches.
# Needs Maven and a JDK >= 25 ($TRINO_JAVA_HOME, else Temurin 25 where Debian-based CI has it).
set -euo pipefail

TRINO_VERSION=483
# Pinned so the copy does not depend on Maven's default plugin version.
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:2.8:copy-dependencies

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
OUT="${TOOLS_DIR:-$ROOT/.tools}/trino-$TRINO_VERSION"
JAVA_HOME="${TRINO_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"

[[ -x "$JAVA_HOME/bin/javac" ]] || { echo "trino build.sh: no JDK at $JAVA_HOME (Trino $TRINO_VERSION needs JDK 25; set TRINO_JAVA_HOME)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "trino build.sh: mvn not found (apt-get install maven)" >&2; exit 1; }

STAMP="trino $TRINO_VERSION $(cat "$HERE"/pom-*.xml "$HERE/TrinoServer.java" "$HERE/build.sh" | sha256sum | cut -c1-16)"
if [[ -f "$OUT/.stamp" && "$(cat "$OUT/.stamp")" == "$STAMP" ]]; then
  echo "trino: $TRINO_VERSION up to date ($OUT)"
  exit 0
fi

T0=$SECONDS
TMP="$OUT.tmp"
rm -rf "$TMP"
mkdir -p "$TMP/plugin" "$TMP/launcher"

copy_deps() { # pom, destination
  echo "trino: resolving $(basename "$1" .xml) from Maven Central into $2 ..."
  mvn -B -q -f "$1" -Dtrino.version="$TRINO_VERSION" "$DEP_PLUGIN" -DoutputDirectory="$2" -DincludeScope=runtime
}

copy_deps "$HERE/pom-main.xml" "$TMP/lib"

# Jars the server shares with its plugins through the SPI class loader.
SPI_JARS='^(trino-spi|slice|jackson-annotations|opentelemetry-api|opentelemetry-context)-[0-9]'
for plugin in iceberg hive; do
  dir="$TMP/plugin/$plugin"
  copy_deps "$HERE/pom-$plugin.xml" "$dir"
  for jar in "$dir"/*.jar; do
    if [[ "$(basename "$jar")" =~ $SPI_JARS ]]; then rm -f "$jar"; fi
  done
  class="io.trino.plugin.$plugin.$( [[ $plugin == iceberg ]] && echo IcebergPlugin || echo HivePlugin )"
  svc="$TMP/services-$plugin"
  mkdir -p "$svc/META-INF/services"
  echo "$class" > "$svc/META-INF/services/io.trino.spi.Plugin"
  "$JAVA_HOME/bin/jar" cf "$dir/zz-sfpipe-plugin-services.jar" -C "$svc" META-INF
  rm -rf "$svc"
done

"$JAVA_HOME/bin/javac" -d "$TMP/launcher" -cp "$TMP/lib/*" "$HERE/TrinoServer.java"

echo "$STAMP" > "$TMP/.stamp"
rm -rf "$OUT"
mv "$TMP" "$OUT"
echo "trino: $TRINO_VERSION laid out in $((SECONDS - T0))s: $(du -sh "$OUT" | cut -f1) in $OUT"
