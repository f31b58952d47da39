"""docker-compose.yml, .env.example and the image's entry point, checked without an engine.

The compose file is parsed by the real Compose v2 binary (scripts/ci_compose_check.sh);
broken copies must make the check fail, so a green CI step means something."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "ci_compose_check.sh"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
APP_SERVICES = ("web", "smtpd", "worker", "beat")


def run_check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        [str(CHECK), *map(str, args)], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture(scope="module")
def config() -> dict:
    """The compose file as Compose itself resolves it (interpolated with .env.example)."""
    assert run_check().returncode == 0
    import compose

    binary = Path(compose.__file__).parent / "docker-compose"
    env = {**os.environ, "MAILGATE_ENV_FILE": str(ENV_EXAMPLE)}
    out = subprocess.run(
        [binary, "--env-file", ENV_EXAMPLE, "-f", COMPOSE, "config", "--format", "json"],
        capture_output=True, text=True, env=env, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(out.stdout)


def test_check_passes_on_the_real_file():
    result = run_check()
    assert result.returncode == 0, result.stderr


BROKEN = {
    "yaml syntax": lambda text: text.replace("  web:\n", "  web\n", 1),
    "unknown service key": lambda text: text.replace(
        "  beat:\n", "  beat:\n    restart_policy_typo: always\n", 1
    ),
    "bad port": lambda text: text.replace('"${MAILGATE_SMTP_PUBLISH:-25}:25"', '"25:25:25:25"'),
    "undefined volume": lambda text: text.replace("db:/var/lib/postgresql", "nodb:/var/lib/pg"),
    "wrong type": lambda text: text.replace("    retries: 3\n", "    retries: three\n", 1),
    "depends on a missing service": lambda text: text.replace(
        "    redis:\n      condition: service_healthy",
        "    rediss:\n      condition: service_healthy",
    ),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_check_fails_on_a_broken_copy(tmp_path, name):
    original = COMPOSE.read_text()
    broken = BROKEN[name](original)
    assert broken != original, "the mutation must change the file"
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(broken)
    result = run_check(copy)
    assert result.returncode != 0, f"{name}: accepted a broken file\n{result.stderr}"


def test_check_fails_without_the_required_password(tmp_path):
    env = tmp_path / "env"
    env.write_text(re.sub(r"(?m)^POSTGRES_PASSWORD=.*$", "", ENV_EXAMPLE.read_text()))
    result = run_check(COMPOSE, env)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_services_ports_health_and_restart(config):
    services = config["services"]
    assert set(services) >= {*APP_SERVICES, "redis", "postgres", "migrate"}
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"web", "smtpd"}
    for name in (*APP_SERVICES, "redis", "postgres"):
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["restart"] == "no"
    # The worker reaches the smtpd on 127.0.0.1 (the reference setup's loopback route).
    assert services["worker"]["network_mode"] == "service:smtpd"
    assert services["web"]["environment"]["MAILGATE_HEALTH_SMTP_HOST"] == "smtpd"
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_named_volumes_for_database_spool_and_store(config):
    services = config["services"]
    assert {"db", "spool", "securestore"} <= set(config["volumes"])
    env = services["worker"]["environment"]
    for name in APP_SERVICES:
        mounts = {v["target"]: v["source"] for v in services[name]["volumes"]}
        assert mounts[env["MAILGATE_SPOOL_DIR"]] == "spool", name
        assert mounts[env["MAILGATE_SECURE_STORE_DIR"]] == "securestore", name
    pg = {v["target"]: v["source"] for v in services["postgres"]["volumes"]}
    assert pg["/var/lib/postgresql/data"] == "db"
    assert services["worker"]["environment"]["DATABASE_URL"].startswith("postgres://")


def test_env_example_documents_every_setting():
    settings_py = (ROOT / "mailgate" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|int|bool|list)\(\s*"([A-Z0-9_]+)"', settings_py))
    assert len(read) > 30
    documented = set(re.findall(r"(?m)^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text()))
    assert read - documented == set(), "settings missing from .env.example"


def test_entrypoint_refuses_the_placeholder_secret_key():
    entrypoint = ROOT / "deploy" / "entrypoint.sh"
    assert subprocess.run(["sh", "-n", entrypoint]).returncode == 0
    for key in ("", "change-me-to-a-long-random-string"):
        env = {**os.environ, "DJANGO_SECRET_KEY": key}
        result = subprocess.run(
            ["sh", entrypoint, "web"], capture_output=True, text=True, env=env, timeout=30
        )
        assert result.returncode == 64
        assert "DJANGO_SECRET_KEY" in result.stderr


def test_dockerfile_matches_compose():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/app/deploy/entrypoint.sh"]' in dockerfile
    assert "USER mailgate" in dockerfile
    assert "collectstatic" in dockerfile
    for path in ("/var/lib/mailgate/spool", "/var/lib/mailgate/securemailbox"):
        assert path in dockerfile and path in COMPOSE.read_text()
