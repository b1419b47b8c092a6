#!/usr/bin/env bash
# Local stand-ins for the compose stack's base images, for machines that reach Debian's package
# mirror but no image registry (the project's CI). Users never run this: they pull python:3.11-slim,
# debian:bookworm-slim and postgres:16. Each image is built once and kept; run again, it does nothing.
#   hpo-local/debian:bookworm   a minbase root made by debootstrap (for debian:bookworm-slim)
#   hpo-local/python:3.11       Debian's Python 3.11 and pip, as `python` and `pip` (for python:3.11-slim)
#   hpo-local/postgres:15       Debian's Postgres 15 with the official image's POSTGRES_USER,
#                               POSTGRES_PASSWORD(_FILE), POSTGRES_DB, data folder and `-c` arguments
set -euo pipefail

have() { docker image inspect "$1" >/dev/null 2>&1; }
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT

if ! have hpo-local/debian:bookworm; then
    debootstrap --variant=minbase bookworm "$context/root" http://deb.debian.org/debian >/dev/null
    tar -C "$context/root" -c . | docker import - hpo-local/debian:bookworm >/dev/null
    rm -rf "$context/root"
fi

if ! have hpo-local/python:3.11; then
    docker build -q -t hpo-local/python:3.11 -f - "$context" >/dev/null <<'EOF'
FROM hpo-local/debian:bookworm
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3 python3-pip python3-venv ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/python3 /usr/local/bin/python && ln -s /usr/bin/pip3 /usr/local/bin/pip
# Debian marks its Python as managed by apt; pip installs beside it, as in python:3.11-slim.
ENV PIP_BREAK_SYSTEM_PACKAGES=1
EOF
fi

if ! have hpo-local/postgres:15; then
    cat > "$context/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# The official image's start-up, in short: create the cluster, user and database once.
set -eu
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"; fi
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    chown postgres "$pwfile"
    runuser -u postgres -- initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-host=scram-sha-256 --auth-local=trust >/dev/null
    rm -f "$pwfile"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    # A private socket while setting up, so no health check sees the server before its database exists.
    init_socket="$(mktemp -d)" && chown postgres "$init_socket"
    runuser -u postgres -- pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -k $init_socket" start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        runuser -u postgres -- psql -q -h "$init_socket" -U "$POSTGRES_USER" -d postgres \
            -c "CREATE DATABASE \"$POSTGRES_DB\""
    fi
    runuser -u postgres -- pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec runuser -u postgres -- "$@"
EOF
    chmod +x "$context/docker-entrypoint.sh"
    docker build -q -t hpo-local/postgres:15 -f - "$context" >/dev/null <<'EOF'
FROM hpo-local/debian:bookworm
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
EOF
fi
