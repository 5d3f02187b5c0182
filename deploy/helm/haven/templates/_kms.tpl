{{/*
The KMS of every container that wraps or unwraps keys (services with `keyring: true`, the recording processors
beside the Janus nodes): HAVEN_KMS and its settings, an init container that copies the KMS's secret (the local
keyring, the PKCS#11 PIN or the Vault token) 0600 into a memory-backed volume (the services refuse a secret file
readable by group, which a secret volume with fsGroup is), the vendor library's volume, Vault's CA, and the
NetworkPolicy egress to a network HSM or to Vault. Each is called with the chart root.
*/}}

{{/* Fails on a KMS configuration that cannot work, naming the value to set. */}}
{{- define "haven.kmsValidate" -}}
{{- $k := .Values.kms -}}
{{- if eq $k.provider "pkcs11" -}}
{{- if or (not $k.pkcs11.module) (not $k.pkcs11.tokenLabel) (not $k.pkcs11.pinSecret.name) -}}
{{- fail "haven: kms.provider pkcs11 needs kms.pkcs11.module (the vendor's library inside the containers), kms.pkcs11.tokenLabel and kms.pkcs11.pinSecret.name (an existing secret holding the crypto-user PIN)" -}}
{{- end -}}
{{- if and $k.pkcs11.volume (not (hasPrefix (printf "%s/" (trimSuffix "/" $k.pkcs11.mountPath)) $k.pkcs11.module)) -}}
{{- fail (printf "haven: kms.pkcs11.module (%s) must lie under kms.pkcs11.mountPath (%s), where kms.pkcs11.volume is mounted" $k.pkcs11.module $k.pkcs11.mountPath) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $k.provider "vault-transit") (or (not $k.vault.address) (not $k.vault.tokenSecret.name)) -}}
{{- fail "haven: kms.provider vault-transit needs kms.vault.address and kms.vault.tokenSecret.name (an existing secret holding the Vault token)" -}}
{{- end -}}
{{- end -}}

{{/* Name of the file the init container writes into the memory-backed volume /etc/haven/keyring. */}}
{{- define "haven.kmsSecretFile" -}}
{{- $k := .Values.kms -}}
{{- if eq $k.provider "pkcs11" -}}pkcs11-pin{{- else if eq $k.provider "vault-transit" -}}vault-token{{- else -}}{{ $k.local.secretKey }}{{- end -}}
{{- end -}}

{{/* Environment: HAVEN_KMS and the chosen adapter's variables (secrets as files, never values). */}}
{{- define "haven.kmsEnv" -}}
{{- $k := .Values.kms -}}
- name: HAVEN_KMS
  value: {{ $k.provider | quote }}
{{- if eq $k.provider "local" }}
- name: HAVEN_KEYRING_FILE
  value: /etc/haven/keyring/{{ $k.local.secretKey }}
{{- else if eq $k.provider "pkcs11" }}
- name: HAVEN_PKCS11_MODULE
  value: {{ $k.pkcs11.module | quote }}
- name: HAVEN_PKCS11_TOKEN_LABEL
  value: {{ $k.pkcs11.tokenLabel | quote }}
- name: HAVEN_PKCS11_PIN_FILE
  value: /etc/haven/keyring/pkcs11-pin
- name: HAVEN_PKCS11_KEY_PREFIX
  value: {{ $k.pkcs11.keyPrefix | quote }}
{{- range $name, $value := $k.pkcs11.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- else if eq $k.provider "vault-transit" }}
- name: HAVEN_VAULT_ADDR
  value: {{ $k.vault.address | quote }}
- name: HAVEN_VAULT_TOKEN_FILE
  value: /etc/haven/keyring/vault-token
- name: HAVEN_VAULT_TRANSIT_KEY
  value: {{ $k.vault.transitKey | quote }}
- name: HAVEN_VAULT_TRANSIT_MOUNT
  value: {{ $k.vault.mount | quote }}
{{- with $k.vault.namespace }}
- name: HAVEN_VAULT_NAMESPACE
  value: {{ . | quote }}
{{- end }}
{{- if $k.vault.caSecret.name }}
- name: HAVEN_VAULT_CA_FILE
  value: /etc/haven/kms-ca/{{ $k.vault.caSecret.key }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The init container copying the KMS secret 0600 into the memory-backed `keyring` volume. */}}
{{- define "haven.kmsInitContainer" -}}
{{- $v := .Values -}}
# The KMS secret (keyring, PIN or token) must be mode 0600 (the services refuse group-readable secret files) and
# the keyring writable for rotation; secret volumes with fsGroup are 0440, so copy it into a memory-backed emptyDir.
- name: keyring
  image: {{ include "haven.image" . | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  args:
    - -e
    - >-
      const fs = require('node:fs');
      const src = '/etc/haven/keyring-secret/{{ include "haven.kmsSecretFile" . }}';
      const dst = '/etc/haven/keyring/{{ include "haven.kmsSecretFile" . }}';
      fs.copyFileSync(src, dst); fs.chmodSync(dst, 0o600);
  securityContext:
    {{- include "haven.containerSecurityContext" dict | nindent 4 }}
  resources:
    {{- toYaml $v.helperResources | nindent 4 }}
  volumeMounts:
    - name: keyring-secret
      mountPath: /etc/haven/keyring-secret
      readOnly: true
    - name: keyring
      mountPath: /etc/haven/keyring
{{- end -}}

{{/* Volume mounts of a container that opens the KMS. */}}
{{- define "haven.kmsMounts" -}}
{{- $k := .Values.kms -}}
- name: keyring
  mountPath: /etc/haven/keyring
{{- if and (eq $k.provider "pkcs11") $k.pkcs11.volume }}
- name: kms-module
  mountPath: {{ $k.pkcs11.mountPath }}
  readOnly: true
{{- end }}
{{- if and (eq $k.provider "vault-transit") $k.vault.caSecret.name }}
- name: kms-ca
  mountPath: /etc/haven/kms-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Volumes of a pod with a container that opens the KMS. */}}
{{- define "haven.kmsVolumes" -}}
{{- $k := .Values.kms -}}
- name: keyring-secret
  secret:
    defaultMode: 0440
    {{- if eq $k.provider "pkcs11" }}
    secretName: {{ $k.pkcs11.pinSecret.name }}
    items:
      - { key: {{ $k.pkcs11.pinSecret.key }}, path: pkcs11-pin }
    {{- else if eq $k.provider "vault-transit" }}
    secretName: {{ $k.vault.tokenSecret.name }}
    items:
      - { key: {{ $k.vault.tokenSecret.key }}, path: vault-token }
    {{- else }}
    secretName: {{ include "haven.keyringSecretName" . }}
    {{- end }}
- name: keyring
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
{{- if and (eq $k.provider "pkcs11") $k.pkcs11.volume }}
- name: kms-module
  {{- toYaml $k.pkcs11.volume | nindent 2 }}
{{- end }}
{{- if and (eq $k.provider "vault-transit") $k.vault.caSecret.name }}
- name: kms-ca
  secret:
    secretName: {{ $k.vault.caSecret.name }}
    defaultMode: 0440
    items:
      - { key: {{ $k.vault.caSecret.key }}, path: {{ $k.vault.caSecret.key }} }
{{- end }}
{{- end -}}

{{/* NetworkPolicy egress rules to a network HSM or to Vault (nothing for the local keyring). */}}
{{- define "haven.kmsEgress" -}}
{{- $k := .Values.kms -}}
{{- if and (eq $k.provider "pkcs11") $k.pkcs11.egressPorts }}
# the network HSM (PKCS#11)
- {{- if $k.pkcs11.egressCidrs }}
  to:
    {{- range $k.pkcs11.egressCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
  ports:
    {{- range $k.pkcs11.egressPorts }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- else if eq $k.provider "vault-transit" }}
# Vault / OpenBao Transit
- {{- if $k.vault.egressCidrs }}
  to:
    {{- range $k.vault.egressCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
  ports:
    - port: {{ $k.vault.port }}
      protocol: TCP
{{- end }}
{{- end -}}
