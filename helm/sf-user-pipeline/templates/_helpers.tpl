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

{{/* Secret with the Salesforce credentials (k8s_secret source), "" when AWS SM is used. */}}
{{- define "sfpipe.salesforceSecretName" -}}
{{- if and (eq .Values.salesforce.mode "salesforce") (not .Values.salesforce.awsSecretsManager.secretName) }}
{{- default (printf "%s-salesforce" (include "sfpipe.fullname" .)) .Values.salesforce.existingSecret }}
{{- end }}
{{- end }}

{{/* CronJob name for a component (materialize, full-refresh, check). */}}
{{- define "sfpipe.cronjobName" -}}
{{- printf "%s-%s" (include "sfpipe.fullname" .root) .component }}
{{- end }}

{{/* Fails on contradictory values the schema cannot express. */}}
{{- define "sfpipe.validate" -}}
{{- if and .Values.salesforce.existingSecret .Values.salesforce.awsSecretsManager.secretName }}
{{- fail "salesforce.existingSecret and salesforce.awsSecretsManager.secretName are exclusive: set one" }}
{{- end }}
{{- if and (eq .Values.salesforce.mode "simulator") (or .Values.salesforce.existingSecret .Values.salesforce.awsSecretsManager.secretName) }}
{{- fail "salesforce.mode simulator uses no credentials: unset salesforce.existingSecret / salesforce.awsSecretsManager.secretName" }}
{{- end }}
{{- if and (eq .Values.salesforce.mode "salesforce") (not .Values.eventLog.s3Location) }}
{{- fail "salesforce.mode salesforce needs eventLog.s3Location (e.g. --set eventLog.s3Location=s3://my-bucket/sf-user-pipeline/event-log/): without it every pod keeps its event log in an emptyDir, `sfpipe check` never sees a materialization and alerts on every run" }}
{{- end }}
{{- if and .Values.serviceAccount.irsaRoleArn (not .Values.serviceAccount.create) }}
{{- fail "serviceAccount.irsaRoleArn needs serviceAccount.create=true (the chart annotates only the ServiceAccount it creates): annotate your own ServiceAccount with eks.amazonaws.com/role-arn and unset serviceAccount.irsaRoleArn" }}
{{- end }}
{{- if hasKey .Values.cronjobs.check "lockTimeoutSeconds" }}
{{- fail "cronjobs.check.lockTimeoutSeconds: check never takes the run lock; unset it" }}
{{- end }}
{{- range $key := list "materialize" "fullRefresh" }}
{{- $job := index $.Values.cronjobs $key }}
{{- if and (hasKey $job "lockTimeoutSeconds") (ge (int $job.lockTimeoutSeconds) (int $job.activeDeadlineSeconds)) }}
{{- fail (printf "cronjobs.%s.lockTimeoutSeconds (%d) must be less than cronjobs.%s.activeDeadlineSeconds (%d): the Job would be killed while waiting for the run lock" $key (int $job.lockTimeoutSeconds) $key (int $job.activeDeadlineSeconds)) }}
{{- end }}
{{- end }}
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
