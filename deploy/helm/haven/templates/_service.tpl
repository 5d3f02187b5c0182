{{/*
One Haven service: ServiceAccount, Deployment, Service, HPA, PDB and NetworkPolicy.
Call with (dict "root" $ "name" "identity" "svc" .Values.services.identity).
Every service is the same image started as `node services/<name>/dist/index.js`.
*/}}
{{- define "haven.service" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $name := .name -}}
{{- $svc := .svc -}}
{{- $ctx := dict "root" $root "component" $name -}}
{{- $fullname := include "haven.componentName" $ctx -}}
{{- $replicas := ternary $svc.autoscaling.minReplicas $svc.replicas $svc.autoscaling.enabled -}}
{{- $data := include "haven.dataPersistence" (dict "svc" $svc) | fromYaml -}}
{{- $dataClaim := default (printf "%s-data" $fullname) $data.existingClaim -}}
{{- /* One pod at a time when the data volume attaches to one node only, and always for identity (one signer). */ -}}
{{- $recreate := and $data.enabled (or (ne $data.accessMode "ReadWriteMany") (eq $name "identity")) -}}
{{- $httpCallers := $svc.httpCallers | default "same" -}}
{{- if and $data.enabled (not $data.existingClaim) }}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ $dataClaim }}
  labels:
    {{- include "haven.labels" $ctx | nindent 4 }}
  annotations:
    # {{ $name }} keeps what cannot be rebuilt here (keys, the audit ledger): never delete it with the release.
    helm.sh/resource-policy: keep
spec:
  accessModes: [{{ $data.accessMode }}]
  {{- with $data.storageClass }}
  storageClassName: {{ . }}
  {{- end }}
  resources:
    requests:
      storage: {{ $data.size }}
{{- end }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "haven.labels" $ctx | nindent 4 }}
automountServiceAccountToken: false
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "haven.labels" $ctx | nindent 4 }}
spec:
  {{- if not $svc.autoscaling.enabled }}
  replicas: {{ $svc.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    {{- if $recreate }}
    # The data volume ({{ $data.accessMode }}) is used by one pod at a time: stop the old pod before starting the new one.
    type: Recreate
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxSurge: {{ $v.rollingUpdate.maxSurge }}
      maxUnavailable: {{ $v.rollingUpdate.maxUnavailable }}
    {{- end }}
  selector:
    matchLabels:
      {{- include "haven.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "haven.labels" $ctx | nindent 8 }}
        haven.io/service: "true"
        {{- with $v.podDefaults.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/janus-nodes: {{ toJson $v.janus.nodes | sha256sum | trunc 16 }}
        {{- with $v.podDefaults.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ $fullname }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $v.podDefaults.terminationGracePeriodSeconds }}
      {{- with $v.podDefaults.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "haven.podSecurityContext" dict | nindent 8 }}
      {{- with $v.podDefaults.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.podDefaults.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.podDefaults.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $v.podDefaults.topologySpread.enabled }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: topology.kubernetes.io/zone
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "haven.selectorLabels" $ctx | nindent 14 }}
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: {{ ternary "DoNotSchedule" "ScheduleAnyway" $v.podDefaults.topologySpread.strictHostSpread }}
          labelSelector:
            matchLabels:
              {{- include "haven.selectorLabels" $ctx | nindent 14 }}
      {{- end }}
      {{- if $svc.keyring }}
      initContainers:
        {{- include "haven.kmsInitContainer" $root | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $name }}
          image: {{ include "haven.image" $root | quote }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args: ["services/{{ $name }}/dist/index.js"]
          securityContext:
            {{- include "haven.containerSecurityContext" dict | nindent 12 }}
          ports:
            {{- if $svc.grpcPort }}
            - name: grpc
              containerPort: {{ $svc.grpcPort }}
              protocol: TCP
            {{- if $v.mtls.enabled }}
            # gRPC health alone, plaintext: the kubelet's probes present no client certificate
            - name: grpc-health
              containerPort: {{ $v.mtls.healthPort }}
              protocol: TCP
            {{- end }}
            {{- end }}
            {{- if $svc.httpPort }}
            - name: http
              containerPort: {{ $svc.httpPort }}
              protocol: TCP
            {{- end }}
          env:
            {{- include "haven.serviceEnv" (dict "root" $root "name" $name "svc" $svc) | nindent 12 }}
          {{- include "haven.serviceProbes" (dict "svc" $svc "mtls" $v.mtls) | nindent 10 }}
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if $svc.keyring }}
            {{- include "haven.kmsMounts" $root | nindent 12 }}
            {{- end }}
            {{- if $svc.dataDir }}
            - name: data
              mountPath: /var/lib/haven/data
            {{- end }}
            {{- include "haven.natsClientMounts" $root | nindent 12 }}
            {{- if $v.mtls.enabled }}
            # this workload's certificate, key and the CA (re-read as cert-manager renews them: no subPath)
            - name: mtls
              mountPath: /etc/haven/tls
              readOnly: true
            {{- end }}
            {{- if eq $name "audit" }}
            - name: audit-signing
              mountPath: /etc/haven/audit-signing
              readOnly: true
            {{- end }}
            {{- if and $v.sso.providers (has $name (list "identity" "gateway")) }}
            - name: sso
              mountPath: /etc/haven/sso
              readOnly: true
            {{- end }}
            {{- if and $v.sso.providers $v.sso.clientSecretsSecret (eq $name "gateway") }}
            - name: sso-client-secrets
              mountPath: /etc/haven/sso-client-secrets
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $v.podDefaults.tmpSizeLimit }}
        {{- if $svc.keyring }}
        {{- include "haven.kmsVolumes" $root | nindent 8 }}
        {{- end }}
        {{- if $data.enabled }}
        - name: data
          persistentVolumeClaim:
            claimName: {{ $dataClaim }}
        {{- else if $svc.dataDir }}
        - name: data
          emptyDir:
            sizeLimit: {{ $svc.dataDirSizeLimit }}
        {{- end }}
        {{- include "haven.natsClientVolumes" $root | nindent 8 }}
        {{- if $v.mtls.enabled }}
        - name: mtls
          secret:
            secretName: {{ include "haven.mtlsSecretName" (dict "root" $root "workload" $name) }}
            defaultMode: 0440
            items:
              - { key: tls.crt, path: tls.crt }
              - { key: tls.key, path: tls.key }
              - { key: ca.crt, path: ca.crt }
        {{- end }}
        {{- if eq $name "audit" }}
        - name: audit-signing
          secret:
            secretName: {{ include "haven.auditSigningSecretName" $root }}
            defaultMode: 0440
        {{- end }}
        {{- if and $v.sso.providers (has $name (list "identity" "gateway")) }}
        - name: sso
          configMap:
            name: {{ include "haven.componentName" (dict "root" $root "component" "sso") }}
        {{- end }}
        {{- if and $v.sso.providers $v.sso.clientSecretsSecret (eq $name "gateway") }}
        - name: sso-client-secrets
          secret:
            secretName: {{ $v.sso.clientSecretsSecret }}
            defaultMode: 0440
        {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "haven.labels" $ctx | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "haven.selectorLabels" $ctx | nindent 4 }}
  ports:
    {{- if $svc.grpcPort }}
    - name: grpc
      port: {{ $svc.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    {{- end }}
    {{- if $svc.httpPort }}
    - name: http
      port: {{ $svc.httpPort }}
      targetPort: http
      protocol: TCP
    {{- end }}
{{- if $svc.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "haven.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $fullname }}
  minReplicas: {{ $svc.autoscaling.minReplicas }}
  maxReplicas: {{ $svc.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $svc.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- if gt (int $replicas) 1 }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "haven.labels" $ctx | nindent 4 }}
spec:
  minAvailable: {{ $svc.pdbMinAvailable }}
  selector:
    matchLabels:
      {{- include "haven.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- if $v.networkPolicy.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "haven.labels" $ctx | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "haven.selectorLabels" $ctx | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- if eq $name "gateway" }}
    # browsers, through the ingress controller
    - from:
        - namespaceSelector:
            {{- toYaml $v.networkPolicy.ingressController.namespaceSelector | nindent 12 }}
          podSelector:
            {{- toYaml $v.networkPolicy.ingressController.podSelector | nindent 12 }}
      ports:
        - port: {{ $svc.httpPort }}
          protocol: TCP
    {{- else }}
    {{- if or $svc.grpcPort (and $svc.httpPort (eq $httpCallers "same")) }}
    # the gateway{{ if eq $svc.callers "all-services" }}, the other Haven services{{ end }} and the helm test pod
    - from:
        - podSelector:
            matchLabels:
              {{- include "haven.selectorLabels" (dict "root" $root "component" "gateway") | nindent 14 }}
        - podSelector:
            matchLabels:
              {{- include "haven.selectorLabels" (dict "root" $root "component" "helm-test") | nindent 14 }}
        {{- if eq $svc.callers "all-services" }}
        - podSelector:
            matchLabels:
              {{- include "haven.releaseSelector" $root | nindent 14 }}
              haven.io/service: "true"
        {{- end }}
      ports:
        {{- if $svc.grpcPort }}
        - port: {{ $svc.grpcPort }}
          protocol: TCP
        {{- if $v.mtls.enabled }}
        - port: {{ $v.mtls.healthPort }}
          protocol: TCP
        {{- end }}
        {{- end }}
        {{- if and $svc.httpPort (eq $httpCallers "same") }}
        - port: {{ $svc.httpPort }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- if and (eq $name "scheduling") $svc.httpPort (ne $v.notifications.sms.provider "none") }}
    # the SMS provider's replies (/sms/inbound/*), through the ingress controller
    - from:
        - namespaceSelector:
            {{- toYaml $v.networkPolicy.ingressController.namespaceSelector | nindent 12 }}
          podSelector:
            {{- toYaml $v.networkPolicy.ingressController.podSelector | nindent 12 }}
      ports:
        - port: {{ $svc.httpPort }}
          protocol: TCP
    {{- end }}
    {{- if and $svc.httpPort (eq $httpCallers "all-services") }}
    # the JWKS on the HTTP port: every Haven service (and the gateway) verifies tokens against it
    - from:
        - podSelector:
            matchLabels:
              {{- include "haven.releaseSelector" $root | nindent 14 }}
              haven.io/service: "true"
      ports:
        - port: {{ $svc.httpPort }}
          protocol: TCP
    {{- end }}
    {{- end }}
    {{- if and $svc.httpPort (eq $httpCallers "janus") $v.janus.eventHandler.enabled }}
    # Janus event handler POSTs ({{ $v.janus.eventHandler.path }}); nobody else may reach this unauthenticated endpoint
    - from:
        {{- if eq $v.janus.mediaExposure "hostNetwork" }}
        - ipBlock:
            cidr: 0.0.0.0/0
        {{- else }}
        - podSelector:
            matchLabels:
              {{- include "haven.releaseSelector" $root | nindent 14 }}
              haven.io/janus: "true"
        {{- end }}
      ports:
        - port: {{ $svc.httpPort }}
          protocol: TCP
    {{- end }}
    {{- if and $svc.httpPort $svc.janus $v.services.gateway.enabled }}
    # the media proxy (/media): the gateway relays browsers' media websockets here
    - from:
        - podSelector:
            matchLabels:
              {{- include "haven.selectorLabels" (dict "root" $root "component" "gateway") | nindent 14 }}
      ports:
        - port: {{ $svc.httpPort }}
          protocol: TCP
    {{- end }}
  egress:
    {{- include "haven.egressCommon" $root | nindent 4 }}
    {{- if and (eq $name "scheduling") (or $v.notifications.smtp.host (ne $v.notifications.sms.provider "none")) }}
    # the SMTP relay and the SMS provider (patient messages)
    - {{- if $v.notifications.egressCidrs }}
      to:
        {{- range $v.notifications.egressCidrs }}
        - ipBlock:
            cidr: {{ . }}
        {{- end }}
      {{- end }}
      ports:
        {{- if $v.notifications.smtp.host }}
        - port: {{ $v.notifications.smtp.port }}
          protocol: TCP
        {{- end }}
        {{- if ne $v.notifications.sms.provider "none" }}
        - port: 443
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- if $svc.keyring }}
    {{- with include "haven.kmsEgress" $root | trim }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- end }}
    {{- if eq $name "recording" }}
    {{- with include "haven.objectStoreEgress" $root | trim }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- end }}
    {{- if and $v.sso.providers (has $name (list "identity" "gateway")) }}
    # the clinics' OpenID providers: discovery and keys (identity), the code exchange too (gateway)
    - {{- if $v.sso.egressCidrs }}
      to:
        {{- range $v.sso.egressCidrs }}
        - ipBlock:
            cidr: {{ . }}
        {{- end }}
      {{- end }}
      ports:
        - port: {{ $v.sso.port }}
          protocol: TCP
    {{- end }}
    {{- $ports := list }}
    {{- range $other, $o := $v.services }}
    {{- if $o.enabled }}
    {{- if and $o.grpcPort (ne $other $name) }}
    {{- $ports = append $ports (int $o.grpcPort) }}
    {{- end }}
    {{- if and $o.httpPort (eq ($o.httpCallers | default "same") "all-services") }}
    {{- $ports = append $ports (int $o.httpPort) }}
    {{- end }}
    {{- if and (eq $name "gateway") $o.janus $o.httpPort }}
    {{- /* the session service's media proxy, where the gateway relays browsers' media websockets */}}
    {{- $ports = append $ports (int $o.httpPort) }}
    {{- end }}
    {{- end }}
    {{- end }}
    {{- if $ports }}
    # the other Haven services: their gRPC ports and the JWKS (identity's tokens, scheduling's patient tokens)
    - to:
        - podSelector:
            matchLabels:
              {{- include "haven.releaseSelector" $root | nindent 14 }}
              haven.io/service: "true"
      ports:
        {{- range $ports | uniq | sortAlpha }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- if $svc.janus }}
    # Janus websockets and admin API
    - to:
        {{- if eq $v.janus.mediaExposure "hostNetwork" }}
        - ipBlock:
            cidr: 0.0.0.0/0
        {{- else }}
        - podSelector:
            matchLabels:
              {{- include "haven.releaseSelector" $root | nindent 14 }}
              haven.io/janus: "true"
        {{- end }}
      ports:
        - port: {{ $v.janus.wsPort }}
          protocol: TCP
        - port: {{ $v.janus.adminPort }}
          protocol: TCP
    {{- end }}
{{- end }}
{{- end -}}

{{/* Egress every Haven service needs: DNS, NATS (or KurrentDB), the OTel collector. */}}
{{- define "haven.egressCommon" -}}
{{- $v := .Values -}}
# cluster DNS
- to:
    - namespaceSelector:
        {{- toYaml $v.networkPolicy.dnsNamespaceSelector | nindent 8 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{ include "haven.natsEgress" . }}
{{- if eq $v.eventStore.type "kurrentdb" }}
# KurrentDB
- {{- if $v.eventStore.kurrentdb.egressCidrs }}
  to:
    {{- range $v.eventStore.kurrentdb.egressCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
  ports:
    - port: {{ $v.eventStore.kurrentdb.port }}
      protocol: TCP
{{- end }}
# OpenTelemetry collector
{{- if $v.otel.collector.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "haven.selectorLabels" (dict "root" . "component" "otel-collector") | nindent 10 }}
  ports:
    - port: 4317
      protocol: TCP
{{- else }}
- ports:
    - port: 4317
      protocol: TCP
{{- end }}
{{- end -}}


{{/* Egress to NATS (the bundled cluster's client port, or the hospital's NATS). */}}
{{- define "haven.natsEgress" -}}
{{- $v := .Values -}}
# NATS
{{- if $v.nats.bundled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "haven.selectorLabels" (dict "root" . "component" "nats") | nindent 10 }}
  ports:
    - port: 4222
      protocol: TCP
{{- else }}
- {{- if $v.nats.external.egressCidrs }}
  to:
    {{- range $v.nats.external.egressCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
  ports:
    - port: {{ $v.nats.external.port }}
      protocol: TCP
{{- end }}
{{- end -}}
