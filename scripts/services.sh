#!/usr/bin/env bash
# Start the local PostgreSQL and Redis the test suite uses, if they are not running (and
# install nginx and PgBouncer, which tests need, if they are missing).
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }

if ! pg_up; then
  echo "Starting PostgreSQL..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! redis_up; then
  echo "Starting Redis..."
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
# The scale-out test puts nginx (the Debian package) in front of several app processes.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "Installing nginx..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
# A test checks provisioning behind PgBouncer (Debian's) in transaction mode.
if [ ! -x /usr/sbin/pgbouncer ]; then
  echo "Installing PgBouncer..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
  # Only its program is wanted: the package's own service stays off.
  service pgbouncer stop >/dev/null 2>&1 || true
fi
pg_up || { echo "PostgreSQL did not start" >&2; exit 1; }
redis_up || { echo "Redis did not start" >&2; exit 1; }
