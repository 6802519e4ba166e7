#!/usr/bin/env node
// Reads the chart's rendered manifests (`helm template …` or `helm get manifest RELEASE`) on
// stdin and prints one thing deploy/deploy.sh needs from them, so the deploy uses exactly what
// the chart renders for the environment instead of repeating the chart's naming or config:
//
//   chart-query.mjs pipeline-config      the ConfigMap's pipeline.yaml (the pods' SFPIPE_CONFIG)
//   chart-query.mjs materialize-env      the materialize container's plain env (value:, not
//                                        valueFrom:), as NAME=VALUE records ending in NUL
//   chart-query.mjs materialize-cronjob  the materialize CronJob's name
import { parseAllDocuments } from 'yaml';

const USAGE = 'usage: chart-query.mjs pipeline-config|materialize-env|materialize-cronjob < manifests.yaml';
const query = process.argv[2];
if (!['pipeline-config', 'materialize-env', 'materialize-cronjob'].includes(query ?? '')) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const docs = parseAllDocuments(input)
  .map((d) => d.toJS())
  .filter((d) => d && typeof d === 'object');

function fail(what) {
  process.stderr.write(`chart-query.mjs: the rendered chart has no ${what} (${docs.length} manifests read)\n`);
  process.exit(1);
}

const materialize = docs.find((d) => d.kind === 'CronJob' && d.metadata?.labels?.['app.kubernetes.io/component'] === 'materialize');

if (query === 'pipeline-config') {
  const configMap = docs.find((d) => d.kind === 'ConfigMap' && typeof d.data?.['pipeline.yaml'] === 'string');
  if (!configMap) fail('ConfigMap with pipeline.yaml');
  process.stdout.write(configMap.data['pipeline.yaml']);
} else if (query === 'materialize-cronjob') {
  if (!materialize) fail('materialize CronJob');
  process.stdout.write(`${materialize.metadata.name}\n`);
} else {
  const container = materialize?.spec?.jobTemplate?.spec?.template?.spec?.containers?.[0];
  if (!container) fail('materialize CronJob container');
  for (const e of container.env ?? []) {
    if (typeof e.value === 'string') process.stdout.write(`${e.name}=${e.value}\0`);
  }
}
