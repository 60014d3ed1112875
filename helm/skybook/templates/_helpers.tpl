{{/* Labels every object carries. */}}
{{- define "skybook.labels" -}}
app.kubernetes.io/part-of: skybook
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The Secret the functions read. */}}
{{- define "skybook.secretName" -}}
{{- if .Values.existingSecret -}}{{ .Values.existingSecret }}{{- else -}}skybook-secrets{{- end -}}
{{- end -}}

{{/* The pod security every container runs with. */}}
{{- define "skybook.securityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
