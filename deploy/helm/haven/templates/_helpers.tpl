{{/* ---------- names and labels ---------- */}}

{{- define "haven.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "haven.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>", at most 63 characters. Call with (dict "root" $ "component" "x"). */}}
{{- define "haven.componentName" -}}
{{- printf "%s-%s" (include "haven.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "haven.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component. Call with (dict "root" $ "component" "x"). */}}
{{- define "haven.selectorLabels" -}}
app.kubernetes.io/name: {{ include "haven.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Full labels of one component. Call with (dict "root" $ "component" "x"). */}}
{{- define "haven.labels" -}}
helm.sh/chart: {{ include "haven.chart" .root }}
{{ include "haven.selectorLabels" . }}
app.kubernetes.io/part-of: haven
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels selecting every pod of this release (default-deny NetworkPolicy). */}}
{{- define "haven.releaseSelector" -}}
app.kubernetes.io/name: {{ include "haven.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* ---------- images ---------- */}}

{{/* Renders "repo:tag" or "repo@digest". Call with (dict "image" .Values.x.image "default" "tag"). */}}
{{- define "haven.imageRef" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (toString (default .default .image.tag)) -}}
{{- end -}}
{{- end -}}

{{- define "haven.image" -}}
{{- include "haven.imageRef" (dict "image" .Values.image "default" .Chart.AppVersion) -}}
{{- end -}}

{{/* ---------- security ---------- */}}

{{/* Pod security context meeting the "restricted" Pod Security Standard. */}}
{{- define "haven.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 10001 }}
runAsGroup: {{ .uid | default 10001 }}
fsGroup: {{ .uid | default 10001 }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container security context meeting the "restricted" Pod Security Standard. */}}
{{- define "haven.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* ---------- wiring ---------- */}}

{{- define "haven.natsUrl" -}}
{{- if .Values.nats.bundled -}}
{{- printf "%s://%s:4222" (ternary "tls" "nats" (eq (include "haven.natsTlsOn" .) "true")) (include "haven.componentName" (dict "root" . "component" "nats")) -}}
{{- else -}}
{{- .Values.nats.external.url -}}
{{- end -}}
{{- end -}}

{{/* ---------- NATS users, permissions, TLS ---------- */}}

{{/* The NATS users: the operator, then one per Haven service (files/nats/permissions.json), as a JSON list. */}}
{{- define "haven.natsUsers" -}}
{{- $perms := .Files.Get "files/nats/permissions.json" | fromJson -}}
{{- prepend (keys $perms | sortAlpha) "operator" | toJson -}}
{{- end -}}

{{/* The secret holding `<user>-password` (and, for the bundled NATS, `<user>-bcrypt`); empty when there is none. */}}
{{- define "haven.natsAuthSecretName" -}}
{{- if .Values.nats.auth.existingSecret -}}
{{- .Values.nats.auth.existingSecret -}}
{{- else if .Values.nats.bundled -}}
{{- include "haven.componentName" (dict "root" . "component" "nats-auth") -}}
{{- end -}}
{{- end -}}

{{/* The secret with the NATS server certificate (tls.crt, tls.key) and the CA services trust (ca.crt). */}}
{{- define "haven.natsTlsSecretName" -}}
{{- if .Values.nats.tls.existingSecret -}}
{{- .Values.nats.tls.existingSecret -}}
{{- else if .Values.nats.tls.enabled -}}
{{- include "haven.componentName" (dict "root" . "component" "nats-tls") -}}
{{- else -}}
{{- /* Mutual TLS without a NATS-specific certificate: the `nats` workload certificate of the mtls CA. */ -}}
{{- include "haven.mtlsSecretName" (dict "root" . "workload" "nats") -}}
{{- end -}}
{{- end -}}

{{/* Where a NATS client finds the CA of the server's certificate ("secret" and "key"); empty without TLS to trust. */}}
{{- define "haven.natsCa" -}}
{{- if eq (include "haven.natsTlsOn" .) "true" -}}
secret: {{ include "haven.natsTlsSecretName" . }}
key: ca.crt
{{- else if and (not .Values.nats.bundled) .Values.nats.external.caSecret -}}
secret: {{ .Values.nats.external.caSecret }}
key: {{ .Values.nats.external.caKey }}
{{- end -}}
{{- end -}}

{{/*
NATS client variables of a pod: NATS_URL, the pod's own user and password (from the auth secret), the creds file
and the CA to verify the server with. Call with (dict "root" $ "user" "identity").
*/}}
{{- define "haven.natsClientEnv" -}}
{{- $v := .root.Values -}}
{{- $auth := include "haven.natsAuthSecretName" .root -}}
{{- $ca := include "haven.natsCa" .root | fromYaml -}}
- name: NATS_URL
  value: {{ include "haven.natsUrl" .root | quote }}
{{- if $auth }}
- name: NATS_USER
  value: {{ .user | quote }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $auth }}
      key: {{ printf "%s-password" .user }}
{{- end }}
{{- if and (not $v.nats.bundled) $v.nats.external.credentialsSecret }}
- name: NATS_CREDS_FILE
  value: /etc/haven/nats/{{ $v.nats.external.credentialsKey }}
{{- if not $auth }}
{{- /* No user name to derive it from: the inbox prefix the permissions give this service. */}}
- name: NATS_INBOX_PREFIX
  value: {{ printf "_INBOX_%s" .user | quote }}
{{- end }}
{{- end }}
{{- if $ca.secret }}
- name: NATS_TLS_CA_FILE
  value: /etc/haven/nats-ca/{{ $ca.key }}
{{- end }}
{{- end -}}

{{/* Volume mounts for the NATS client files (creds, CA) of a pod. */}}
{{- define "haven.natsClientMounts" -}}
{{- $v := .Values -}}
{{- $ca := include "haven.natsCa" . | fromYaml -}}
{{- if and (not $v.nats.bundled) $v.nats.external.credentialsSecret }}
- name: nats-creds
  mountPath: /etc/haven/nats
  readOnly: true
{{- end }}
{{- if $ca.secret }}
- name: nats-ca
  mountPath: /etc/haven/nats-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Volumes for {{ "haven.natsClientMounts" }}. */}}
{{- define "haven.natsClientVolumes" -}}
{{- $v := .Values -}}
{{- $ca := include "haven.natsCa" . | fromYaml -}}
{{- if and (not $v.nats.bundled) $v.nats.external.credentialsSecret }}
- name: nats-creds
  secret:
    secretName: {{ $v.nats.external.credentialsSecret }}
    defaultMode: 0440
{{- end }}
{{- if $ca.secret }}
- name: nats-ca
  secret:
    secretName: {{ $ca.secret }}
    defaultMode: 0444
    items:
      - key: {{ $ca.key }}
        path: {{ $ca.key }}
{{- end }}
{{- end -}}

{{- define "haven.otlpEndpoint" -}}
{{- if .Values.otel.collector.enabled -}}
{{- printf "http://%s:4317" (include "haven.componentName" (dict "root" . "component" "otel-collector")) -}}
{{- else -}}
{{- .Values.otel.endpoint -}}
{{- end -}}
{{- end -}}

{{- define "haven.jwksUrl" -}}
{{- if .Values.jwksUrl -}}
{{- .Values.jwksUrl -}}
{{- else -}}
{{- printf "http://%s:%d/.well-known/jwks.json" (include "haven.componentName" (dict "root" . "component" "identity")) (int .Values.services.identity.httpPort) -}}
{{- end -}}
{{- end -}}

{{/* Scheduling's patient-token JWKS (HAVEN_PATIENT_JWKS_URL); empty when there is none. */}}
{{- define "haven.patientJwksUrl" -}}
{{- if .Values.patientJwksUrl -}}
{{- .Values.patientJwksUrl -}}
{{- else if and .Values.services.scheduling .Values.services.scheduling.enabled .Values.services.scheduling.httpPort -}}
{{- printf "http://%s:%d/.well-known/jwks.json" (include "haven.componentName" (dict "root" . "component" "scheduling")) (int .Values.services.scheduling.httpPort) -}}
{{- end -}}
{{- end -}}

{{/* Base URL of the web app (HAVEN_PUBLIC_URL). */}}
{{- define "haven.publicUrl" -}}
{{- if .Values.settings.publicUrl -}}
{{- .Values.settings.publicUrl -}}
{{- else -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host -}}
{{- end -}}
{{- end -}}

{{/* A service's data-directory persistence settings, with defaults when the entry has none. Returns YAML. */}}
{{- define "haven.dataPersistence" -}}
{{- $p := .svc.persistence | default dict -}}
enabled: {{ and .svc.dataDir ($p.enabled | default false) }}
size: {{ $p.size | default "1Gi" | quote }}
storageClass: {{ $p.storageClass | default "" | quote }}
accessMode: {{ $p.accessMode | default "ReadWriteOnce" }}
existingClaim: {{ $p.existingClaim | default "" | quote }}
{{- end -}}

{{- define "haven.janusSecretName" -}}
{{- default (include "haven.componentName" (dict "root" . "component" "janus-secrets")) .Values.janus.secrets.existingSecret -}}
{{- end -}}

{{- define "haven.keyringSecretName" -}}
{{- default (include "haven.componentName" (dict "root" . "component" "keyring")) .Values.kms.local.existingSecret -}}
{{- end -}}

{{- define "haven.forwarderSecretName" -}}
{{- default (include "haven.componentName" (dict "root" . "component" "forwarder")) .Values.forwarderSecret.existingSecret -}}
{{- end -}}

{{- define "haven.auditSigningSecretName" -}}
{{- default (include "haven.componentName" (dict "root" . "component" "audit-signing")) .Values.auditLedger.signingKey.existingSecret -}}
{{- end -}}

{{/* NetworkPolicy egress to the S3 endpoint of the recordings (nothing with the filesystem store). */}}
{{- define "haven.objectStoreEgress" -}}
{{- $s3 := .Values.recordings.objectStore.s3 -}}
{{- if eq .Values.recordings.objectStore.type "s3" }}
# the recordings' S3 endpoint
- {{- if $s3.egressCidrs }}
  to:
    {{- range $s3.egressCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
  ports:
    - port: {{ $s3.port }}
      protocol: TCP
{{- end }}
{{- end -}}

{{/* "true" when each Janus pod runs a recording processor (the recording service is on and may record). */}}
{{- define "haven.recordingProcessorOn" -}}
{{- if and .Values.services.recording.enabled (ne .Values.recordings.policy "off") }}true{{ end -}}
{{- end -}}

{{/* Comma list of Janus websocket URLs. */}}
{{- define "haven.janusWsUrls" -}}
{{- $root := . -}}
{{- $urls := list -}}
{{- range .Values.janus.nodes -}}
{{- $urls = append $urls (printf "%s://%s:%d" (ternary "wss" "ws" $root.Values.mtls.enabled) (include "haven.componentName" (dict "root" $root "component" (printf "janus-%s" .name))) (int $root.Values.janus.wsPort)) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{- define "haven.janusAdminUrls" -}}
{{- $root := . -}}
{{- $urls := list -}}
{{- range .Values.janus.nodes -}}
{{- $urls = append $urls (printf "%s://%s:%d" (ternary "wss" "ws" $root.Values.mtls.enabled) (include "haven.componentName" (dict "root" $root "component" (printf "janus-%s" .name))) (int $root.Values.janus.adminPort)) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/*
Fails the render on impossible combinations, with a message saying what to set.
Included from every template that depends on them, and from NOTES.txt.
*/}}
{{- define "haven.validate" -}}
{{- include "haven.validateNotifications" . -}}
{{- if and (not .Values.nats.bundled) (not .Values.nats.external.url) -}}
{{- fail "haven: nats.bundled is false but nats.external.url is empty: set the URL of your NATS (JetStream) or enable the bundled cluster" -}}
{{- end -}}
{{- if and .Values.nats.bundled .Values.nats.tls.enabled (not .Values.nats.tls.existingSecret) (not .Values.nats.tls.certManager.enabled) -}}
{{- fail "haven: nats.tls.enabled needs a certificate: set nats.tls.existingSecret (tls.crt, tls.key, ca.crt) or nats.tls.certManager.enabled with an issuerRef" -}}
{{- end -}}
{{- if and .Values.nats.bundled .Values.nats.tls.enabled .Values.nats.tls.certManager.enabled (not .Values.nats.tls.certManager.issuerRef.name) -}}
{{- fail "haven: nats.tls.certManager.enabled needs nats.tls.certManager.issuerRef.name (an Issuer or ClusterIssuer of a CA your services trust; a public ACME issuer cannot certify cluster-internal names)" -}}
{{- end -}}
{{- if and (not .Values.nats.bundled) .Values.nats.provisioning.enabled (not .Values.nats.auth.existingSecret) -}}
{{- fail "haven: nats.provisioning.enabled with your own NATS needs nats.auth.existingSecret holding operator-password (a user allowed to create and update streams); or set nats.provisioning.enabled false and provision the streams yourself (README: NATS)" -}}
{{- end -}}
{{- if and (eq .Values.eventStore.type "kurrentdb") (not .Values.eventStore.kurrentdb.existingSecret) -}}
{{- fail "haven: eventStore.type is kurrentdb but eventStore.kurrentdb.existingSecret is empty: create a secret holding the KurrentDB connection string and name it there" -}}
{{- end -}}
{{- if and (eq .Values.settings.passkeys.attestation "direct") (eq (len .Values.settings.passkeys.allowedAaguids) 0) -}}
{{- fail "haven: settings.passkeys.attestation is direct but settings.passkeys.allowedAaguids is empty: list the authenticator models (AAGUIDs) the clinic allows, or use none" -}}
{{- end -}}
{{- if and .Values.sso.providers (not (include "haven.publicUrl" .)) -}}
{{- fail "haven: sso.providers needs settings.publicUrl or ingress.host (the providers redirect to <public URL>/api/auth/sso/callback)" -}}
{{- end -}}
{{- $ssoIds := dict -}}
{{- range .Values.sso.providers -}}
{{- if hasKey $ssoIds .id -}}
{{- fail (printf "haven: sso.providers has two providers with the id %q" .id) -}}
{{- end -}}
{{- $_ := set $ssoIds .id true -}}
{{- end -}}
{{- if eq (len .Values.janus.nodes) 0 -}}
{{- fail "haven: janus.nodes is empty: at least one media node is required" -}}
{{- end -}}
{{- if and .Values.nats.bundled (lt (int .Values.nats.replicas) (int .Values.eventStore.jetstream.replicas)) -}}
{{- fail (printf "haven: eventStore.jetstream.replicas (%d) exceeds nats.replicas (%d): streams cannot have more replicas than the cluster has nodes" (int .Values.eventStore.jetstream.replicas) (int .Values.nats.replicas)) -}}
{{- end -}}
{{- $seen := dict -}}
{{- range .Values.janus.nodes -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "haven: janus.nodes has two nodes named %q" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- if gt (int .rtpPortRange.min) (int .rtpPortRange.max) -}}
{{- fail (printf "haven: janus.nodes[%s].rtpPortRange.min is greater than max" .name) -}}
{{- end -}}
{{- if and (ne $.Values.janus.mediaExposure "hostNetwork") (gt (sub (int .rtpPortRange.max) (int .rtpPortRange.min)) 255) -}}
{{- fail (printf "haven: janus.nodes[%s].rtpPortRange spans more than 256 ports; a Service lists each port, use a smaller range per node or mediaExposure hostNetwork" .name) -}}
{{- end -}}
{{- if and (eq $.Values.janus.mediaExposure "nodePort") (or (lt (int .rtpPortRange.min) 30000) (gt (int .rtpPortRange.max) 32767)) -}}
{{- fail (printf "haven: janus.nodes[%s].rtpPortRange must lie inside the default node-port range 30000-32767 when janus.mediaExposure is nodePort" .name) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.services.session.enabled .Values.janus.eventHandler.enabled (eq (int .Values.services.session.httpPort) 0) -}}
{{- fail "haven: janus.eventHandler.enabled needs services.session.httpPort (the session service receives Janus events over HTTP)" -}}
{{- end -}}
{{- if and .Values.services.gateway.enabled (not .Values.services.session.enabled) -}}
{{- fail "haven: services.gateway needs services.session (browsers reach media only through the gateway's relay to the session service)" -}}
{{- end -}}
{{- if and .Values.services.session.enabled (eq (int .Values.services.session.httpPort) 0) -}}
{{- fail "haven: services.session.httpPort is 0: the session service serves its media proxy (and Janus's events) there" -}}
{{- end -}}
{{- /* Data directories: identity, scheduling, recording and session keep keys there, so they must persist; replicas must be able to share them. */ -}}
{{- range $name, $svc := .Values.services -}}
{{- if $svc.enabled -}}
{{- $p := include "haven.dataPersistence" (dict "svc" $svc) | fromYaml -}}
{{- $max := ternary $svc.autoscaling.maxReplicas $svc.replicas $svc.autoscaling.enabled -}}
{{- if and (has $name (list "identity" "scheduling" "recording" "session")) (not $p.enabled) -}}
{{- $holds := dict "identity" "the token signing keys" "scheduling" "the per-patient data keys and the patient-token signing key" "recording" "each recording's own key and the encrypted recordings" "session" "the keys of the in-visit chat" -}}
{{- $loss := dict "identity" ", signing every user out" "scheduling" ", and every patient's PHI with it" "recording" ", and every recording with it" "session" ", and every chat transcript with it" -}}
{{- fail (printf "haven: services.%s.persistence.enabled (and dataDir) must be true: HAVEN_DATA_DIR holds %s; on an emptyDir it is lost with the pod%s" $name (get $holds $name) (get $loss $name)) -}}
{{- end -}}
{{- if and (eq $name "identity") (gt (int $max) 1) -}}
{{- fail "haven: services.identity must run exactly one replica (replicas 1, autoscaling.enabled false): each identity process holds its signing keys in memory and rotates them at start, so replicas would publish different JWKS" -}}
{{- end -}}
{{- if and $p.enabled (gt (int $max) 1) (ne $name "identity") -}}
{{- if not (has $name (list "scheduling" "recording" "session")) -}}
{{- fail (printf "haven: services.%s has persistence.enabled with more than one replica: its data directory must not be shared by two processes; use one replica or an emptyDir per replica" $name) -}}
{{- end -}}
{{- if ne $p.accessMode "ReadWriteMany" -}}
{{- fail (printf "haven: services.%s can run %d replicas but persistence.accessMode is %s: replicas share HAVEN_DATA_DIR, which needs ReadWriteMany (and a storageClass that supports it, e.g. NFS/CephFS/EFS/Azure Files); otherwise set replicas 1 and autoscaling.enabled false" $name (int $max) $p.accessMode) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $name "identity") (not $svc.keyring) -}}
{{- fail "haven: services.identity.keyring must be true: identity wraps the keys that seal credential secrets with the KMS keyring (HAVEN_KEYRING_FILE); without it the key-encryption key would sit on the data volume next to the keys" -}}
{{- end -}}
{{- if and (eq $name "scheduling") (not $svc.keyring) -}}
{{- fail "haven: services.scheduling.keyring must be true: scheduling wraps the patient data keys with the KMS keyring (HAVEN_KEYRING_FILE)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.services.gateway.enabled) -}}
{{- fail "haven: ingress.enabled needs services.gateway.enabled" -}}
{{- end -}}
{{- if and .Values.mtls.enabled (not .Values.mtls.certManager.enabled) -}}
{{- range $w := include "haven.mtlsWorkloads" . | fromJsonArray -}}
{{- if not (index $.Values.mtls.existingSecrets $w) -}}
{{- fail (printf "haven: mtls.enabled without mtls.certManager needs a secret per workload: set mtls.existingSecrets.%s (tls.crt, tls.key, ca.crt; URI SAN spiffe://%s/%s), or enable mtls.certManager" $w $.Values.mtls.trustDomain $w) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* Secrets never as plain values: a variable whose name says secret belongs in extraSecretEnv (a secretKeyRef). */ -}}
{{- $plain := dict "extraEnv" .Values.extraEnv -}}
{{- range $name, $svc := .Values.services -}}
{{- $_ := set $plain (printf "services.%s.env" $name) ($svc.env | default dict) -}}
{{- end -}}
{{- range $where, $envs := $plain -}}
{{- range $k, $_ := $envs -}}
{{- if regexMatch "(SECRET|PASSWORD|PASSPHRASE|TOKEN|CREDENTIALS|CREDS|_KEY|PRIVATE_KEY)$" (upper $k) -}}
{{- fail (printf "haven: %s.%s looks like a secret: values.yaml must hold no secret in plain text; put it in a Secret and reference it with extraSecretEnv ({name, secretName, key})" $where $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- include "haven.kmsValidate" . -}}
{{- if and (eq .Values.recordings.objectStore.type "s3") (not .Values.recordings.objectStore.s3.bucket) -}}
{{- fail "haven: recordings.objectStore.type s3 needs recordings.objectStore.s3.bucket" -}}
{{- end -}}
{{- range $name, $svc := .Values.services -}}
{{- if and $svc.enabled $svc.recordings -}}
{{- fail (printf "haven: services.%s.recordings must be false: the raw recordings are memory-backed inside each Janus pod and processed there by the recording processor (recordings.processor)" $name) -}}
{{- end -}}
{{- end -}}
{{- if include "haven.recordingProcessorOn" . -}}
{{- $recData := include "haven.dataPersistence" (dict "svc" .Values.services.recording) | fromYaml -}}
{{- if ne $recData.accessMode "ReadWriteMany" -}}
{{- fail "haven: services.recording.persistence.accessMode must be ReadWriteMany: the recording processors in the Janus pods write the recording keys and encrypted recordings into the recording service's data volume" -}}
{{- end -}}
{{- $limit := int (include "haven.memMiB" .Values.janus.resources.limits.memory) -}}
{{- $size := int (include "haven.memMiB" .Values.recordings.memory.sizeLimit) -}}
{{- if le $limit $size -}}
{{- fail (printf "haven: janus.resources.limits.memory (%s) must exceed recordings.memory.sizeLimit (%s): the raw recordings Janus writes into memory count against its limit" .Values.janus.resources.limits.memory .Values.recordings.memory.sizeLimit) -}}
{{- end -}}
{{- end -}}
{{- if and (not .Values.otel.collector.enabled) (not .Values.otel.endpoint) -}}
{{- fail "haven: otel.collector.enabled is false and otel.endpoint is empty: point the services at a collector that redacts PHI, or enable the bundled one" -}}
{{- end -}}
{{- end -}}

{{/* ---------- common pod parts ---------- */}}

{{/*
Environment of one Haven service container. Call with (dict "root" $ "name" "identity" "svc" $svc).
Every service parses its environment with a strict schema and stops on a HAVEN_* variable it neither reads nor
tolerates (packages/service/src/config.ts STACK_WIDE_VARIABLES), so service-specific variables go only to their
service; tests/helm/service-env.int.spec.ts checks each rendered Deployment against its service's schema.
*/}}
{{- define "haven.serviceEnv" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- if .svc.grpcPort }}
- name: HAVEN_GRPC_PORT
  value: {{ .svc.grpcPort | quote }}
{{- end }}
{{- if .svc.httpPort }}
- name: HAVEN_HTTP_PORT
  value: {{ .svc.httpPort | quote }}
{{- end }}
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
{{ include "haven.natsClientEnv" (dict "root" $root "user" .name) }}
{{- include "haven.mtlsEnv" (dict "root" $root "grpc" (gt (int .svc.grpcPort) 0)) }}
- name: HAVEN_EVENT_STORE
  value: {{ $v.eventStore.type | quote }}
- name: HAVEN_JETSTREAM_REPLICAS
  value: {{ $v.eventStore.jetstream.replicas | quote }}
{{- if eq $v.eventStore.type "kurrentdb" }}
- name: KURRENTDB_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.eventStore.kurrentdb.existingSecret }}
      key: {{ $v.eventStore.kurrentdb.secretKey }}
{{- end }}
- name: HAVEN_JWKS_URL
  value: {{ include "haven.jwksUrl" $root | quote }}
{{- with include "haven.patientJwksUrl" $root }}
- name: HAVEN_PATIENT_JWKS_URL
  value: {{ . | quote }}
{{- end }}
{{- range $other, $o := $v.services }}
{{- if and $o.enabled $o.grpcPort }}
- name: HAVEN_{{ upper $other }}_GRPC_ADDR
  value: {{ printf "%s:%d" (include "haven.componentName" (dict "root" $root "component" $other)) (int $o.grpcPort) | quote }}
{{- end }}
{{- end }}
{{- if .svc.keyring }}
{{ include "haven.kmsEnv" $root }}
{{- end }}
{{- if .svc.janus }}
- name: HAVEN_JANUS_WS_URLS
  value: {{ include "haven.janusWsUrls" $root | quote }}
- name: HAVEN_JANUS_ADMIN_URLS
  value: {{ include "haven.janusAdminUrls" $root | quote }}
- name: HAVEN_JANUS_ADMIN_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "haven.janusSecretName" $root }}
      key: admin-secret
- name: HAVEN_JANUS_TOKEN_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "haven.janusSecretName" $root }}
      key: token-secret
- name: HAVEN_JANUS_EVENTS_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "haven.janusSecretName" $root }}
      key: events-secret
{{- end }}
{{- if eq .name "recording" }}
{{- /* The Deployment serves the API and playback; the processors beside the Janus nodes process. */}}
- name: HAVEN_RECORDING_ROLE
  value: {{ .role | default "api" | quote }}
{{- with .janusNode }}
- name: HAVEN_RECORDING_JANUS_NODE
  value: {{ . | quote }}
{{- end }}
{{- $os := $v.recordings.objectStore }}
{{- if eq $os.type "s3" }}
- name: HAVEN_RECORDING_OBJECT_STORE
  value: s3
- name: HAVEN_RECORDING_S3_BUCKET
  value: {{ $os.s3.bucket | quote }}
- name: HAVEN_RECORDING_S3_REGION
  value: {{ $os.s3.region | quote }}
- name: HAVEN_RECORDING_S3_FORCE_PATH_STYLE
  value: {{ $os.s3.forcePathStyle | quote }}
{{- with $os.s3.endpoint }}
- name: HAVEN_RECORDING_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with $os.s3.prefix }}
- name: HAVEN_RECORDING_S3_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- with $os.s3.credentialsSecret.name }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $os.s3.credentialsSecret.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $os.s3.credentialsSecret.secretAccessKeyKey }}
{{- end }}
{{- end }}
{{- end }}
{{- if .svc.recordings }}
- name: HAVEN_RECORDINGS_DIR
  value: {{ $v.recordings.mountPath | quote }}
{{- end }}
{{- if .svc.dataDir }}
- name: HAVEN_DATA_DIR
  value: /var/lib/haven/data
{{- end }}
{{- if eq .name "audit" }}
- name: HAVEN_AUDIT_SIGNING_KEY_FILE
  value: /etc/haven/audit-signing/{{ $v.auditLedger.signingKey.secretKey }}
{{- end }}
{{- /* Variables only one service reads (any other service would refuse to start with them). */}}
{{- if eq .name "identity" }}
- name: HAVEN_MFA_REQUIRED_ROLES
  value: {{ $v.settings.mfaRequiredRoles | quote }}
{{- /* Passkeys: the web app's origin (the RP ID is its host unless set) and the clinic's attestation policy. */}}
- name: HAVEN_PUBLIC_URL
  value: {{ include "haven.publicUrl" $root | quote }}
{{- with $v.settings.passkeys.rpId }}
- name: HAVEN_WEBAUTHN_RP_ID
  value: {{ . | quote }}
{{- end }}
- name: HAVEN_PASSKEY_ATTESTATION
  value: {{ $v.settings.passkeys.attestation | quote }}
- name: HAVEN_PASSKEY_AAGUIDS
  value: {{ join "," $v.settings.passkeys.allowedAaguids | quote }}
{{- end }}
{{- if and $v.sso.providers (has .name (list "identity" "gateway")) }}
{{- /* Staff SSO: the providers (ConfigMap); the gateway also needs the public URL its redirect URI derives from. */}}
- name: HAVEN_SSO_CONFIG_FILE
  value: /etc/haven/sso/sso.json
{{- if eq .name "gateway" }}
- name: HAVEN_PUBLIC_URL
  value: {{ include "haven.publicUrl" $root | quote }}
{{- end }}
{{- end }}
{{- if has .name (list "identity" "gateway") }}
- name: HAVEN_IDLE_TIMEOUT_SEC
  value: {{ $v.settings.idleTimeoutSec | quote }}
- name: HAVEN_FORWARDER_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "haven.forwarderSecretName" $root }}
      key: {{ $v.forwarderSecret.secretKey }}
{{- end }}
{{- if eq .name "scheduling" }}
- name: HAVEN_PUBLIC_URL
  value: {{ include "haven.publicUrl" $root | quote }}
- name: HAVEN_REQUIRE_DOB_CHECK
  value: {{ $v.settings.requireDobCheck | quote }}
{{- with $v.settings.clinicTimeZone }}
- name: HAVEN_CLINIC_TIME_ZONE
  value: {{ . | quote }}
{{- end }}
{{ include "haven.notificationEnv" $root }}
{{- end }}
{{- if and (eq .name "gateway") $v.services.session.enabled }}
{{- /* Browsers reach media only here: the gateway relays /api/media to the session service's media proxy. */}}
- name: HAVEN_SESSION_MEDIA_URL
  value: {{ printf "ws://%s:%d/media" (include "haven.componentName" (dict "root" $root "component" "session")) (int $v.services.session.httpPort) | quote }}
{{- end }}
{{- if eq .name "session" }}
{{- /* Where the Janus nodes write recordings: every room's rec_dir (the session service does not mount it). */}}
- name: HAVEN_JANUS_RECORDINGS_DIR
  value: {{ $v.recordings.mountPath | quote }}
- name: HAVEN_RECORDING_POLICY
  value: {{ $v.recordings.policy | quote }}
- name: HAVEN_VISIT_IDLE_MINUTES
  value: {{ $v.settings.visitIdleMinutes | quote }}
{{- if $v.mtls.enabled }}
{{- /* Janus's websockets speak TLS (wss) with a certificate of the mtls CA: janode trusts it through Node. */}}
- name: NODE_EXTRA_CA_CERTS
  value: /etc/haven/tls/ca.crt
{{- end }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "haven-%s" .name | quote }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ include "haven.otlpEndpoint" $root | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: grpc
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "service.namespace=haven,k8s.namespace.name=%s%s" $root.Release.Namespace (ternary (printf ",%s" $v.otel.resourceAttributes) "" (ne $v.otel.resourceAttributes "")) | quote }}
{{- range $k, $val := $v.extraEnv }}
- name: {{ $k }}
  value: {{ $val | quote }}
{{- end }}
{{- range $k, $val := .svc.env }}
- name: {{ $k }}
  value: {{ $val | quote }}
{{- end }}
{{- range $v.extraSecretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
{{- end }}
{{- end -}}

{{/*
Probes for a Haven service container. gRPC: readiness asks the whole server ('', NOT_SERVING while one of the
service's event consumers is catching up, behind or down); start-up and liveness ask `liveness`, SERVING while
the server runs, so a long catch-up after an outage is never mistaken for a hung process.
*/}}
{{- define "haven.serviceProbes" -}}
{{- $handler := "" -}}
{{- $alive := "" -}}
{{- if eq .svc.probe "grpc" -}}
{{- /* With mutual TLS the gRPC port wants a client certificate: probe the plaintext health-only port. */ -}}
{{- $port := ternary (int .mtls.healthPort) (int .svc.grpcPort) .mtls.enabled -}}
{{- $handler = printf "grpc:\n  port: %d" $port -}}
{{- $alive = printf "grpc:\n  port: %d\n  service: liveness" $port -}}
{{- else -}}
{{- $handler = printf "httpGet:\n  path: %s\n  port: http" .svc.probePath -}}
{{- $alive = $handler -}}
{{- end -}}
startupProbe:
  {{- $alive | nindent 2 }}
  periodSeconds: 2
  failureThreshold: 60
readinessProbe:
  {{- $handler | nindent 2 }}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 3
livenessProbe:
  {{- $alive | nindent 2 }}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}

{{/* Converts a Kubernetes memory quantity (Mi, Gi, M, G, Ki) to whole MiB, for GOMEMLIMIT. */}}
{{- define "haven.memMiB" -}}
{{- $q := toString . -}}
{{- if hasSuffix "Gi" $q -}}{{ mul (trimSuffix "Gi" $q | int) 1024 }}
{{- else if hasSuffix "Mi" $q -}}{{ trimSuffix "Mi" $q | int }}
{{- else if hasSuffix "Ki" $q -}}{{ div (trimSuffix "Ki" $q | int) 1024 }}
{{- else if hasSuffix "G" $q -}}{{ div (mul (trimSuffix "G" $q | int) 1000000000) 1048576 }}
{{- else if hasSuffix "M" $q -}}{{ div (mul (trimSuffix "M" $q | int) 1000000) 1048576 }}
{{- else -}}{{ div ($q | int64) 1048576 }}
{{- end -}}
{{- end -}}

{{/* ---------- mutual TLS between workloads (mtls) ---------- */}}

{{/*
The workloads that hold a certificate: every enabled service, the provisioning Job (`operator`), the bundled
NATS (`nats`) and the Janus nodes (`janus`), as a JSON list.
*/}}
{{- define "haven.mtlsWorkloads" -}}
{{- $v := .Values -}}
{{- $w := list -}}
{{- range $name, $svc := $v.services -}}
{{- if $svc.enabled }}{{ $w = append $w $name }}{{ end -}}
{{- end -}}
{{- if $v.nats.provisioning.enabled }}{{ $w = append $w "operator" }}{{ end -}}
{{- if $v.nats.bundled }}{{ $w = append $w "nats" }}{{ end -}}
{{- $w = append $w "janus" -}}
{{- toJson $w -}}
{{- end -}}

{{/* The secret holding a workload's tls.crt, tls.key and ca.crt. Call with (dict "root" $ "workload" "identity"). */}}
{{- define "haven.mtlsSecretName" -}}
{{- $v := .root.Values -}}
{{- if $v.mtls.certManager.enabled -}}
{{- include "haven.componentName" (dict "root" .root "component" (printf "%s-mtls" .workload)) -}}
{{- else -}}
{{- index $v.mtls.existingSecrets .workload | default "" -}}
{{- end -}}
{{- end -}}

{{/* The issuer of the workloads' certificates: the given one, or the chart's own CA Issuer. */}}
{{- define "haven.mtlsIssuerRef" -}}
{{- $c := .Values.mtls.certManager -}}
{{- if $c.issuerRef.name -}}
name: {{ $c.issuerRef.name }}
kind: {{ $c.issuerRef.kind }}
group: {{ $c.issuerRef.group }}
{{- else -}}
name: {{ include "haven.componentName" (dict "root" . "component" "mtls-ca") }}
kind: Issuer
group: cert-manager.io
{{- end -}}
{{- end -}}

{{/* True ("true") when the bundled NATS speaks TLS: nats.tls.enabled, or mutual TLS with its `nats` certificate. */}}
{{- define "haven.natsTlsOn" -}}
{{- if and .Values.nats.bundled (or .Values.nats.tls.enabled .Values.mtls.enabled) }}true{{ end -}}
{{- end -}}

{{/*
The mutual TLS variables of a Haven workload's container (mounted at /etc/haven/tls from its secret).
Call with (dict "root" $ "grpc" true-when-it-serves-gRPC).
*/}}
{{- define "haven.mtlsEnv" -}}
{{- $v := .root.Values -}}
{{- if $v.mtls.enabled }}
- name: HAVEN_TLS_CA_FILE
  value: /etc/haven/tls/ca.crt
- name: HAVEN_TLS_CERT_FILE
  value: /etc/haven/tls/tls.crt
- name: HAVEN_TLS_KEY_FILE
  value: /etc/haven/tls/tls.key
- name: HAVEN_TLS_TRUST_DOMAIN
  value: {{ $v.mtls.trustDomain | quote }}
- name: HAVEN_TLS_REFRESH_MS
  value: {{ $v.mtls.refreshMs | quote }}
{{- if .grpc }}
- name: HAVEN_GRPC_HEALTH_PORT
  value: {{ $v.mtls.healthPort | quote }}
{{- end }}
{{- if $v.nats.bundled }}
- name: NATS_TLS_CERT_FILE
  value: /etc/haven/tls/tls.crt
- name: NATS_TLS_KEY_FILE
  value: /etc/haven/tls/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/*
The scheduling service's notification variables (values `notifications`): the relay, the SMS provider, the
clinic's message settings. Secrets only as secretKeyRefs.
*/}}
{{- define "haven.notificationEnv" -}}
{{- $n := .Values.notifications -}}
- name: HAVEN_CLINIC_NAME
  value: {{ $n.clinicName | quote }}
- name: HAVEN_NOTIFY_LANGUAGE
  value: {{ $n.language | quote }}
- name: HAVEN_REMINDER_OFFSETS
  value: {{ $n.reminderOffsets | quote }}
- name: HAVEN_PASSCODE_DELIVERY
  value: {{ $n.passcodeDelivery | quote }}
{{- if $n.smtp.host }}
- name: HAVEN_SMTP_URL
  value: {{ printf "%s://%s:%d" (ternary "smtps" "smtp" (eq $n.smtp.security "tls")) $n.smtp.host (int $n.smtp.port) | quote }}
- name: HAVEN_SMTP_REQUIRE_TLS
  value: "true"
- name: HAVEN_SMTP_FROM
  value: {{ $n.smtp.from | quote }}
{{- with $n.smtp.authSecret }}
- name: HAVEN_SMTP_USER
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: username
- name: HAVEN_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: password
{{- end }}
{{- end }}
{{- if ne $n.sms.provider "none" }}
- name: HAVEN_SMS_PROVIDER
  value: {{ $n.sms.provider | quote }}
{{- end }}
{{- if eq $n.sms.provider "webhook" }}
- name: HAVEN_SMS_WEBHOOK_URL
  value: {{ $n.sms.webhook.url | quote }}
- name: HAVEN_SMS_WEBHOOK_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $n.sms.webhook.tokenSecret }}
      key: token
{{- end }}
{{- if eq $n.sms.provider "twilio" }}
- name: HAVEN_TWILIO_ACCOUNT_SID
  value: {{ $n.sms.twilio.accountSid | quote }}
- name: HAVEN_TWILIO_FROM
  value: {{ $n.sms.twilio.from | quote }}
- name: HAVEN_TWILIO_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $n.sms.twilio.authTokenSecret }}
      key: authToken
{{- with $n.sms.twilio.inboundUrl }}
- name: HAVEN_TWILIO_INBOUND_URL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Impossible notification settings, each with what to set. */}}
{{- define "haven.validateNotifications" -}}
{{- $n := .Values.notifications -}}
{{- if and (eq $n.sms.provider "webhook") (or (not $n.sms.webhook.url) (not $n.sms.webhook.tokenSecret)) -}}
{{- fail "haven: notifications.sms.provider webhook needs notifications.sms.webhook.url and notifications.sms.webhook.tokenSecret (a secret with the key token)" -}}
{{- end -}}
{{- if and (eq $n.sms.provider "twilio") (or (not $n.sms.twilio.accountSid) (not $n.sms.twilio.from) (not $n.sms.twilio.authTokenSecret)) -}}
{{- fail "haven: notifications.sms.provider twilio needs notifications.sms.twilio.accountSid, .from and .authTokenSecret (a secret with the key authToken)" -}}
{{- end -}}
{{- if and (ne $n.passcodeDelivery "front-desk") (or (not $n.smtp.host) (eq $n.sms.provider "none")) -}}
{{- fail (printf "haven: notifications.passcodeDelivery %s sends the passcode by the other channel than the link: it needs notifications.smtp.host and notifications.sms.provider (or use front-desk)" $n.passcodeDelivery) -}}
{{- end -}}
{{- if and (eq $n.sms.provider "twilio") (not $n.sms.twilio.inboundUrl) (not (include "haven.publicUrl" .)) -}}
{{- fail "haven: notifications.sms.provider twilio needs notifications.sms.twilio.inboundUrl, settings.publicUrl or ingress.host (Twilio signs the URL it posts replies to)" -}}
{{- end -}}
{{- end -}}
