{{/* Chart name. */}}
{{- define "sfpipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Truncated to 39 characters: CronJob names may have at most
52 characters (the controller appends an 11-character suffix to Job names) and the
longest suffix we add is "-full-refresh" (13).
*/}}
{{- define "sfpipe.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 39 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 39 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 39 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sfpipe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels. Every label value is quoted: a release named 1234 must render the
string "1234", not a number (label values are strings).
*/}}
{{- define "sfpipe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sfpipe.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/* Standard labels. */}}
{{- define "sfpipe.labels" -}}
helm.sh/chart: {{ include "sfpipe.chart" . | quote }}
{{ include "sfpipe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: "sf-user-pipeline"
{{- end }}

{{/*
The pipeline label: every Job/Pod of this release carries it; the Lease run lock is
named after it and `sfpipe launch` selects the release's CronJobs/Jobs with it.
*/}}
{{- define "sfpipe.pipelineLabel" -}}
sf-user-pipeline.io/pipeline: {{ include "sfpipe.fullname" . | quote }}
{{- end }}

{{- define "sfpipe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sfpipe.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sfpipe.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Name of the Lease the run lock uses. */}}
{{- define "sfpipe.leaseName" -}}
{{- printf "%s-run-lock" (include "sfpipe.fullname" .) }}
{{- end }}

{{/* The sensor's evaluation lock: the Lease <prefix>-<sensor.name with _ as ->. */}}
{{- define "sfpipe.sensorLeasePrefix" -}}
{{- printf "%s-sensor" (include "sfpipe.fullname" .) }}
{{- end }}
{{- define "sfpipe.sensorLeaseName" -}}
{{- printf "%s-%s" (include "sfpipe.sensorLeasePrefix" .) (.Values.sensor.name | replace "_" "-") }}
{{- end }}
{{/* The push sensor's watcher holds the Lease <prefix>-<sensorWatch.name with _ as -> while it runs. */}}
{{- define "sfpipe.sensorWatchLeaseName" -}}
{{- printf "%s-%s" (include "sfpipe.sensorLeasePrefix" .) (.Values.sensorWatch.name | replace "_" "-") }}
{{- end }}

{{/*
Secret with the Salesforce credentials (k8s_secret source): salesforce.existingSecret in
salesforce mode, "" otherwise (AWS Secrets Manager, simulator). The chart creates no Secret
and sfpipe.validate fails in salesforce mode without a credentials source.
*/}}
{{- define "sfpipe.salesforceSecretName" -}}
{{- if and (eq .Values.salesforce.mode "salesforce") (not .Values.salesforce.awsSecretsManager.secretName) }}
{{- .Values.salesforce.existingSecret | default "" }}
{{- end }}
{{- end }}

{{/* The placeholder image repository of values.yaml: nobody publishes it. */}}
{{- define "sfpipe.placeholderImage" -}}
ghcr.io/sf-user-pipeline/sfpipe
{{- end }}

{{/* CronJob name for a component (materialize, full-refresh, check). */}}
{{- define "sfpipe.cronjobName" -}}
{{- printf "%s-%s" (include "sfpipe.fullname" .root) .component }}
{{- end }}

{{/*
Fails on missing or contradictory values the schema cannot express. Every problem found is
reported at once (one per line), each naming the value and what to set.
*/}}
{{- define "sfpipe.validate" -}}
{{- $errs := list }}
{{- $sf := eq .Values.salesforce.mode "salesforce" }}
{{- if and .Values.salesforce.existingSecret .Values.salesforce.awsSecretsManager.secretName }}
{{- $errs = append $errs "salesforce.existingSecret and salesforce.awsSecretsManager.secretName are exclusive: set one" }}
{{- end }}
{{- if and (eq .Values.salesforce.mode "simulator") (or .Values.salesforce.existingSecret .Values.salesforce.awsSecretsManager.secretName) }}
{{- $errs = append $errs "salesforce.mode simulator uses no credentials: unset salesforce.existingSecret / salesforce.awsSecretsManager.secretName" }}
{{- end }}
{{- if $sf }}
{{- if not (or .Values.salesforce.existingSecret .Values.salesforce.awsSecretsManager.secretName) }}
{{- $errs = append $errs (printf "salesforce.mode salesforce needs Salesforce credentials and the chart creates no Secret: set salesforce.existingSecret to the name of a Secret you created with the keys %s (e.g. --set salesforce.existingSecret=salesforce-credentials), or salesforce.awsSecretsManager.secretName to an AWS Secrets Manager secret holding them as JSON (read through IRSA)" (include "sfpipe.credentialKeys" .)) }}
{{- end }}
{{- if not .Values.eventLog.s3Location }}
{{- $errs = append $errs "salesforce.mode salesforce needs eventLog.s3Location (e.g. --set eventLog.s3Location=s3://my-bucket/sf-user-pipeline/event-log/): without it every pod keeps its event log in an emptyDir, so `sfpipe check` never sees a materialization: every asset stays UNKNOWN, which never alerts (check alerts only on state changes into WARN/FAIL and on recoveries), and stale data goes unnoticed" }}
{{- end }}
{{- if eq .Values.warehouse.engine "trino" }}
{{- if not .Values.trino.server }}
{{- $errs = append $errs "warehouse.engine trino needs trino.server, the http(s)://host:port of your Trino coordinator (e.g. --set trino.server=https://trino.data.svc.cluster.local:8443)" }}
{{- end }}
{{- if and (ne .Values.trino.auth "none") (not .Values.trino.existingSecret) }}
{{- $errs = append $errs (printf "trino.auth %s needs trino.existingSecret, a Secret you created with the %s under the key %s (e.g. kubectl create secret generic trino-credentials --from-file=%s=...): the chart creates no Secret" .Values.trino.auth .Values.trino.auth .Values.trino.secretKey .Values.trino.secretKey) }}
{{- end }}
{{- if and (eq .Values.trino.auth "password") (not (hasPrefix "https://" .Values.trino.server)) }}
{{- $errs = append $errs "trino.auth password needs an https:// trino.server: Trino refuses passwords over plain HTTP" }}
{{- end }}
{{- else }}
{{- if not .Values.athena.s3StagingDir }}
{{- $errs = append $errs "salesforce.mode salesforce needs athena.s3StagingDir, an s3:// prefix you own for Athena query results (e.g. --set athena.s3StagingDir=s3://my-athena-results/sf-user-pipeline/): the chart has no default" }}
{{- end }}
{{- if not .Values.athena.s3DataDir }}
{{- $errs = append $errs "salesforce.mode salesforce needs athena.s3DataDir, the s3:// prefix you own that the raw and dbt tables live under (e.g. --set athena.s3DataDir=s3://my-lake/sf-user-pipeline/): the chart has no default" }}
{{- end }}
{{- end }}
{{- if eq .Values.image.repository (include "sfpipe.placeholderImage" .) }}
{{- $errs = append $errs (printf "salesforce.mode salesforce needs image.repository (and image.tag) set to your image: %s is a placeholder nobody publishes. Build the image from the repository's Dockerfile, push it to your registry and set them (e.g. --set image.repository=123456789012.dkr.ecr.eu-west-1.amazonaws.com/sfpipe --set image.tag=0.1.0)" (include "sfpipe.placeholderImage" .)) }}
{{- end }}
{{- end }}
{{- if hasKey .Values.athena "schema" }}
{{- $errs = append $errs "athena.schema was removed: it never chose where dbt builds (each model has its own schema: sf_staging, sf_curated). Unset it; the raw tables' database is athena.rawDatabase" }}
{{- end }}
{{- if and .Values.serviceAccount.irsaRoleArn (not .Values.serviceAccount.create) }}
{{- $errs = append $errs "serviceAccount.irsaRoleArn needs serviceAccount.create=true (the chart annotates only the ServiceAccount it creates): annotate your own ServiceAccount with eks.amazonaws.com/role-arn and unset serviceAccount.irsaRoleArn" }}
{{- end }}
{{- if and .Values.cronjobs.docs.enabled (not .Values.docs.s3Location) }}
{{- $errs = append $errs "cronjobs.docs.enabled needs docs.s3Location, the s3:// prefix the dbt docs are published under (e.g. --set docs.s3Location=s3://my-docs/sf-user-pipeline/)" }}
{{- end }}
{{- with .Values.alerts.email }}
{{- if and .host (or (not .from) (not .to)) }}
{{- $errs = append $errs "alerts.email.host needs alerts.email.from and alerts.email.to (e.g. --set alerts.email.from=sfpipe@example.com --set 'alerts.email.to={data-oncall@example.com}')" }}
{{- end }}
{{- end }}
{{- if hasKey .Values.cronjobs.check "lockTimeoutSeconds" }}
{{- $errs = append $errs "cronjobs.check.lockTimeoutSeconds: check never takes the run lock; unset it" }}
{{- end }}
{{- range $key := list "materialize" "fullRefresh" }}
{{- $job := index $.Values.cronjobs $key }}
{{- if and (hasKey $job "lockTimeoutSeconds") (ge (int $job.lockTimeoutSeconds) (int $job.activeDeadlineSeconds)) }}
{{- $errs = append $errs (printf "cronjobs.%s.lockTimeoutSeconds (%d) must be less than cronjobs.%s.activeDeadlineSeconds (%d): the Job would be killed while waiting for the run lock" $key (int $job.lockTimeoutSeconds) $key (int $job.activeDeadlineSeconds)) }}
{{- end }}
{{- end }}
{{- if and .Values.sensorWatch.enabled (not .Values.cronjobs.materialize.enabled) }}
{{- $errs = append $errs "sensorWatch.enabled needs cronjobs.materialize.enabled: the watcher's runs are Jobs made from the materialize CronJob" }}
{{- end }}
{{- if and .Values.sensorWatch.enabled (eq .Values.salesforce.mode "simulator") }}
{{- $errs = append $errs "sensorWatch.enabled needs salesforce.mode salesforce: push mode subscribes to a Salesforce org that keeps running, and the simulator lives only as long as one run" }}
{{- end }}
{{- if and .Values.sensor.enabled (not .Values.cronjobs.materialize.enabled) }}
{{- $errs = append $errs "sensor.enabled needs cronjobs.materialize.enabled: the sensor's runs are Jobs made from the materialize CronJob" }}
{{- end }}
{{- if eq (len $errs) 1 }}
{{- fail (first $errs) }}
{{- else if $errs }}
{{- fail (printf "%d problems with the values:\n  - %s" (len $errs) (join "\n  - " $errs)) }}
{{- end }}
{{- end }}

{{/*
The credential keys the configured salesforce.authMethod needs (assets/salesforce/credentials.ts
REQUIRED_CREDENTIALS, key names as in FIELDS), as a comma-separated string.
*/}}
{{- define "sfpipe.credentialKeys" -}}
{{- $keys := dict "client_credentials" "client_id, client_secret" "jwt" "client_id, username, private_key" "password" "client_id, username, password (+ security_token)" "refresh_token" "client_id, refresh_token" }}
{{- index $keys .Values.salesforce.authMethod }}
{{- end }}

{{/*
Container args of a CronJob: its args, plus `--lock-timeout <lockTimeoutSeconds>` when set
(and not already in the args), so a scheduled run waits for the Lease run lock instead of
failing while another run holds it. Renders a YAML list.
*/}}
{{- define "sfpipe.jobArgs" -}}
{{- $args := .job.args }}
{{- $given := false }}
{{- range $args }}{{ if or (eq . "--lock-timeout") (hasPrefix "--lock-timeout=" .) }}{{ $given = true }}{{ end }}{{ end }}
{{- if and (hasKey .job "lockTimeoutSeconds") (not $given) }}
{{- $args = concat $args (list "--lock-timeout" (toString (int .job.lockTimeoutSeconds))) }}
{{- end }}
{{- toYaml $args }}
{{- end }}

{{/*
The Athena settings every pod that reads the warehouse gets (salesforce mode, engine athena): the
SFPIPE_ATHENA_* env the config and dbt/profiles.yml read. Renders nothing otherwise.
*/}}
{{- define "sfpipe.athenaEnv" -}}
{{- if and (eq .Values.salesforce.mode "salesforce") (eq .Values.warehouse.engine "athena") }}
- name: SFPIPE_ATHENA_REGION
  value: {{ .Values.athena.region | quote }}
- name: SFPIPE_ATHENA_S3_STAGING_DIR
  value: {{ .Values.athena.s3StagingDir | quote }}
- name: SFPIPE_ATHENA_S3_DATA_DIR
  value: {{ .Values.athena.s3DataDir | quote }}
- name: SFPIPE_ATHENA_WORK_GROUP
  value: {{ .Values.athena.workGroup | quote }}
- name: SFPIPE_ATHENA_CATALOG
  value: {{ .Values.athena.catalog | quote }}
- name: AWS_REGION
  value: {{ .Values.salesforce.awsSecretsManager.region | default .Values.athena.region | quote }}
{{- end }}
{{- end }}

{{/*
The environment of every pod: SFPIPE_ENV (the stage: dbt's target and schema suffix, the
protected locations), and in dev SFPIPE_DEVELOPER, the release's name (the default suffix
_<release>, so two dev releases never share schemas).
*/}}
{{- define "sfpipe.environmentEnv" -}}
- name: SFPIPE_ENV
  value: {{ .Values.environment.name | quote }}
{{- if eq .Values.environment.name "dev" }}
- name: SFPIPE_DEVELOPER
  value: {{ .Release.Name | quote }}
{{- end }}
{{- end }}

{{/* The pod and container securityContext of every pod: the "restricted" Pod Security Standard. */}}
{{- define "sfpipe.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "sfpipe.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}
