{{/* Names. Every object is <release>-<part>, labelled the Kubernetes way. */}}
{{- define "onestop.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "onestop.labels" -}}
app.kubernetes.io/part-of: onestop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one service: (dict "root" $ "name" "intake") */}}
{{- define "onestop.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* The name label of one service (beside onestop.labels, which has the instance). */}}
{{- define "onestop.name" -}}
app.kubernetes.io/name: {{ .name }}
{{- end -}}

{{- define "onestop.serviceHost" -}}
{{ include "onestop.fullname" .root }}-{{ .name }}
{{- end -}}

{{- define "onestop.serviceUrl" -}}
{{- $svc := index .root.Values.services .name -}}
http://{{ include "onestop.fullname" .root }}-{{ .name }}:{{ $svc.port }}
{{- end -}}

{{- define "onestop.secretName" -}}
{{- $names := .root.Values.secrets.names | default dict -}}
{{- index $names .name | default (printf "%s-%s-secrets" (include "onestop.fullname" .root) .name) -}}
{{- end -}}

{{- define "onestop.signingKeySecret" -}}
{{- $names := .Values.secrets.names | default dict -}}
{{- index $names "routingSigningKey" | default (printf "%s-routing-signing-key" (include "onestop.fullname" .)) -}}
{{- end -}}

{{- define "onestop.documentSigningSecret" -}}
{{- $names := .Values.secrets.names | default dict -}}
{{- index $names "documentSigning" | default (printf "%s-document-signing" (include "onestop.fullname" .)) -}}
{{- end -}}

{{/* The services that issue signed documents, and whether their Secret has chain.pem
     ("true" or empty; with secrets.create, when secrets.documentSigning.chain is given). */}}
{{- define "onestop.signsDocuments" -}}
{{- if has . (list "intake" "routing" "sla") }}true{{ end -}}
{{- end -}}

{{- define "onestop.documentChain" -}}
{{- if and .Values.documents.chain (or (not .Values.secrets.create) .Values.secrets.documentSigning.chain) }}true{{ end -}}
{{- end -}}

{{/* Kafka: the bootstrap servers, the CA secret, the user of one service. */}}
{{- define "onestop.kafkaBootstrap" -}}
{{- if .Values.kafka.bootstrapServers -}}
{{ .Values.kafka.bootstrapServers }}
{{- else -}}
{{ .Values.kafka.strimzi.name }}-kafka-bootstrap:{{ .Values.kafka.port }}
{{- end -}}
{{- end -}}

{{- define "onestop.kafkaCaSecret" -}}
{{- .Values.kafka.caSecret | default (printf "%s-cluster-ca-cert" .Values.kafka.strimzi.name) -}}
{{- end -}}

{{- define "onestop.kafkaUser" -}}
{{ include "onestop.fullname" .root }}-{{ .name }}
{{- end -}}

{{- define "onestop.pgUrlSecret" -}}
{{- .Values.postgres.urlSecret.name | default (printf "%s-app" .Values.postgres.cnpg.name) -}}
{{- end -}}

{{- define "onestop.pgCaSecret" -}}
{{- .Values.postgres.caSecret | default (printf "%s-ca" .Values.postgres.cnpg.name) -}}
{{- end -}}

{{/* Peers for NetworkPolicies: a namespace/pod selector pair from values. */}}
{{- define "onestop.peer" -}}
{{- if .namespaceSelector }}
- namespaceSelector: {{ toJson .namespaceSelector }}
  {{- if .podSelector }}
  podSelector: {{ toJson .podSelector }}
  {{- end }}
{{- else }}
- podSelector: {{ toJson (.podSelector | default dict) }}
{{- end }}
{{- end -}}

{{/* A settings key that must never sit in a ConfigMap with a value (empty turns a
     feature off, e.g. VIETTEL_RECEIPT_TOKEN: ""): (list KEY VALUE). */}}
{{- define "onestop.checkNotSecret" -}}
{{- $key := index . 0 -}}
{{- if and (index . 1) (regexMatch "(PASSWORD|SECRET|_TOKEN$|API_KEY|DATABASE_URL|SIGNING_KEY$|USERNAME)" $key) -}}
{{- fail (printf "%s is a secret: put it in secrets.<service>, not in config" $key) -}}
{{- end -}}
{{- end -}}

{{/* The settings every service shares (environment variables of ServiceSettings). */}}
{{- define "onestop.commonConfig" -}}
{{- $root := .root -}}
{{- $svc := index $root.Values.services .name -}}
ENVIRONMENT: {{ $root.Values.environment | quote }}
SERVICE_NAME: {{ .name | quote }}
HOST: "0.0.0.0"
PORT: {{ $svc.port | quote }}
LOG_LEVEL: {{ $root.Values.logLevel | quote }}
REFERENCE_PROFILE: {{ $root.Values.referenceProfile | quote }}
KAFKA_BOOTSTRAP_SERVERS: {{ include "onestop.kafkaBootstrap" $root | quote }}
KAFKA_SECURITY_PROTOCOL: {{ $root.Values.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL" $root.Values.kafka.securityProtocol }}
KAFKA_SASL_MECHANISM: {{ $root.Values.kafka.saslMechanism | quote }}
KAFKA_SASL_USERNAME: {{ include "onestop.kafkaUser" . | quote }}
{{- end }}
{{- if hasSuffix "SSL" $root.Values.kafka.securityProtocol }}
KAFKA_SSL_CAFILE: /etc/onestop/kafka-ca/ca.crt
{{- end }}
DATABASE_SSLMODE: {{ $root.Values.postgres.sslmode | quote }}
DATABASE_SSLROOTCERT: /etc/onestop/pg-ca/ca.crt
DB_POOL_MIN: {{ $root.Values.postgres.poolMin | quote }}
DB_POOL_MAX: {{ $root.Values.postgres.poolMax | quote }}
TRUSTED_SERVICE_TOKENS: {{ $root.Values.trustedServiceTokens | quote }}
OIDC_ISSUER: {{ $root.Values.oidc.issuer | quote }}
OIDC_AUDIENCE: {{ $root.Values.oidc.audience | quote }}
OIDC_JWKS_URL: {{ $root.Values.oidc.jwksUrl | default (printf "%s/.well-known/jwks.json" (include "onestop.serviceUrl" (dict "root" $root "name" "routing"))) | quote }}
OIDC_ALGORITHMS: {{ $root.Values.oidc.algorithms | quote }}
OTEL_EXPORTER: {{ $root.Values.tracing.exporter | quote }}
{{- if $root.Values.tracing.endpoint }}
OTEL_ENDPOINT: {{ $root.Values.tracing.endpoint | quote }}
{{- end }}
OTEL_SAMPLE_RATIO: {{ $root.Values.tracing.sampleRatio | quote }}
{{- end -}}
