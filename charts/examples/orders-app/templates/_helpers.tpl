{{- define "orders-app.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "orders-app.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "orders-app.schemaVersionName" -}}
{{- default (include "orders-app.fullname" .) .Values.schema.name }}
{{- end }}

{{- define "orders-app.secretName" -}}
{{- default (printf "%s-db" (include "orders-app.fullname" .)) .Values.database.existingSecret }}
{{- end }}

{{/*
Migration files, `<version>_<description>.up.sql` with an optional
`.down.sql` beside it (the layout `schemaop migrate DIR` reads). One line per
migration: "<sortable key> <version> <path>", sorted by version numerically.
*/}}
{{- define "orders-app.migrations" -}}
{{- $lines := list }}
{{- range $path, $_ := .Files.Glob "migrations/*.up.sql" }}
{{- $base := base $path }}
{{- $version := regexReplaceAll "^([0-9]+(\\.[0-9]+)*)_.*$" $base "${1}" }}
{{- if eq $version $base }}
{{- fail (printf "migrations/%s: name it <version>_<description>.up.sql" $base) }}
{{- end }}
{{- $key := list }}
{{- range splitList "." $version }}
{{- $key = append $key (printf "%012d" (int64 .)) }}
{{- end }}
{{- $lines = append $lines (printf "%s %s %s" (join "." $key) $version $path) }}
{{- end }}
{{- join "\n" (sortAlpha $lines) }}
{{- end }}

{{- define "orders-app.targetVersion" -}}
{{- if .Values.schema.targetVersion }}
{{- .Values.schema.targetVersion }}
{{- else }}
{{- $lines := include "orders-app.migrations" . | splitList "\n" | compact }}
{{- if not $lines }}
{{- fail "no migrations in migrations/ and no schema.targetVersion" }}
{{- end }}
{{- index (splitList " " (last $lines)) 1 }}
{{- end }}
{{- end }}
