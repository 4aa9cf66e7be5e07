#!/usr/bin/env bash
# Mesa lavapipe 25.0.7 (bookworm-backports) + libdrm 2.4.123 + the Vulkan loader, and whatever
# they need that this system lacks (libllvm15, the xcb libraries, ... on a bare machine), unpacked
# with dpkg -x into ~/.cache/webaccel-lab/lavapipe/root; writes lvp_icd.abs.json (absolute library
# path). Debian 12's own lavapipe (22.3) gives Dawn no adapter. Nothing system-wide changes: a
# private apt state in /tmp/webaccel-apt-bpo is used, and no package is installed.
# Use:  eval "$(tools/node_runtime/lavapipe.sh)"   # prints the exports
set -euo pipefail
L="${WEBACCEL_CACHE:-${WEBACCEL_LAB_CACHE:-$HOME/.cache/webaccel-lab}}/lavapipe"
A=/tmp/webaccel-apt-bpo
icd="$L/lvp_icd.abs.json"
if [ ! -s "$icd" ]; then
  mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$L/debs" "$L/root"
  cat > "$A/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main
SRC
  o=(-oDir::State::Lists="$A/lists" -oDir::Etc::SourceList="$A/sources.list" -oDir::Etc::SourceParts=/dev/null
     -oDir::Cache="$A/cache" -oAPT::Architecture=amd64 -oAPT::Architectures=amd64)
  apt-get "${o[@]}" update -qq >&2
  (cd "$L/debs" && apt-get "${o[@]}" download -t bookworm-backports \
      mesa-vulkan-drivers libdrm2 libdrm-amdgpu1 libvulkan1 >&2)
  # Their dependencies (and theirs, ...) that the system has not installed, from bookworm.
  installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1:amd64" 2>/dev/null ||
                     dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
  deps() {  # package names of a .deb's Depends/Pre-Depends (first of each alternative)
    { dpkg-deb -f "$1" Depends; echo ,; dpkg-deb -f "$1" Pre-Depends; } | tr ',' '\n' |
      sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' | grep -v '^$' || true
  }
  declare -A seen=()
  for f in "$L"/debs/*.deb; do seen[$(dpkg-deb -f "$f" Package)]=1; done
  queue=("$L"/debs/*.deb)
  while [ ${#queue[@]} -gt 0 ]; do
    f="${queue[0]}"; queue=("${queue[@]:1}")
    for p in $(deps "$f"); do
      [ -n "${seen[$p]:-}" ] && continue
      seen[$p]=1
      installed "$p" && continue
      echo "lavapipe.sh: fetching $p (not installed here)" >&2
      (cd "$L/debs" && apt-get "${o[@]}" download "$p" >&2) || { echo "cannot fetch $p" >&2; exit 1; }
      queue+=("$(ls "$L"/debs/"${p}"_*.deb | head -1)")
    done
  done
  for f in "$L"/debs/*.deb; do dpkg -x "$f" "$L/root"; done
  lib="$L/root/usr/lib/x86_64-linux-gnu"
  sed "s#\"libvulkan_lvp.so\"#\"$lib/libvulkan_lvp.so\"#" \
    "$L/root/usr/share/vulkan/icd.d/lvp_icd.json" > "$icd.tmp"
  mv "$icd.tmp" "$icd"
fi
echo "export VK_DRIVER_FILES=$icd"
echo "export LD_LIBRARY_PATH=$L/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
