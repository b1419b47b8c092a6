#!/usr/bin/env bash
# CI's Docker for the compose test, on a Debian bookworm machine with no image registry in reach:
# the engine from Debian's docker.io, started here if it is not running; Compose v2 from the
# docker-compose package of Debian's next release (bookworm's own is Compose v1); then the local
# stand-ins for the base images. Each step is skipped when already done.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)  # not over an engine installed otherwise
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
    nohup dockerd >/var/log/hpo-ci-dockerd.log 2>&1 &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null
fi
if ! docker compose version >/dev/null 2>&1; then
    apt_dir="$(mktemp -d)"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    echo "deb http://deb.debian.org/debian trixie main" > "$apt_dir/sources.list"
    apt_options=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
    apt-get "${apt_options[@]}" update -qq
    (cd "$apt_dir" && apt-get "${apt_options[@]}" download docker-compose >/dev/null 2>&1)
    dpkg-deb -x "$apt_dir"/docker-compose_*.deb "$apt_dir/root"
    mkdir -p /usr/local/lib/docker/cli-plugins
    cp "$apt_dir/root/usr/libexec/docker/cli-plugins/docker-compose" /usr/local/lib/docker/cli-plugins/
    rm -rf "$apt_dir"
    docker compose version >/dev/null
fi
bash "$here/local_images.sh"
