{{/* Names, labels and the few decisions several templates share. */}}

{{- define "schemaop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "schemaop.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "schemaop.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "schemaop.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "schemaop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "schemaop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "schemaop.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "schemaop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: schemaop
{{- end }}

{{- define "schemaop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "schemaop.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "schemaop.jobServiceAccountName" -}}
{{- default (printf "%s-job" (include "schemaop.fullname" .)) .Values.jobs.serviceAccount.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Namespaces the Job ServiceAccount is created in, one per line (may be empty). */}}
{{- define "schemaop.jobNamespaces" -}}
{{- if .Values.jobs.serviceAccount.create }}
{{- $list := .Values.jobs.serviceAccount.namespaces | default .Values.watchNamespaces }}
{{- range $list | uniq }}
{{ . }}
{{- end }}
{{- end }}
{{- end }}

{{- define "schemaop.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "schemaop.clusterWide" -}}
{{- if not .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{- define "schemaop.peering" -}}
{{- if or .Values.peering.enabled (gt (int .Values.replicas) 1) }}true{{ end }}
{{- end }}

{{- define "schemaop.peeringName" -}}
{{- default (include "schemaop.fullname" .) .Values.peering.name }}
{{- end }}

{{/* The operator's rules on namespaced resources, shared by the ClusterRole and the Roles. */}}
{{- define "schemaop.operatorRules" -}}
- apiGroups: [schemaop.io]
  resources: [schemaversions, schemamigrations]
  verbs: [get, list, watch, patch]
- apiGroups: [schemaop.io]
  resources: [schemaversions/status, schemamigrations/status]
  verbs: [get, update, patch]
- apiGroups: [schemaop.io]
  resources: [schemamigrationruns]
  verbs: [list, watch, create, delete]
- apiGroups: [batch]
  resources: [jobs]
  # delete: spec.paused stops the Job of a batched data migration (its own Jobs only).
  verbs: [list, watch, create, delete]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create]
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/* Database connection Secrets: read only, and only where the operator watches.
With secrets.selector, `get` only: the operator reads the Secrets SchemaVersions
name, one by one, and never lists or watches Secrets (RBAC cannot filter by label). */}}
{{- define "schemaop.secretRules" -}}
- apiGroups: [""]
  resources: [secrets]
  {{- if .Values.secrets.selector }}
  verbs: [get]
  {{- else }}
  verbs: [get, list, watch]
  {{- end }}
{{- end }}

{{/* The console (console.enabled): its objects' name and its ServiceAccount's. */}}
{{- define "schemaop.consoleName" -}}
{{- printf "%s-console" (include "schemaop.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "schemaop.consoleServiceAccountName" -}}
{{- if .Values.console.serviceAccount.create }}
{{- default (include "schemaop.consoleName" .) .Values.console.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.console.serviceAccount.name }}
{{- end }}
{{- end }}
