{{- define "aranya-perf.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "aranya-perf.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "aranya-perf.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "aranya-perf.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "aranya-perf.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The device address map spec: an address, or the connectivity Service through the Kubernetes API. */}}
{{- define "aranya-perf.target" -}}
{{- if .Values.target.address -}}
{{- .Values.target.address -}}
{{- else -}}
{{- $svc := .Values.target.kubernetesService -}}
{{- printf "k8s:%s/%s" $svc.namespace $svc.name -}}{{ if $svc.host }}?host={{ $svc.host }}{{ end -}}
{{- end -}}
{{- end -}}

{{/* What devices connect to: the link sidecar when there is one, else the target. */}}
{{- define "aranya-perf.deviceMap" -}}
{{- if not .Values.link.profile -}}
{{- include "aranya-perf.target" . -}}
{{- else if .Values.target.address -}}
{{- printf "127.0.0.1:%d" (int .Values.link.port) -}}
{{- else -}}
/tmp/aranya-link/devices.csv
{{- end -}}
{{- end -}}

{{/* Locust's --host: the operators' control service (a HOST:PORT target serves it too), else a
placeholder that devices never use: they connect through the address map. */}}
{{- define "aranya-perf.host" -}}
{{- if .Values.target.control -}}
{{- .Values.target.control -}}
{{- else if regexMatch "^[^:/]+:[0-9]+$" .Values.target.address -}}
{{- .Values.target.address -}}
{{- else if gt (int .Values.load.operators) 0 -}}
{{- fail "load.operators > 0 needs target.control (a reference gateway's control service)" -}}
{{- else -}}
127.0.0.1:1
{{- end -}}
{{- end -}}

{{- define "aranya-perf.env" -}}
- name: ARANYA_PERF_DEVICES
  value: {{ .Values.load.devices | quote }}
- name: ARANYA_PERF_OPERATORS
  value: {{ .Values.load.operators | quote }}
- name: ARANYA_PERF_PROTOCOL
  value: {{ .Values.load.protocol | quote }}
- name: ARANYA_PERF_ALLOW_REMOTE
  value: "1"
{{- if .Values.tls.secretName }}
- name: ARANYA_PERF_TLS_CA
  value: /etc/aranya-perf/tls/ca.crt
- name: ARANYA_PERF_TLS_CERT
  value: /etc/aranya-perf/tls/tls.crt
- name: ARANYA_PERF_TLS_KEY
  value: /etc/aranya-perf/tls/tls.key
{{- end }}
{{- if .Values.tls.serverName }}
- name: ARANYA_PERF_TLS_SERVER_NAME
  value: {{ .Values.tls.serverName | quote }}
{{- end }}
# The root file system is read-only: caches (matplotlib's, fontconfig's) and temporary files go to /tmp.
- name: HOME
  value: /tmp
- name: MPLCONFIGDIR
  value: /tmp/matplotlib
{{- end -}}

{{- define "aranya-perf.locustfile" -}}
/etc/aranya-perf/locustfiles/{{ .Values.locustfile }}
{{- end -}}

{{- define "aranya-perf.podCommon" -}}
serviceAccountName: {{ include "aranya-perf.serviceAccountName" . }}
securityContext: {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "aranya-perf.volumes" -}}
- name: config
  configMap:
    name: {{ include "aranya-perf.fullname" . }}
    items:
      {{- range $name, $_ := (include "aranya-perf.locustfileMap" . | fromYaml) }}
      - key: {{ printf "locustfile-%s" $name | quote }}
        path: {{ printf "locustfiles/%s" $name | quote }}
      {{- end }}
      {{- if .Values.profile }}
      - key: profile.toml
        path: profile.toml
      {{- end }}
      {{- if .Values.linkProfiles }}
      - key: links.toml
        path: links.toml
      {{- end }}
{{- if .Values.tls.secretName }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
{{- end }}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "aranya-perf.volumeMounts" -}}
- name: config
  mountPath: /etc/aranya-perf
  readOnly: true
{{- if .Values.tls.secretName }}
- name: tls
  mountPath: /etc/aranya-perf/tls
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "aranya-perf.locustfileMap" -}}
{{- if .Values.locustfiles -}}
{{- toYaml .Values.locustfiles -}}
{{- else -}}
locustfile.py: {{ .Files.Get "files/locustfile.py" | quote }}
{{- end -}}
{{- end -}}

{{/* The headless master's `aranya-perf run` flags (a YAML list; --out is the script's): the run's
target and size from the values, a master that binds for the worker Job and waits for it. */}}
{{- define "aranya-perf.runArgs" -}}
{{- $v := .Values -}}
{{- $args := list -}}
{{- if $v.profile -}}
{{- $args = append $args "--profile=/etc/aranya-perf/profile.toml" -}}
{{- end -}}
{{- $args = append $args (printf "--target=%s" (include "aranya-perf.target" .)) -}}
{{- if $v.target.control -}}
{{- $args = append $args (printf "--control=%s" $v.target.control) -}}
{{- end -}}
{{- $args = concat $args (list "--allow-remote" (printf "--protocol=%s" $v.load.protocol) (printf "--devices=%d" (int $v.load.devices)) (printf "--operators=%d" (int $v.load.operators)) (printf "--spawn-rate=%v" $v.load.spawnRate) (printf "--duration=%s" $v.load.runTime)) -}}
{{- $args = concat $args (list (printf "--remote-workers=%d" (int $v.workers.replicas)) (printf "--master-bind=0.0.0.0:%d" (int $v.master.service.workerPort)) (printf "--workers-wait=%s" $v.master.workersWait) (printf "--label=release=%s" .Release.Name)) -}}
{{- toYaml (concat $args $v.load.extraArgs) -}}
{{- end -}}

{{/* A container's securityContext: the values' (read-only root, no privilege escalation, no
capabilities); the netns link method adds root, NET_ADMIN and SYS_ADMIN (ip netns, veth, tbf). */}}
{{- define "aranya-perf.securityContext" -}}
{{- $sc := deepCopy .root.Values.containerSecurityContext -}}
{{- if .netns -}}
{{- $caps := get $sc "capabilities" | default dict -}}
{{- $_ := set $caps "add" (list "NET_ADMIN" "SYS_ADMIN") -}}
{{- $_ = set $sc "capabilities" $caps -}}
{{- $_ = set $sc "runAsUser" 0 -}}
{{- $_ = set $sc "runAsNonRoot" false -}}
{{- end -}}
{{- /* Rendered key by key: toYaml would leave the capability lists unindented. */ -}}
{{- range $key, $value := $sc }}
{{- if eq $key "capabilities" }}
capabilities:
  {{- range $kind, $names := $value }}
  {{ $kind }}: [{{ join ", " $names }}]
  {{- end }}
{{- else }}
{{ dict $key $value | toYaml | trimSuffix "\n" }}
{{- end }}
{{- end }}
{{- end -}}
