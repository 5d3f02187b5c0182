{{/*
Janus configuration files, rendered from values. Secrets are NOT in here: the placeholders
@ADMIN_SECRET@, @TOKEN_SECRET@ and @EVENTS_SECRET@ are filled by the janus pod's init container from the secret,
into a memory-backed emptyDir, so the ConfigMap carries no secret value.
Per-node settings (RTP range, NAT 1:1, server name) are passed as janus command-line options.
*/}}
{{- define "haven.janusConfigFiles" -}}
{{- $v := .Values -}}
{{- $session := include "haven.componentName" (dict "root" . "component" "session") -}}
{{- /* Every top-level folder but the one the recordings live under (Janus compares string prefixes: each ends in /). */ -}}
{{- $recTop := first (splitList "/" (trimPrefix "/" $v.recordings.mountPath)) -}}
{{- $protected := list -}}
{{- range (list "bin" "boot" "dev" "etc" "home" "lib" "lib32" "lib64" "libx32" "media" "mnt" "opt" "proc" "root" "run" "sbin" "snap" "srv" "sys" "tmp" "usr" "var") -}}
{{- if ne . $recTop -}}{{- $protected = append $protected (printf "%q" (printf "/%s/" .)) -}}{{- end -}}
{{- end -}}
janus.jcfg: |
  general: {
    configs_folder = "/run/janus/conf"
    plugins_folder = "/usr/lib/janus/plugins"
    transports_folder = "/usr/lib/janus/transports"
    events_folder = "/usr/lib/janus/events"
    loggers_folder = "/usr/lib/janus/loggers"
    debug_level = {{ $v.janus.debugLevel }}
    debug_timestamps = true
    log_to_stdout = true
    session_timeout = {{ $v.janus.sessionTimeout }}
    admin_secret = "@ADMIN_SECRET@"
    # HMAC-signed core tokens: only the session service holds the secret (HAVEN_JANUS_TOKEN_SECRET); browsers
    # reach Janus only through its media proxy.
    token_auth = true
    token_auth_secret = "@TOKEN_SECRET@"
    # Recordings may be written only under {{ $v.recordings.mountPath }}: every other top-level folder is protected.
    protected_folders = [{{ join ", " $protected }}]
  }
  certificates: {
    # no certificate files: Janus generates its DTLS certificate in memory at start-up.
  }
  media: {
    dtls_timeout = 500
    nack_optimizations = true
  }
  nat: {
    nice_debug = false
    ice_ignore_list = "vmnet"
    full_trickle = true
  }
  plugins: {
    disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so"
  }
  transports: {
    disable = "libjanus_http.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so"
  }
  loggers: {
    disable = "libjanus_jsonlog.so"
  }
  events: {
    broadcast = {{ $v.janus.eventHandler.enabled }}
    disable = "libjanus_gelfevh.so,libjanus_mqttevh.so,libjanus_nanomsgevh.so,libjanus_rabbitmqevh.so,libjanus_wsevh.so"
  }
janus.plugin.videoroom.jcfg: |
  general: {
    {{- if $v.janus.videoroom.requireAdminKeyForCreate }}
    # Only the session service (which holds the admin secret) creates rooms and forwards RTP.
    admin_key = "@ADMIN_SECRET@"
    {{- end }}
    lock_rtp_forward = true
    # publish room and participant events to the event handler (media attribution, rooms/participants metrics)
    events = {{ $v.janus.eventHandler.enabled }}
    # numeric room and feed ids (the session service derives a room number from the visit id)
    string_ids = false
  }
janus.transport.websockets.jcfg: |
  {{- if $v.mtls.enabled }}
  # TLS only (mtls): the session service connects with wss:// and verifies the `janus` certificate of the CA.
  general: {
    json = "compact"
    ws = false
    wss = true
    wss_port = {{ $v.janus.wsPort }}
  }
  admin: {
    admin_ws = false
    admin_wss = true
    admin_wss_port = {{ $v.janus.adminPort }}
  }
  certificates: {
    cert_pem = "/etc/janus/tls/tls.crt"
    cert_key = "/etc/janus/tls/tls.key"
  }
  {{- else }}
  general: {
    json = "compact"
    ws = true
    ws_port = {{ $v.janus.wsPort }}
    wss = false
  }
  # Admin API over websockets too (janode, used by the session service, speaks websockets only).
  admin: {
    admin_ws = true
    admin_ws_port = {{ $v.janus.adminPort }}
    admin_wss = false
  }
  {{- end }}
janus.eventhandler.sampleevh.jcfg: |
  general: {
    enabled = {{ $v.janus.eventHandler.enabled }}
    events = "{{ $v.janus.eventHandler.events }}"
    grouping = true
    json = "compact"
    backend = "http://{{ $session }}:{{ $v.services.session.httpPort }}{{ $v.janus.eventHandler.path }}"
    # HTTP Basic towards the session service, which refuses event posts without it (HAVEN_JANUS_EVENTS_SECRET).
    backend_user = "janus"
    backend_pwd = "@EVENTS_SECRET@"
    max_retransmissions = 5
    retransmissions_backoff = 100
  }
{{- end -}}
