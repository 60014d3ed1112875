{{/* Labels every object carries. */}}
{{- define "skybook.labels" -}}
app.kubernetes.io/part-of: skybook
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The tag of every image: image.tag, else the chart's appVersion; never one that moves. */}}
{{- define "skybook.tag" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString -}}
{{- if eq $tag "latest" -}}
{{- fail "skybook: image.tag \"latest\" moves under a running release: deploy a version or a commit SHA (or set digests in functions.<name>.image)" -}}
{{- end -}}
{{- $tag -}}
{{- end -}}

{{/* The ServiceAccount every pod runs as. */}}
{{- define "skybook.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default "skybook" -}}
{{- end -}}

{{/* The Secret the functions read. */}}
{{- define "skybook.secretName" -}}
{{- if .Values.existingSecret -}}{{ .Values.existingSecret }}{{- else -}}skybook-secrets{{- end -}}
{{- end -}}

{{/* The RabbitmqCluster behind the Broker. */}}
{{- define "skybook.rabbitmqCluster" -}}
{{- if .Values.broker.rabbitmqCluster.name -}}{{ .Values.broker.rabbitmqCluster.name }}
{{- else if .Values.rabbitmq.create -}}skybook-rabbitmq
{{- else -}}{{ fail "skybook: rabbitmq.create is off: set broker.rabbitmqCluster.name to the RabbitmqCluster the Broker uses" }}
{{- end -}}
{{- end -}}

{{/* Refuses to render what would not work, or would be open to anyone. */}}
{{- define "skybook.validate" -}}
{{- $functions := include "skybook.functions" . | fromYamlArray -}}
{{- $names := list -}}
{{- range $functions -}}{{- $names = append $names .name -}}{{- end -}}
{{- range $name, $_ := .Values.functions -}}
{{- if not (has $name $names) -}}
{{- fail (printf "skybook: functions.%s: there is no such function (they are %s)" $name (join ", " $names)) -}}
{{- end -}}
{{- end -}}
{{- $sinks := list -}}
{{- range include "skybook.pingSources" . | fromYamlArray -}}{{- $sinks = append $sinks .sink -}}{{- end -}}
{{- range $functions -}}
{{- if ne .ticked (has .name $sinks) -}}
{{- fail (printf "skybook: %s: its spec %s the PingSource's type, but skybook.pingSources %s it" .name (ternary "accepts" "does not accept" .ticked) (ternary "does not tick" "ticks" .ticked)) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.oidc.enabled (eq .Values.broker.class "RabbitMQBroker") -}}
{{- fail "skybook: oidc.enabled with broker.class RabbitMQBroker: eventing-rabbitmq sends no sender tokens, so every delivery (the dead-letter sink's too) would be refused. The consumers check event signatures on every class; turn sender identity on with broker.class Kafka or MTChannelBasedBroker" -}}
{{- end -}}
{{- if not .Values.existingSecret -}}
{{- range $key, $value := .Values.secret -}}
{{- if contains "change-me" (toString $value) -}}
{{- fail (printf "skybook: secret.%s holds an example value: set a real one, or use existingSecret" $key) -}}
{{- end -}}
{{- end -}}
{{- if and (not .Values.auth.disabled) (not .Values.secret.AUTH_API_KEYS) (not .Values.auth.issuer) (not .Values.existingSecret) -}}
{{- fail "skybook: the functions need identities: set auth.issuer (end users' OIDC issuer) and/or set secret.AUTH_API_KEYS (role:secret, comma-separated) or existingSecret, or auth.disabled=true to serve without authentication" -}}
{{- end -}}
{{- range splitList "," (toString .Values.secret.AUTH_API_KEYS) -}}
{{- if and (trim .) (not (regexMatch "^(passenger|agent|admin|operator):[^,]{16,}$" (trim .))) -}}
{{- fail "skybook: secret.AUTH_API_KEYS: each entry is role:secret, the role passenger, agent, admin or operator, the secret 16 characters or more" -}}
{{- end -}}
{{- end -}}
{{- range splitList "," (toString .Values.secret.EVENT_SIGNING_KEYS) -}}
{{- if and (trim .) (lt (len (trim .)) 32) -}}
{{- fail "skybook: secret.EVENT_SIGNING_KEYS: each key is 32 characters or more (openssl rand -hex 32)" -}}
{{- end -}}
{{- end -}}
{{- if and (not .Values.postgresql.create) (not .Values.secret.DATABASE_URL) -}}
{{- fail "skybook: postgresql.create is off: set secret.DATABASE_URL (through your pooler) or existingSecret" -}}
{{- end -}}
{{- if and (not .Values.redis.create) (not .Values.secret.REDIS_URL) -}}
{{- fail "skybook: redis.create is off: set secret.REDIS_URL or existingSecret" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Settings every function and the migration Job read: the ConfigMap, the
     Secret, and the URLs of the data services this chart creates, built from
     the passwords their operators generate (env wins over envFrom). Called
     with (dict "root" $ "migrate" bool): only the Job gets PostgreSQL's own URL. */}}
{{- define "skybook.env" -}}
{{- $v := .root.Values -}}
envFrom:
  - configMapRef:
      name: skybook-config
  - secretRef:
      name: {{ include "skybook.secretName" .root }}
{{- if or $v.postgresql.create (and $v.redis.create (not .migrate)) }}
env:
  {{- if $v.postgresql.create }}
  {{- if .migrate }}
  - name: MIGRATION_DATABASE_URL
    valueFrom:
      secretKeyRef:
        name: skybook-db-app
        key: uri
  {{- else }}
  - name: DB_PASSWORD
    valueFrom:
      secretKeyRef:
        name: skybook-db-app
        key: password
  - name: DATABASE_URL
    value: postgres://skybook:$(DB_PASSWORD)@skybook-db-pooler:5432/skybook
  {{- end }}
  {{- end }}
  {{- if and $v.redis.create (not .migrate) }}
  - name: REDIS_PASSWORD
    valueFrom:
      secretKeyRef:
        name: skybook-redis
        key: password
  - name: REDIS_URL
    value: redis://:$(REDIS_PASSWORD)@skybook-redis:6379
  {{- end }}
{{- end }}
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

{{/* Where the functions send traces and metrics: the endpoint given, else
     the collector this chart runs, else nowhere (empty). */}}
{{- define "skybook.otlpEndpoint" -}}
{{- $o := .Values.observability -}}
{{- if $o.otlp.endpoint -}}{{ $o.otlp.endpoint }}
{{- else if $o.collector.enabled -}}http://skybook-otel-collector.{{ .Release.Namespace }}.svc:4318
{{- end -}}
{{- end -}}

{{/* The functions, from their specs in the code (files/functions.json,
     written by `cargo xtask manifests`): a list of {name, slice, visibility,
     emitsEvents, database, ticked}, each with its overrides from
     .Values.functions merged in. */}}
{{- define "skybook.functions" -}}
{{- $list := list -}}
{{- range (.Files.Get "files/functions.json" | fromJson).functions -}}
{{- $list = append $list (merge (deepCopy (get $.Values.functions .name | default dict)) .) -}}
{{- end -}}
{{- toYaml $list -}}
{{- end -}}

{{/* Each query's and command's public URL under `domain`, `name=https://name.domain`, comma-separated. */}}
{{- define "skybook.functionUrls" -}}
{{- $urls := list -}}
{{- range include "skybook.functions" . | fromYamlArray -}}
{{- if and (eq .visibility "external") (has .kind (list "query" "command")) -}}
{{- $urls = append $urls (printf "%s=https://%s.%s" .name .name $.Values.domain) -}}
{{- end -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/* The origins whose pages may call the functions: cors.allowedOrigins,
     and under `domain` this release's own sites (the web app, the docs)
     unless cors.allowSites is off; comma-separated. */}}
{{- define "skybook.corsOrigins" -}}
{{- $origins := .Values.cors.allowedOrigins | default list -}}
{{- if and .Values.domain .Values.cors.allowSites -}}
{{- range include "skybook.functions" . | fromYamlArray -}}
{{- if eq .kind "site" -}}{{- $origins = append $origins (printf "https://%s.%s" .name $.Values.domain) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- join "," $origins -}}
{{- end -}}

{{/* The Triggers: each emitted event type to each consumer whose spec
     accepts it, with the producer's source (one list, for the Triggers and
     for who may send with sender identity on; files/functions.json). */}}
{{- define "skybook.triggers" -}}
{{- toYaml (.Files.Get "files/functions.json" | fromJson).triggers -}}
{{- end -}}

{{/* The PingSources: the functions that run on a schedule. */}}
{{- define "skybook.pingSources" -}}
- {name: relay-outbox-tick, schedule: {{ .Values.relayOutbox.schedule | quote }}, sink: relay-outbox, data: relay the outbox}
- {name: reconcile-stats-tick, schedule: {{ .Values.reconcileStats.schedule | quote }}, sink: reconcile-stats, data: reconcile the stats}
- {name: reconcile-flights-tick, schedule: {{ .Values.reconcileFlights.schedule | quote }}, sink: reconcile-flights, data: reconcile the flights read model}
{{- end -}}

{{/* With sender identity on, the subjects allowed to send to the consumers:
     the service accounts Knative makes for each Trigger and PingSource
     (`<name>-oidc-<group>-<kind>`), comma-separated. */}}
{{- define "skybook.allowedSenders" -}}
{{- $subjects := list -}}
{{- range include "skybook.triggers" . | fromYamlArray -}}
{{- $subjects = append $subjects (printf "system:serviceaccount:%s:%s-oidc-eventing.knative.dev-trigger" $.Release.Namespace .name) -}}
{{- end -}}
{{- range include "skybook.pingSources" . | fromYamlArray -}}
{{- $subjects = append $subjects (printf "system:serviceaccount:%s:%s-oidc-sources.knative.dev-pingsource" $.Release.Namespace .name) -}}
{{- end -}}
{{- join "," $subjects -}}
{{- end -}}


{{/* The secrets the chart makes when they are not given (the event signing
     key, the Redis password), resolved once per render into .Values so every
     template sees the same ones: the value given, else the one the cluster
     holds (lookup), else a new one. */}}
{{- define "skybook.resolveSecrets" -}}
{{- if not (hasKey .Values "_resolved") -}}
{{- $_ := set .Values "_resolved" true -}}
{{- if not .Values.existingSecret -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace "skybook-secrets" -}}
{{- $kept := index (($existing | default dict).data | default dict) "EVENT_SIGNING_KEYS" -}}
{{- if not .Values.secret.EVENT_SIGNING_KEYS -}}
{{- if not .Values.generateSecrets -}}
{{- fail "skybook: generateSecrets is off (a render without a cluster cannot keep what it makes): set secret.EVENT_SIGNING_KEYS (openssl rand -hex 32) or existingSecret" -}}
{{- end -}}
{{- $_ := set .Values.secret "EVENT_SIGNING_KEYS" (empty $kept | ternary (randAlphaNum 64) (toString $kept | b64dec)) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.redis.create (not .Values.redis.password) -}}
{{- if not .Values.generateSecrets -}}
{{- fail "skybook: generateSecrets is off (a render without a cluster cannot keep what it makes): set redis.password" -}}
{{- end -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace "skybook-redis" -}}
{{- $kept := index (($existing | default dict).data | default dict) "password" -}}
{{- $_ := set .Values.redis "password" (empty $kept | ternary (randAlphaNum 32) (toString $kept | b64dec)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A digest of the secrets the chart writes, on every pod that reads them:
     a changed key or password rolls the pods (they read it at start). */}}
{{- define "skybook.secretsChecksum" -}}
{{- include "skybook.resolveSecrets" . -}}
{{- $secrets := ternary dict .Values.secret (not (empty .Values.existingSecret)) -}}
{{- dict "secret" $secrets "redis" (ternary .Values.redis.password "" .Values.redis.create) | toJson | sha256sum | trunc 16 -}}
{{- end -}}


{{/* Refusals only the cluster can decide, from what lookup found there (all
     empty under `helm template`, which then refuses nothing): the HPA class
     without Serving's HPA autoscaler, and a Broker whose class would change
     (Eventing refuses it: the class annotation is immutable). Called with
     (dict "root" $ "serving" <Namespace knative-serving> "hpa" <Deployment
     autoscaler-hpa> "broker" <the release's Broker>). */}}
{{- define "skybook.clusterRefusals" -}}
{{- $v := .root.Values -}}
{{- $hpa := eq $v.autoscaling.class "hpa" -}}
{{- range $v.functions -}}{{- if eq (dig "autoscaling" "class" "" .) "hpa" -}}{{- $hpa = true -}}{{- end -}}{{- end -}}
{{- if and $hpa .serving (not .hpa) -}}
{{- fail "skybook: autoscaling.class hpa needs Knative Serving's HPA autoscaler (serving-hpa.yaml, the Deployment autoscaler-hpa in knative-serving), which this cluster does not run: install it (HPA=1 scripts/cluster/prerequisites.sh) or use the class kpa" -}}
{{- end -}}
{{- with .broker -}}
{{- $class := index (.metadata.annotations | default dict) "eventing.knative.dev/broker.class" -}}
{{- if and $class (ne $class $v.broker.class) -}}
{{- fail (printf "skybook: the Broker %s is of class %s and Knative cannot change a Broker's class to %s. To move: stop the producers' traffic, let the Broker drain (its queues empty, relay-outbox with nothing pending), kubectl delete broker %s -n %s, then upgrade with the new class; or keep broker.class=%s" .metadata.name $class $v.broker.class .metadata.name .metadata.namespace $class) -}}
{{- end -}}
{{- end -}}
{{- end -}}
