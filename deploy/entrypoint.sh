#!/bin/sh
# The container's entry point: one image, one role per service (docker-compose.yml).
#   web | smtpd | worker | beat | migrate | healthcheck [args] | any other command
set -eu
cd "$(dirname "$0")/.."

require_secret_key() {
  case "${DJANGO_SECRET_KEY:-}" in
    "" | *change-me* | insecure-dev-key*)
      echo "mailgate: set DJANGO_SECRET_KEY in .env to a long random value, e.g." >&2
      echo "  python3 -c 'import secrets; print(secrets.token_urlsafe(50))'" >&2
      exit 64 ;;
  esac
}

role="${1:-web}"
[ $# -gt 0 ] && shift
loglevel="${MAILGATE_LOG_LEVEL:-INFO}"

case "$role" in
  web)
    require_secret_key
    exec gunicorn --config /app/deploy/gunicorn.conf.py mailgate.wsgi:application "$@" ;;
  smtpd)
    require_secret_key
    exec python manage.py runsmtpd "$@" ;;
  worker)
    require_secret_key
    # A unique node name: scaled workers share the smtpd's network namespace (and host name).
    node="worker-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')@%h"
    exec celery -A mailgate worker -l "$loglevel" -n "$node" \
      -c "${MAILGATE_WORKER_CONCURRENCY:-2}" "$@" ;;
  beat)
    require_secret_key
    # The schedule file only remembers last run times; the database holds the queue.
    exec celery -A mailgate beat -l "$loglevel" -s /tmp/celerybeat-schedule "$@" ;;
  migrate)
    require_secret_key
    python manage.py migrate --noinput
    exec python manage.py ensure_admin ;;
  healthcheck)
    exec python manage.py healthcheck "$@" ;;
  *)
    exec "$role" "$@" ;;
esac
