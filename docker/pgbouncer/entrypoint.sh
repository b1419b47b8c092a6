#!/bin/sh
# Write PgBouncer's settings from the environment and start it. The password is read from a file
# (a compose secret), so it never appears in the container's environment or in `docker compose config`.
#   DB_HOST, DB_PORT (5432), DB_NAME, DB_USER, DB_PASSWORD_FILE, POOL_SIZE (20), MAX_CLIENTS (1000)
set -eu
conf=/tmp/pgbouncer
mkdir -p "$conf"
password="$(sed 's/"/""/g' "$DB_PASSWORD_FILE")"  # a quote in the password is doubled in the auth file
printf '"%s" "%s"\n' "$DB_USER" "$password" > "$conf/userlist.txt"
chmod 600 "$conf/userlist.txt"
cat > "$conf/pgbouncer.ini" <<INI
[databases]
$DB_NAME = host=$DB_HOST port=${DB_PORT:-5432} dbname=$DB_NAME user=$DB_USER
[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
auth_type = scram-sha-256
auth_file = $conf/userlist.txt
pool_mode = transaction
default_pool_size = ${POOL_SIZE:-20}
max_client_conn = ${MAX_CLIENTS:-1000}
ignore_startup_parameters = extra_float_digits
INI
exec pgbouncer "$conf/pgbouncer.ini"
