{{/*
Janus configuration files, rendered from values. Secrets are NOT in here: the placeholders
@ADMIN_SECRET@, @TOKEN_SECRET@ and @EVENTS_SECRET@ are filled by the janus pod's init container from the secret,
into a memory-backed emptyDir, so the ConfigMap carries no secret value.
Per-node settings (RTP range, NAT 1:1, server name) are passed as janus command-line options.
*/}}
{{- define "haven.janusConfigFiles" -}}
{{- $v := .Values -}}
{{- $session := include "haven.componentName" (dict "root" . "component" "session") -}}
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
    # HMAC-signed tokens minted by the session service on admit (HAVEN_JANUS_TOKEN_SECRET).
    token_auth = true
    token_auth_secret = "@TOKEN_SECRET@"
    # Recording paths are allowed only outside these folders; recordings live in {{ $v.recordings.mountPath }}.
    protected_folders = ["/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin", "/sys", "/usr", "/var", "/run", "/tmp"]
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
    # Only the session service (which holds the admin secret) creates and destroys rooms.
    admin_key = "@ADMIN_SECRET@"
    {{- end }}
    lock_rtp_forward = true
    # publish room and participant events to the event handler (rooms/participants metrics, admit latency)
    events = {{ $v.janus.eventHandler.enabled }}
    string_ids = true
  }
janus.transport.websockets.jcfg: |
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
