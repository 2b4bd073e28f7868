# Shell helpers of the demos (scripts/run.sh, scripts/run-cluster.sh), sourced by them: calls of
# fleet-cmdr's REST API with curl at "$url" as the admin ("$admin_token"), and the sample game
# server packed and uploaded. Needs bash, curl, tar, gzip.

api() {  # METHOD PATH [BODY]: the response body; on a non-2xx answer prints it and fails
  local method=$1 path=$2 body=${3:-} out
  local args=(--fail-with-body -sS -X "$method" -H "Authorization: Bearer $admin_token")
  if [[ -n "$body" ]]; then args+=(-H 'Content-Type: application/json' --data "$body"); fi
  if ! out=$(curl "${args[@]}" "$url$path"); then
    echo "fleet-cmdr refused $method $path: $out" >&2
    return 1
  fi
  printf '%s\n' "$out"
}
json_field() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4; }  # first = the job's own
enqueue() {  # AGENT TYPE server|instance TARGET PAYLOAD IDEMPOTENCY-KEY: prints the job id
  local key=""
  [[ -n "$6" ]] && key=",\"idempotencyKey\":\"$6\""
  api POST /v1/jobs "{\"agentId\":\"$1\",\"type\":\"$2\",\"$3Id\":\"$4\",\"payload\":$5$key}" |
    json_field id
}
wait_job() {  # JOB SECONDS: prints the final status; fails unless COMPLETED
  local status=""
  for _ in $(seq 1 $(($2 * 10))); do
    status=$(api GET "/v1/jobs/$1" | json_field status)
    case "$status" in COMPLETED) echo "$status"; return 0 ;; FAILED | CANCELLED) echo "$status"; return 1 ;; esac
    sleep 0.1
  done
  echo "${status:-unknown}"
  return 1
}

# The sample game server (scripts/demo/sample-server), packed reproducibly (same bytes every time,
# so the same sha256 and an idempotent install) into DIR and uploaded. Sets sample_version,
# sample_sha and sample_size.
upload_sample() {  # DIR
  local sample=scripts/demo/sample-server archive="$1/sample-server.tar.gz" upload
  sample_version=$(cat "$sample/VERSION")
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$sample" -cf - . |
    gzip -n > "$archive"
  upload=$(curl -fsS -X PUT -H "Authorization: Bearer $admin_token" \
    -H 'Content-Type: application/octet-stream' --data-binary @"$archive" "$url/v1/artifacts")
  sample_sha=$(json_field sha256 <<<"$upload")
  sample_size=$(stat -c %s "$archive")
}
install_payload() {  # the INSTALL_SERVER payload of the uploaded sample
  echo "{\"buildId\":\"$sample_version\",\"artifact\":{\"url\":\"/v1/artifacts/$sample_sha\",\"sha256\":\"$sample_sha\",\"size\":$sample_size,\"format\":\"tar.gz\"},\"activate\":true}"
}
START_PAYLOAD='{"config":{"serverId":"sample","command":["bin/start.sh"],"stopCommand":"stop","stopTimeoutSeconds":10,"readyPattern":"Done \\(","readyTimeoutSeconds":30}}'
