{{/* The chart's name, or nameOverride. */}}
{{- define "portcullis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: the release name, with the chart name unless it already holds it. */}}
{{- define "portcullis.fullname" -}}
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

{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "portcullis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "portcullis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "portcullis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portcullis.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "portcullis.tlsSecret" -}}
{{- default (printf "%s-tls" (include "portcullis.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/* The Kubernetes version rendered for: kubeVersionOverride, else the cluster's. */}}
{{- define "portcullis.kubeVersion" -}}
{{- default .Capabilities.KubeVersion.Version .Values.kubeVersionOverride }}
{{- end }}

{{- define "portcullis.pdb.apiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "policy/v1") (semverCompare ">=1.21-0" (include "portcullis.kubeVersion" .)) }}
{{- print "policy/v1" }}
{{- else }}
{{- print "policy/v1beta1" }}
{{- end }}
{{- end }}

{{- define "portcullis.hpa.apiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "autoscaling/v2") (semverCompare ">=1.23-0" (include "portcullis.kubeVersion" .)) }}
{{- print "autoscaling/v2" }}
{{- else }}
{{- print "autoscaling/v2beta2" }}
{{- end }}
{{- end }}

{{/* The namespaces every webhook leaves out: kube-system and the engine's own. */}}
{{- define "portcullis.namespaceSelector" -}}
{{- $selector := deepCopy (default dict .Values.webhook.namespaceSelector) }}
{{- $exprs := default list (get $selector "matchExpressions") }}
{{- $exprs = append $exprs (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" (list "kube-system" .Release.Namespace)) }}
{{- $_ := set $selector "matchExpressions" $exprs }}
{{- toYaml $selector }}
{{- end }}

{{/* One webhook entry; call with (dict "root" $ "kind" "validate"|"mutate"). */}}
{{- define "portcullis.webhook" -}}
{{- $root := .root -}}
- name: {{ .kind }}.portcullis.dev
  admissionReviewVersions: [v1, v1beta1]
  sideEffects: None
  failurePolicy: {{ $root.Values.webhook.failurePolicy }}
  timeoutSeconds: {{ $root.Values.webhook.timeoutSeconds }}
  matchPolicy: {{ $root.Values.webhook.matchPolicy }}
  {{- if eq .kind "mutate" }}
  reinvocationPolicy: IfNeeded
  {{- end }}
  clientConfig:
    service:
      name: {{ include "portcullis.fullname" $root }}
      namespace: {{ $root.Release.Namespace }}
      path: /{{ .kind }}
      port: {{ $root.Values.service.port }}
    {{- if and (eq $root.Values.tls.mode "secret") $root.Values.tls.caBundle }}
    caBundle: {{ $root.Values.tls.caBundle }}
    {{- end }}
  namespaceSelector:
    {{- include "portcullis.namespaceSelector" $root | nindent 4 }}
  {{- with $root.Values.webhook.objectSelector }}
  objectSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  rules:
    {{- toYaml $root.Values.webhook.rules | nindent 4 }}
{{- end }}
