{{/*
Chart name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "fw-flight-sql.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: <release>-<chart>, or the release name alone when it
already contains the chart name.
*/}}
{{- define "fw-flight-sql.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart label value: name-version.
*/}}
{{- define "fw-flight-sql.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the pods. Never change them: a Deployment's selector is immutable.
*/}}
{{- define "fw-flight-sql.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fw-flight-sql.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "fw-flight-sql.labels" -}}
helm.sh/chart: {{ include "fw-flight-sql.chart" . }}
{{ include "fw-flight-sql.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: fw-flight-sql
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "fw-flight-sql.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fw-flight-sql.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is set, repository:tag otherwise.
*/}}
{{- define "fw-flight-sql.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Where secrets and config land in the container. The config path is the image's default.
*/}}
{{- define "fw-flight-sql.configDir" -}}/etc/fw-flight-sql{{- end }}
{{- define "fw-flight-sql.tlsDir" -}}/var/run/secrets/fw-flight-sql/tls{{- end }}
{{- define "fw-flight-sql.clientCADir" -}}/var/run/secrets/fw-flight-sql/client-ca{{- end }}
{{- define "fw-flight-sql.gcpDir" -}}/var/run/secrets/fw-flight-sql/gcp{{- end }}

{{/*
Secret holding the client CA bundle (defaults to the server certificate's Secret).
*/}}
{{- define "fw-flight-sql.clientCASecret" -}}
{{- default .Values.tls.existingSecret .Values.tls.clientCA.existingSecret }}
{{- end }}

{{/*
The headless Service that gives each StatefulSet pod a DNS name.
*/}}
{{- define "fw-flight-sql.headlessName" -}}
{{- printf "%s-headless" (include "fw-flight-sql.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/*
Each StatefulSet pod's Flight address, as clients dial it: what the pods advertise.
*/}}
{{- define "fw-flight-sql.podLocations" -}}
{{- $scheme := ternary "grpc+tls" "grpc" .Values.tls.enabled }}
{{- $domain := printf "%s.%s.svc.%s" (include "fw-flight-sql.headlessName" .) .Release.Namespace .Values.statefulSet.clusterDomain }}
{{- $locations := list }}
{{- range $index := until (int .Values.replicaCount) }}
{{- $locations = append $locations (printf "%s://%s-%d.%s:%d" $scheme (include "fw-flight-sql.fullname" $) $index $domain (int $.Values.containerPorts.flight)) }}
{{- end }}
{{- toJson $locations }}
{{- end }}

{{/*
Whether more than one replica may run at once.
*/}}
{{- define "fw-flight-sql.multiReplica" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{- end }}
{{- end }}

{{/*
Whether the server will authenticate callers (or was told to serve anonymous ones on the
pod's public address): otherwise it refuses to start. extraEnvFrom sources may carry
FW_FLIGHT_SQL_AUTH__* variables the chart cannot see, so they count.
*/}}
{{- define "fw-flight-sql.authConfigured" -}}
{{- $names := list }}
{{- range .Values.extraEnv }}{{ $names = append $names .name }}{{ end }}
{{- $envAuth := list "FW_FLIGHT_SQL_AUTH__TOKENS" "FW_FLIGHT_SQL_AUTH__USERS" "FW_FLIGHT_SQL_AUTH__FLYWHEEL_SITE" "FW_FLIGHT_SQL_FLYWHEEL__API_KEY" "FW_FLIGHT_SQL_AUTH__ALLOW_PUBLIC_ANONYMOUS" }}
{{- $fromEnv := false }}
{{- range $envAuth }}{{ if has . $names }}{{ $fromEnv = true }}{{ end }}{{ end }}
{{- if or .Values.flywheel.apiKeySecret.name (dig "config" "auth" "users" dict .Values.AsMap) (dig "config" "auth" "flywheel_site" "" .Values.AsMap) (dig "config" "auth" "allow_public_anonymous" false .Values.AsMap) .Values.extraEnvFrom $fromEnv }}true{{- end }}
{{- end }}

{{/*
Fail early on value combinations that render valid YAML but a broken deployment.
*/}}
{{- define "fw-flight-sql.validate" -}}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) }}
{{- fail "tls.enabled needs tls.existingSecret: a kubernetes.io/tls Secret with tls.crt and tls.key" }}
{{- end }}
{{- if and .Values.tls.clientCA.enabled (not .Values.tls.enabled) }}
{{- fail "tls.clientCA.enabled (mutual TLS) needs tls.enabled" }}
{{- end }}
{{- if and (include "fw-flight-sql.multiReplica" .) (not .Values.auth.tokenSecret.name) }}
{{- fail "more than one replica needs auth.tokenSecret.name: every replica must verify the tickets the others sign" }}
{{- end }}
{{- if and .Values.statefulSet.enabled .Values.autoscaling.enabled }}
{{- fail "statefulSet.enabled needs autoscaling.enabled false: the pods advertise the addresses of replicaCount pods, which an autoscaler would change" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not (get .Values.autoscaling "targetCPUUtilizationPercentage")) (not (get .Values.autoscaling "targetMemoryUtilizationPercentage")) }}
{{- fail "autoscaling.enabled needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" }}
{{- end }}
{{- if not (dig "resources" "limits" "memory" "" .Values.AsMap) }}
{{- fail "resources.limits.memory is required: the server receives each gRPC message whole, of any size, before it can refuse it, and sets its memory ceiling (limits.max_memory_bytes) from this limit" }}
{{- end }}
{{- $publicAnonymous := dig "config" "auth" "allow_public_anonymous" false .Values.AsMap }}
{{- if and (eq (toString (dig "config" "auth" "anonymous" "" .Values.AsMap)) "true") (not $publicAnonymous) }}
{{- fail "config.auth.anonymous needs config.auth.allow_public_anonymous: true: the pod listens on 0.0.0.0, where the server serves anonymous callers only when told so explicitly" }}
{{- end }}
{{- if not (include "fw-flight-sql.authConfigured" .) }}
{{- fail "authentication is required: the pod listens on 0.0.0.0 and the server refuses to start without it. Set flywheel.apiKeySecret.name (Flywheel key logins), or config.auth.users (password hashes from `fw-flight-sql hash-password`), or static tokens with extraEnv (FW_FLIGHT_SQL_AUTH__TOKENS from a Secret), or, deliberately, config.auth.allow_public_anonymous: true (docs/security.md)" }}
{{- end }}
{{- end }}

{{/*
The server's config file: .Values.config plus what the chart owns (listen address, ports,
TLS file paths). Keys follow the server's snake_case config model.
*/}}
{{- define "fw-flight-sql.serverConfig" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "host" "0.0.0.0" }}
{{- $_ := set $cfg "port" (int .Values.containerPorts.flight) }}
{{- $_ := set $cfg "ops_port" (int .Values.containerPorts.ops) }}
{{- if and .Values.statefulSet.enabled (not (hasKey $cfg "advertised_locations")) }}
{{- $_ := set $cfg "advertised_locations" (include "fw-flight-sql.podLocations" . | fromJsonArray) }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" (include "fw-flight-sql.tlsDir" .)) "key_file" (printf "%s/tls.key" (include "fw-flight-sql.tlsDir" .)) }}
{{- if .Values.tls.clientCA.enabled }}
{{- $_ := set $tls "client_ca_file" (printf "%s/%s" (include "fw-flight-sql.clientCADir" .) .Values.tls.clientCA.key) }}
{{- end }}
{{- $_ := set $cfg "tls" (merge $tls (get $cfg "tls" | default dict)) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
