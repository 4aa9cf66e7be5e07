#!/usr/bin/env bash
# Mesa lavapipe 25.0.7 (bookworm-backports) + libdrm 2.4.123 + the Vulkan loader, unpacked with
# dpkg -x into ~/.cache/webaccel-lab/lavapipe/root; writes lvp_icd.abs.json (absolute library path).
# Debian 12's own lavapipe (22.3) gives Dawn no adapter. The system's apt sources are not touched:
# a private apt state in /tmp/webaccel-apt-bpo is used.
# Use:  eval "$(tools/node_runtime/lavapipe.sh)"   # prints the exports
set -euo pipefail
L="${WEBACCEL_LAB_CACHE:-$HOME/.cache/webaccel-lab}/lavapipe"
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
      mesa-vulkan-drivers libdrm2 libdrm-amdgpu1 libvulkan1 >&2 2>/dev/null)
  for f in "$L"/debs/*.deb; do dpkg -x "$f" "$L/root"; done
  lib="$L/root/usr/lib/x86_64-linux-gnu"
  sed "s#\"libvulkan_lvp.so\"#\"$lib/libvulkan_lvp.so\"#" \
    "$L/root/usr/share/vulkan/icd.d/lvp_icd.json" > "$icd"
fi
echo "export VK_DRIVER_FILES=$icd"
echo "export LD_LIBRARY_PATH=$L/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
