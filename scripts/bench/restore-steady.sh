#!/bin/bash
# The steady restore protocol (docs/benchmarks.md): restic against IBS on a kept benchmark work
# dir, as root. Per run: sync, drop the page cache, read every repository and datastore file
# once (a warm store, nothing else cached), restore into a fresh target (earlier targets are
# removed only at the end: a big delete on a `discard` mount slows the next run), alternating.
#
#   bun scripts/bench/run.ts --size-gib 1 --tools ibs,restic --keep --work-dir /var/tmp/bench-keep
#   ironcore-backup run all --data-dir /var/tmp/bench-keep/ibs/server --quiet &   # its server again
#   scripts/bench/restore-steady.sh /var/tmp/bench-keep 3 [path/to/ironcore-backup]
set -euo pipefail
WORK=${1:?work dir of run.ts --keep}; RUNS=${2:-3}; BIN=${3:-$WORK/ibs-bin/ironcore-backup}
W=$WORK/ibs
export NO_COLOR=1 IBS_PASSWORD=$(cat $W/server/initial-admin-password) IBS_KEY_PASSPHRASE=ibs-bench-passphrase IBS_CLIENT_CONFIG_DIR=$W/client-config
export IBS_FINGERPRINT=$(openssl x509 -in $W/server/api.pem -noout -fingerprint -sha256 | cut -d= -f2)
export IBS_REPOSITORY="admin@ibs@127.0.0.1:$(grep -o '[0-9]*"$' $W/server/ironcore.toml | tr -d '"'):local"
export RESTIC_REPOSITORY=$WORK/restic/repo RESTIC_PASSWORD=ibs-bench-password RESTIC_CACHE_DIR=$WORK/restic/cache
SNAP=$("$BIN" snapshot list --output-format json | jq -r 'last | .snapshot')
TARGETS=$(mktemp -d "$WORK/steady-XXXX")
trap 'rm -rf "$TARGETS"' EXIT
for i in $(seq 1 "$RUNS"); do
  for tool in restic ibs; do
    sync; sleep 3
    echo 3 > /proc/sys/vm/drop_caches
    find "$W/server/datastores" "$RESTIC_REPOSITORY" -type f -print0 | xargs -0 cat > /dev/null
    if [ $tool = restic ]; then
      /usr/bin/time -f "run $i restic %e s %U+%S cpu %M KiB %R minflt" restic restore latest --target "$TARGETS/$i-restic" -q 2>&1 | tail -1
    else
      /usr/bin/time -f "run $i ibs    %e s %U+%S cpu %M KiB %R minflt" "$BIN" restore "$SNAP" --all "$TARGETS/$i-ibs" --keyfile "$W/bench.key" --output-format json 2>&1 >/dev/null | tail -1
    fi
  done
done
