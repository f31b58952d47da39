# Mailgate: one image for every role (web, smtpd, worker, beat, migrate); see
# docker-compose.yml. The code is owned by root and read-only to the app user.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=mailgate.settings \
    MAILGATE_VAR_DIR=/var/lib/mailgate \
    MAILGATE_SPOOL_DIR=/var/lib/mailgate/spool \
    MAILGATE_SECURE_STORE_DIR=/var/lib/mailgate/securemailbox

RUN groupadd --system --gid 10001 mailgate \
 && useradd --system --uid 10001 --gid mailgate --home-dir /var/lib/mailgate \
      --shell /usr/sbin/nologin mailgate

WORKDIR /app
COPY requirements.txt ./
RUN python -m pip install -r requirements.txt

COPY . .
# Static files are collected at build time and served by whitenoise from the image.
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v0 \
 && python -m compileall -q /app \
 && mkdir -p /var/lib/mailgate/spool /var/lib/mailgate/securemailbox /var/lib/mailgate/tls \
 && chown -R mailgate:mailgate /var/lib/mailgate \
 && chmod 0750 /var/lib/mailgate/spool /var/lib/mailgate/securemailbox /var/lib/mailgate/tls

USER mailgate
VOLUME ["/var/lib/mailgate", "/var/lib/mailgate/spool", "/var/lib/mailgate/securemailbox"]
EXPOSE 8000 25
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
