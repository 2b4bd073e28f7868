#!/usr/bin/env bash
# The Debian packages of this build's programs: scripts/package.sh --bin-dir (no second build),
# unpacked with dpkg-deb into a temporary root (never installed: this machine's PID 1 is not
# systemd), then checked there: the files each package must ship, conffiles, control fields,
# maintainer scripts (sh -n), both units (systemd-analyze verify --root), the unpacked programs'
# --version against the CMake project version, and the installed bash completion (in bash) and
# zsh completion (zsh -n, and compinit finds it). lintian is not run here (20-40 s on this
# machine): scripts/package.sh runs it.
# Usage: debs_test.sh SOURCE_DIR BIN_DIR CMAKE_VERSION. Exit 77 (skipped) without dpkg-deb.
set -euo pipefail
repo=$1
bin_dir=$2
version=$3
here=$(cd "$(dirname "$0")" && pwd)
command -v dpkg-deb >/dev/null || { echo "dpkg-deb missing: skipped"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

start=$SECONDS
"$repo/scripts/package.sh" --bin-dir "$bin_dir" --out "$tmp/debs" --fast --no-lintian
echo "packaged in $((SECONDS - start)) s"

root=$tmp/root
mkdir -p "$root" "$tmp/control"
for pkg in fleet-cmdr orb-jobs-agent fleetctl; do
  debs=("$tmp/debs/${pkg}_"*.deb)
  [[ ${#debs[@]} -eq 1 && -f "${debs[0]}" ]] || { fail "no single $pkg .deb: ${debs[*]}"; continue; }
  dpkg-deb -x "${debs[0]}" "$root"
  dpkg-deb -e "${debs[0]}" "$tmp/control/$pkg"
  # The Debian version starts with the CMake version.
  deb_version=$(dpkg-deb -f "${debs[0]}" Version)
  [[ "$deb_version" == "$version"[-~+]* ]] || fail "$pkg: Version $deb_version is not $version"
  [[ "$(dpkg-deb -f "${debs[0]}" Package)" == "$pkg" ]] || fail "$pkg: wrong Package field"
  grep -q '^Depends: .*libc6' "$tmp/control/$pkg/control" || fail "$pkg: no libc6 in Depends"
  for file in "usr/bin/$pkg" "usr/share/doc/$pkg/copyright" "usr/share/doc/$pkg/changelog.Debian.gz"; do
    [[ -f "$root/$file" ]] || fail "$pkg: no /$file"
  done
  # Maintainer scripts: POSIX sh that parses, with set -e.
  for script in postinst prerm postrm; do
    [[ -f "$tmp/control/$pkg/$script" ]] || continue
    [[ -x "$tmp/control/$pkg/$script" ]] || fail "$pkg $script is not executable"
    [[ "$(head -1 "$tmp/control/$pkg/$script")" == "#!/bin/sh" ]] || fail "$pkg $script: not #!/bin/sh"
    grep -q '^set -e' "$tmp/control/$pkg/$script" || fail "$pkg $script: no set -e"
    sh -n "$tmp/control/$pkg/$script" || fail "$pkg $script: sh -n"
  done
done

# The daemons: a unit, a man page in section 8, a system user made in postinst.
for pkg in fleet-cmdr orb-jobs-agent; do
  [[ -f "$root/lib/systemd/system/$pkg.service" ]] || fail "$pkg: no unit"
  [[ -f "$root/usr/share/man/man8/$pkg.8.gz" ]] || fail "$pkg: no man page"
  grep -q "adduser --system" "$tmp/control/$pkg/postinst" || fail "$pkg: postinst makes no user"
  grep -q "User=$pkg" "$root/lib/systemd/system/$pkg.service" || fail "$pkg: unit not User=$pkg"
  grep -q '^Depends: .*adduser' "$tmp/control/$pkg/control" || fail "$pkg: no adduser in Depends"
done
# Schedules' time zones are read from the system's zoneinfo (docs/decisions/0022).
grep -q '^Depends: .*tzdata' "$tmp/control/fleet-cmdr/control" || fail "fleet-cmdr: no tzdata in Depends"
[[ -f "$root/usr/share/man/man1/fleetctl.1.gz" ]] || fail "fleetctl: no man page"
# Conffiles: exactly the configuration files, which are in the package.
[[ "$(cat "$tmp/control/fleet-cmdr/conffiles")" == "/etc/fleet-cmdr/fleet-cmdr.toml" ]] ||
  fail "fleet-cmdr conffiles: $(cat "$tmp/control/fleet-cmdr/conffiles")"
[[ "$(cat "$tmp/control/orb-jobs-agent/conffiles")" == "/etc/orb-jobs-agent/agent.toml" ]] ||
  fail "orb-jobs-agent conffiles: $(cat "$tmp/control/orb-jobs-agent/conffiles")"
[[ ! -e "$tmp/control/fleetctl/conffiles" ]] || fail "fleetctl has conffiles"
for conffile in /etc/fleet-cmdr/fleet-cmdr.toml /etc/orb-jobs-agent/agent.toml; do
  [[ -f "$root$conffile" ]] || fail "no $conffile"
done
grep -q '^Type=notify' "$root/lib/systemd/system/fleet-cmdr.service" || fail "fleet-cmdr not Type=notify"
grep -q '^WatchdogSec=' "$root/lib/systemd/system/fleet-cmdr.service" || fail "fleet-cmdr: no WatchdogSec"

# The units, verified inside the root. The root gets the host's own units first (sysinit.target
# and the rest of what a service depends on by default), without replacing the packaged ones;
# Documentation=man:... is looked up by the host's man, in the root's pages.
if command -v systemd-analyze >/dev/null && [[ -d /lib/systemd/system ]]; then
  cp -an /lib/systemd/system/. "$root/lib/systemd/system/"
  for unit in fleet-cmdr.service orb-jobs-agent.service; do
    if ! out=$(MANPATH="$root/usr/share/man" systemd-analyze verify --root="$root" "$unit" 2>&1) ||
       grep -q "${unit%.service}" <<<"$out"; then
      fail "systemd-analyze verify $unit: $out"
    fi
  done
else
  fail "systemd-analyze or /lib/systemd/system missing: run scripts/install-deps.sh"
fi

# The unpacked programs say the CMake version.
for program in fleet-cmdr orb-jobs-agent fleetctl; do
  said=$("$root/usr/bin/$program" --version | head -1)
  [[ "$said" == "$program $version" || "$said" == "$program $version (git "*")" ]] ||
    fail "$program --version: '$said', wanted $version"
done

# Completion: the installed files are what the installed fleetctl generates; bash for real.
completion=$root/usr/share/bash-completion/completions/fleetctl
cmp -s "$completion" <("$root/usr/bin/fleetctl" completion bash) || fail "bash completion differs"
"$here/completion_test.sh" "$root/usr/bin/fleetctl" "$completion" || fail "bash completion"
zsh_completion=$root/usr/share/zsh/vendor-completions/_fleetctl
cmp -s "$zsh_completion" <("$root/usr/bin/fleetctl" completion zsh) || fail "zsh completion differs"
if command -v zsh >/dev/null; then
  zsh -n "$zsh_completion" || fail "zsh -n _fleetctl"
  found=$(zsh -fc "fpath=(${zsh_completion%/*} \$fpath); autoload -Uz compinit;
                   compinit -u -d $tmp/zcompdump; print -r -- \$_comps[fleetctl]")
  [[ "$found" == "_fleetctl" ]] || fail "zsh compinit does not find _fleetctl: '$found'"
else
  echo "zsh not installed: its completion is not checked"
fi

if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "packages ok in $((SECONDS - start)) s"
