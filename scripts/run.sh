#!/usr/bin/env bash
# Set up and run all of Mailgate in the foreground: web, smtpd, worker, beat, broker, SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
[ -f .env ] && set -a && . ./.env && set +a
mkdir -p var
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v0
echo "Admin UI: http://127.0.0.1:8000/"
.venv/bin/python manage.py ensure_admin
exec .venv/bin/python manage.py runall "$@"
