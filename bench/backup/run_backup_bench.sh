#!/usr/bin/env bash
# run_backup_bench.sh: BACKUP_INSTANCE and VERIFY_BACKUP (level full) throughput on a tree of mixed
# file sizes, side by side with `tar --zstd -cf` and `sha256sum` on the same tree
# (results in docs/benchmarks.md, "Backups"). SIZE_MIB (default 1024) sets the tree's size; use 256
# on a busy machine. Build first (release for real figures):
#   cmake --preset release && cmake --build --preset release --target backup_bench
#   bench/backup/run_backup_bench.sh [SIZE_MIB] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib="${1:-1024}"
bin="${2:-build/release}/bench/backup/backup_bench"
[[ -x "${bin}" ]] || { echo "build backup_bench first (${bin})" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/orb-backup-bench-XXXXXX")"
trap 'rm -rf "${work}"' EXIT
data="${work}/root/instances/bench/data"
mkdir -p "${data}"

# Mixed sizes like a game world: 45 % in 4-64 MiB region files, 35 % in 64 KiB-1 MiB chunks,
# 20 % in 1-16 KiB configs and player files. Content is half random, half repetitive, so zstd
# has something to do without everything compressing away.
python3 - "${data}" "${size_mib}" <<'PY'
import os, random, sys
root, total = sys.argv[1], int(sys.argv[2]) << 20
rng = random.Random(42)
def content(n):
    half = n // 2
    return os.urandom(half) + (b"minecraft:stone " * (n // 16 + 1))[: n - half]
shares = [(0.45, 4 << 20, 64 << 20, "region"), (0.35, 64 << 10, 1 << 20, "chunks"),
          (0.20, 1 << 10, 16 << 10, "players")]
for share, lo, hi, name in shares:
    budget, i = int(total * share), 0
    while budget > 0:
        n = min(budget, rng.randint(lo, hi))
        d = os.path.join(root, name, str(i % 32))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.dat"), "wb") as f:
            f.write(content(n))
        budget -= n
        i += 1
PY
files="$(find "${data}" -type f | wc -l)"
bytes="$(find "${data}" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')"
mb="$(awk -v b="${bytes}" 'BEGIN {printf "%.1f", b/1e6}')"
echo "tree: ${files} files, ${mb} MB; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
sync

rate() { awk -v b="${bytes}" -v s="$1" 'BEGIN {printf "%.1f", b/1e6/s}'; }
timed() { local t0 t1; t0="$(date +%s.%N)"; "$@" >/dev/null; t1="$(date +%s.%N)"; awk -v a="${t0}" -v b="${t1}" 'BEGIN {print b-a}'; }

# Warm the page cache equally for everyone, then measure ROUNDS (default 5) interleaved rounds
# and report each side's median: one sample on a shared 2-core VM varies by +-15 %.
rounds="${ROUNDS:-5}"
find "${data}" -type f -print0 | xargs -0 cat > /dev/null
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for f in tar tarsync sha backup verify; do : > "${work}/${f}.s"; done
for round in $(seq "${rounds}"); do
  rm -f "${work}/tar.tar.zst"
  timed tar --zstd -cf "${work}/tar.tar.zst" -C "${data}" . >> "${work}/tar.s"
  rm -f "${work}/tar.tar.zst"
  # The same, ending with the archive on disk as BACKUP_INSTANCE's is before it commits.
  timed bash -c "tar --zstd -cf '${work}/tar.tar.zst' -C '${data}' . && sync '${work}/tar.tar.zst'" \
    >> "${work}/tarsync.s"
  timed bash -c "find '${data}' -type f -print0 | xargs -0 sha256sum" >> "${work}/sha.s"
  rm -rf "${work}/root/backups" "${work}/root/.staging"
  "${bin}" "${work}/root" bench > "${work}/orb.txt"
  awk '/^BACKUP_INSTANCE/ {print $2}' "${work}/orb.txt" >> "${work}/backup.s"
  awk '/^VERIFY_BACKUP/ {print $2}' "${work}/orb.txt" >> "${work}/verify.s"
  echo "round ${round}: tar $(tail -1 "${work}/tar.s") s, tar+sync $(tail -1 "${work}/tarsync.s") s," \
    "BACKUP $(tail -1 "${work}/backup.s") s, sha256sum $(tail -1 "${work}/sha.s") s," \
    "VERIFY $(tail -1 "${work}/verify.s") s"
done
tar_s="$(median < "${work}/tar.s")"
tarsync_s="$(median < "${work}/tarsync.s")"
sha_s="$(median < "${work}/sha.s")"
orb_backup_s="$(median < "${work}/backup.s")"
orb_verify_s="$(median < "${work}/verify.s")"

row() { printf '%-30s %8.2f %9s\n' "$1" "$2" "$(rate "$2")"; }
printf '\nmedians of %s rounds\n%-30s %8s %9s\n' "${rounds}" "what" "seconds" "MB/s"
row "BACKUP_INSTANCE (fsynced)" "${orb_backup_s}"
row "tar --zstd -cf" "${tar_s}"
row "tar --zstd -cf, then sync" "${tarsync_s}"
row "VERIFY_BACKUP (full)" "${orb_verify_s}"
row "sha256sum (all files)" "${sha_s}"
awk -v o="${orb_backup_s}" -v t="${tar_s}" -v ts="${tarsync_s}" -v v="${orb_verify_s}" \
  -v s="${sha_s}" 'BEGIN {
    printf "BACKUP: %.0f %% of tar, %.0f %% of tar then sync; VERIFY: %.0f %% of sha256sum\n",
      100 * t / o, 100 * ts / o, 100 * s / v }'
printf 'archive: orb %s bytes, tar %s bytes\n' \
  "$(stat -c %s "${work}/root/backups/bench/bench.tar.zst")" "$(stat -c %s "${work}/tar.tar.zst")"
