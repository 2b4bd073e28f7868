#!/usr/bin/env bash
# Builds the Debian packages of orb-jobs: fleet-cmdr, orb-jobs-agent and fleetctl, each a .deb made
# with dpkg-deb from a staging tree (no debian/ source package: docs/decisions/0009-debian-packages.md
# says why, and what of debhelper's work is done here by hand).
#
# Usage: scripts/package.sh [--bin-dir DIR] [--out DIR] [--fast] [--no-lintian]
#   --bin-dir DIR  take fleet-cmdr, orb-jobs-agent and fleetctl (and orb-jobs-agent.map) from DIR
#                  instead of building the release preset (the ctest package.debs uses the dev
#                  build's: no second build in CI)
#   --out DIR      where the .deb files go (default build/packages); emptied of old .debs first
#   --fast         gzip -1 instead of xz -6 (the same packages, bigger: for the test)
#   --no-lintian   do not run lintian (scripts/install-deps.sh --packaging installs it)
# Environment: ORB_DEB_MAINTAINER ("Name <address>"), ORB_DEB_REVISION (Debian revision, 1).
#
# The version is the top-level CMakeLists.txt's project(VERSION), checked against the programs'
# --version. A release is the git tag v<version> on HEAD: its packages are <version>-1. Other
# commits get <version>~git<count>.<commit>-1 before that tag exists (they sort below the
# release), <version>+git<count>.<commit>-1 after it; a tree with changes adds ".dirty"; without git
# (a tarball) the version is <version>-1. A tag v* on HEAD that is not v<version> is an error.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=""
out="$repo/build/packages"
run_lintian=1
compression=(-Zxz)
while (($#)); do
  case "$1" in
    --bin-dir) bin_dir=$(cd "$2" && pwd); shift 2 ;;
    --out) out=$2; shift 2 ;;
    --fast) compression=(-Zgzip -z1); shift ;;
    --no-lintian) run_lintian=0; shift ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
fail() { echo "package.sh: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps help2man; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/install-deps.sh"
done

# ---- the version ----
version=$(sed -n 's/^project(orb_jobs VERSION \([0-9][0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
[[ -n "$version" ]] || fail "no project(orb_jobs VERSION ...) in CMakeLists.txt"
revision=unknown
deb_upstream=$version
source_date=$(date +%s)
if command -v git >/dev/null && top=$(git -C "$repo" rev-parse --show-toplevel 2>/dev/null) &&
   [[ "$(realpath "$top")" == "$repo" ]]; then
  commit=$(git -C "$repo" rev-parse --short=12 HEAD)
  revision=$commit
  dirty=""
  if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]]; then
    dirty=.dirty
    revision+=-dirty
  fi
  source_date=$(git -C "$repo" log -1 --format=%ct)
  head_tags=$(git -C "$repo" tag --points-at HEAD --list 'v*')
  if [[ -n "$head_tags" ]] && ! grep -qx "v$version" <<<"$head_tags"; then
    fail "HEAD is tagged $(tr '\n' ' ' <<<"$head_tags")but CMakeLists.txt says $version: a release is the tag v$version"
  fi
  if grep -qx "v$version" <<<"$head_tags" && [[ -z "$dirty" ]]; then
    deb_upstream=$version
  elif git -C "$repo" rev-parse -q --verify "refs/tags/v$version" >/dev/null &&
       git -C "$repo" merge-base --is-ancestor "v$version" HEAD; then
    deb_upstream="$version+git$(git -C "$repo" rev-list --count "v$version..HEAD").$commit$dirty"
  else
    deb_upstream="$version~git$(git -C "$repo" rev-list --count HEAD).$commit$dirty"
  fi
fi
deb_version="$deb_upstream-${ORB_DEB_REVISION:-1}"
maintainer=${ORB_DEB_MAINTAINER:-orb-jobs maintainers <orb-jobs@example.org>}
export SOURCE_DATE_EPOCH=$source_date
arch=$(dpkg --print-architecture)

# ---- the programs ----
if [[ -z "$bin_dir" ]]; then
  (cd "$repo" && cmake --preset release >/dev/null &&
     cmake --build --preset release --target fleet-cmdr orb-jobs-agent fleetctl)
  bin_dir="$repo/build/release/src/main"
fi
for program in fleet-cmdr orb-jobs-agent fleetctl; do
  [[ -x "$bin_dir/$program" ]] || fail "$bin_dir/$program is missing"
  said=$("$bin_dir/$program" --version | head -1)
  [[ "$said" == "$program $version" || "$said" == "$program $version ("* ]] ||
    fail "$bin_dir/$program --version says '$said', not $version: rebuild it"
  [[ "$said" == *"(git $revision)" || "$revision" == unknown ]] ||
    echo "package.sh: warning: $bin_dir/$program was built from another commit ($said; HEAD is $revision)" >&2
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debian" && : >"$work/debian/control"  # dpkg-shlibdeps reads it (empty is enough)
mkdir -p "$out"
rm -f "$out"/*.deb

# ---- helpers ----
# install_file MODE SOURCE PKG PATH: SOURCE as /PATH of the package.
install_file() { install -D -m "$1" "$2" "$work/debian/$3/$4"; }
# strip_program PKG NAME: /usr/bin/NAME without symbols, as dh_strip does.
strip_program() {
  install_file 0755 "$bin_dir/$2" "$1" "usr/bin/$2"
  strip --remove-section=.comment --remove-section=.note "$work/debian/$1/usr/bin/$2"
}
# man_page PKG NAME SECTION DESCRIPTION [help2man options]: from the program's --help.
man_page() {
  local pkg=$1 name=$2 section=$3 description=$4; shift 4
  local page="$work/debian/$pkg/usr/share/man/man$section/$name.$section"
  mkdir -p "$(dirname "$page")"
  # By name on PATH, so that its usage lines say "fleetctl", not a path.
  PATH="$work/debian/$pkg/usr/bin:$PATH" help2man --no-info --no-discard-stderr \
    --section="$section" --name="$description" --version-string="$version" \
    --include="$repo/packaging/man/$name.h2m" "$@" --output="$page" "$name"
  gzip -9n "$page"
}
# docs PKG: copyright, changelog.Debian.gz (Debian's changelog format) and README.Debian.
docs() {
  local doc="$work/debian/$1/usr/share/doc/$1"
  install -D -m 0644 "$repo/packaging/debian/copyright" "$doc/copyright"
  {
    echo "orb-jobs ($deb_version) bookworm; urgency=medium"
    echo
    echo "  * orb-jobs $version, git revision $revision."
    echo "  * Built by scripts/package.sh; the changes are in the project's git history."
    echo
    echo " -- $maintainer  $(date -R -u -d "@$source_date")"
  } >"$doc/changelog.Debian"
  gzip -9n "$doc/changelog.Debian"
  if [[ -f "$repo/packaging/debian/$1.README.Debian" ]]; then
    install -m 0644 "$repo/packaging/debian/$1.README.Debian" "$doc/README.Debian"
  fi
}
# maintainer_scripts PKG: postinst, prerm, postrm from packaging/debian.
maintainer_scripts() {
  local script
  for script in postinst prerm postrm; do
    if [[ -f "$repo/packaging/debian/$1.$script" ]]; then
      install -D -m 0755 "$repo/packaging/debian/$1.$script" "$work/debian/$1/DEBIAN/$script"
    fi
  done
}
# built_using: the source packages whose archives the agent's link map shows were linked in
# (Built-Using; glibc's libc_nonshared.a aside), as "src (= version), ...". One dpkg-query for all.
built_using() {
  local map="$bin_dir/orb-jobs-agent.map" archives packages
  [[ -f "$map" ]] || return 0
  mapfile -t archives < <(grep -oE '^/usr/[^ (]+\.a\(' "$map" | sed 's/($//' | sort -u |
                            grep -v '/libc_nonshared\.a$')
  ((${#archives[@]})) || return 0
  mapfile -t packages < <(dpkg-query -S "${archives[@]}" 2>/dev/null | cut -d: -f1 | sort -u)
  ((${#packages[@]})) || return 0
  dpkg-query -W -f='${source:Package} (= ${source:Version})\n' "${packages[@]}" | sort -u |
    paste -sd, | sed 's/,/, /g'
}
# shlibs PKG...: each package's shared library dependencies (dpkg-shlibdeps), into
# $work/PKG.shlibs; the packages at once, since each call mostly waits on dpkg's database.
shlibs() {
  local pkg pids=()
  for pkg in "$@"; do
    (cd "$work" && dpkg-shlibdeps -O "$work/debian/$pkg/usr/bin/"* 2>/dev/null |
       sed -n 's/^shlibs:Depends=//p' >"$work/$pkg.shlibs") &
    pids+=($!)
  done
  for pkg in "${pids[@]}"; do wait "$pkg"; done
}
# control PKG FIELDS DESCRIPTION: DEBIAN/control with the shared libraries' Depends first.
control() {
  local pkg=$1 fields=$2 description=$3 dir="$work/debian/$1" depends size
  depends=$(<"$work/$pkg.shlibs")
  [[ -n "$depends" ]] || fail "dpkg-shlibdeps found no dependency for $pkg"
  if grep -q '^Depends: ' <<<"$fields"; then
    depends+=", $(sed -n 's/^Depends: //p' <<<"$fields")"
  fi
  size=$(du -sk --apparent-size --exclude=DEBIAN "$dir" | cut -f1)
  {
    echo "Package: $pkg"
    echo "Source: orb-jobs"
    echo "Version: $deb_version"
    echo "Architecture: $arch"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $size"
    echo "Depends: $depends"
    grep -v '^Depends: ' <<<"$fields" || true
    echo "Section: admin"
    echo "Priority: optional"
    echo "Description: $description"
  } | sed '/^$/d' >"$dir/DEBIAN/control.new"
  mv "$dir/DEBIAN/control.new" "$dir/DEBIAN/control"
}
# build PKG: md5sums, modes, timestamps, then the .deb.
build() {
  local dir="$work/debian/$1"
  (cd "$dir" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z |
     xargs -0r md5sum >DEBIAN/md5sums)
  find "$dir" -type d -exec chmod 0755 {} +
  chmod 0644 "$dir/DEBIAN/control" "$dir/DEBIAN/md5sums"
  [[ -f "$dir/DEBIAN/conffiles" ]] && chmod 0644 "$dir/DEBIAN/conffiles"
  find "$dir" -newermt "@$source_date" -exec touch -h -d "@$source_date" {} +
  dpkg-deb --root-owner-group "${compression[@]}" --build "$dir" "$out/${1}_${deb_version}_$arch.deb" >/dev/null
  echo "package.sh: $out/${1}_${deb_version}_$arch.deb"
}

# ---- the files of each package ----
pkg=fleet-cmdr
mkdir -p "$work/debian/$pkg/DEBIAN"
strip_program $pkg fleet-cmdr
install_file 0644 "$repo/packaging/fleet-cmdr.service" $pkg lib/systemd/system/fleet-cmdr.service
install_file 0644 "$repo/packaging/fleet-cmdr.toml" $pkg etc/fleet-cmdr/fleet-cmdr.toml
install_file 0644 "$repo/packaging/nginx/fleet-cmdr.conf" $pkg \
  usr/share/doc/fleet-cmdr/examples/nginx-fleet-cmdr.conf
echo /etc/fleet-cmdr/fleet-cmdr.toml >"$work/debian/$pkg/DEBIAN/conffiles"
man_page $pkg fleet-cmdr 8 "the orb-jobs control plane" --help-option="serve --help"
docs $pkg
maintainer_scripts $pkg

pkg=orb-jobs-agent
mkdir -p "$work/debian/$pkg/DEBIAN"
strip_program $pkg orb-jobs-agent
install_file 0644 "$repo/packaging/orb-jobs-agent.service" $pkg \
  lib/systemd/system/orb-jobs-agent.service
install_file 0644 "$repo/packaging/agent.toml" $pkg etc/orb-jobs-agent/agent.toml
echo /etc/orb-jobs-agent/agent.toml >"$work/debian/$pkg/DEBIAN/conffiles"
# The statically linked libraries (README's "How it is built"), on purpose: the reason is in
# the overrides file.
install_file 0644 "$repo/packaging/debian/orb-jobs-agent.lintian-overrides" $pkg \
  usr/share/lintian/overrides/orb-jobs-agent
man_page $pkg orb-jobs-agent 8 "runs jobs from fleet-cmdr on this host"
docs $pkg
maintainer_scripts $pkg

pkg=fleetctl
mkdir -p "$work/debian/$pkg/DEBIAN"
strip_program $pkg fleetctl
# Each command's --help, as a COMMANDS section of the man page.
commands_h2m="$work/fleetctl-commands.h2m"
{
  echo "[COMMANDS]"
  for command in $("$bin_dir/fleetctl" --help | sed -n '/^Subcommands:/,/^$/s/^  \([a-z]\+\) .*/\1/p'); do
    echo ".SS $command"
    echo ".nf"
    "$bin_dir/fleetctl" "$command" --help | tail -n +2 | sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"
    echo ".fi"
  done
} >"$commands_h2m"
man_page $pkg fleetctl 1 "the operator command line of orb-jobs" --include="$commands_h2m"
"$bin_dir/fleetctl" completion bash >"$work/fleetctl.bash"
"$bin_dir/fleetctl" completion zsh >"$work/_fleetctl"
install_file 0644 "$work/fleetctl.bash" $pkg usr/share/bash-completion/completions/fleetctl
install_file 0644 "$work/_fleetctl" $pkg usr/share/zsh/vendor-completions/_fleetctl
docs $pkg

# ---- control files and packages ----
shlibs fleet-cmdr orb-jobs-agent fleetctl
control fleet-cmdr "Depends: adduser, tzdata
Suggests: nginx" "control plane of orb-jobs, remote jobs on a fleet of hosts
 fleet-cmdr keeps a queue of jobs per host, hands them out to the orb-jobs
 agents by a dispatch rule that never runs two conflicting jobs at once,
 records every run, progress event and log line, and streams every change to
 its web UI. It serves a REST API (used by fleetctl), the agents' long-poll
 API and a WebSocket event stream, over an embedded SQLite store.
 .
 This package runs it as the fleet-cmdr service (user fleet-cmdr, state in
 /var/lib/fleet-cmdr, configuration in /etc/fleet-cmdr/fleet-cmdr.toml)."
build fleet-cmdr

agent_built_using=$(built_using)
control orb-jobs-agent "Depends: adduser
Recommends: libsystemd0${agent_built_using:+
Built-Using: $agent_built_using}" "agent of orb-jobs: runs jobs from fleet-cmdr on this host
 orb-jobs-agent asks fleet-cmdr for jobs (a long-poll wakes it within
 milliseconds of a new one) and runs the job types of a game-server host:
 installing and updating builds, starting and stopping instances, backing up,
 verifying, restoring and pruning backups, syncing mods. Each job is safe to
 retry and to cancel; progress and results go through a journal that survives
 crashes. Instances outlive the agent.
 .
 This package runs it as the orb-jobs-agent service (user orb-jobs-agent,
 state in /var/lib/orb-jobs-agent, servers under /srv/orb, configuration in
 /etc/orb-jobs-agent/agent.toml); it starts once /etc/orb-jobs-agent/token
 holds the token of fleetctl enroll."
build orb-jobs-agent

control fleetctl "" "command line for orb-jobs' control plane
 fleetctl is the operator's command line over fleet-cmdr's REST API and event
 stream: list agents and jobs, enroll agents, enqueue, cancel and retry jobs,
 follow their progress and logs live, upload artifacts and manage API tokens.
 Every command has --output json for scripts. Bash and zsh completion
 included."
build fleetctl

# ---- lintian ----
if ((run_lintian)); then
  if command -v lintian >/dev/null; then
    # Warnings that cannot be fixed without a debian/ source package are listed with their reason in
    # docs/decisions/0009-debian-packages.md; errors fail.
    lintian --fail-on error --tag-display-limit 0 "$out"/*_"$deb_version"_"$arch".deb
    echo "package.sh: lintian: no error"
  else
    echo "package.sh: lintian not installed (scripts/install-deps.sh --packaging): not run" >&2
  fi
fi
