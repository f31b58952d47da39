#!/usr/bin/env bash
# Set up and run all of Mailgate in the foreground: web, smtpd, worker, beat, broker, SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
[ -f .env ] && set -a && . ./.env && set +a
mkdir -p var
# A secret key of this installation, made on the first run and kept in var/secret-key (the
# Secure Mailbox store's key and the pURL HMAC derive from it). An installation whose
# database predates this file keeps the built-in development key it was made with.
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  if [ ! -f var/secret-key ] && [ ! -f var/mailgate.sqlite3 ]; then
    (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > var/secret-key)
  fi
  if [ -f var/secret-key ]; then
    DJANGO_SECRET_KEY="$(cat var/secret-key)"
    export DJANGO_SECRET_KEY
  fi
fi
# MX look-ups go to a resolver on loopback unless one is configured: this one command never
# sends traffic off the machine. Point MAILGATE_DNS_NAMESERVERS at your resolver (or leave it
# empty in .env for the system's) to deliver by MX to the Internet.
if [ -z "${MAILGATE_DNS_NAMESERVERS+set}" ]; then
  export MAILGATE_DNS_NAMESERVERS=127.0.0.1:53
fi
echo "DNS for MX look-ups: ${MAILGATE_DNS_NAMESERVERS:-the system resolver} (MAILGATE_DNS_NAMESERVERS)"
if [ "${MAILGATE_DNS_NAMESERVERS:-}" = "127.0.0.1:53" ] && ! .venv/bin/python - <<'PY' 2>/dev/null
import dns.message, dns.query
dns.query.udp(dns.message.make_query("localhost.", "A"), "127.0.0.1", port=53, timeout=1)
PY
then
  echo "warning: no DNS server answers on 127.0.0.1:53: mail routed by MX is deferred until one"
  echo "         does (routes with fixed hosts still deliver); set MAILGATE_DNS_NAMESERVERS."
fi
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v0
echo "Admin UI: http://127.0.0.1:8000/"
.venv/bin/python manage.py ensure_admin
exec .venv/bin/python manage.py runall "$@"
