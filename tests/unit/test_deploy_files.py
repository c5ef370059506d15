"""The deployment files hold together: docker-compose.yml runs every service from the one
image on Redis and PostgreSQL, configured only by environment variables the services
know, with no secret written down; the Dockerfile builds that image as a non-root user."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradepro.config import DEV_JWT_SECRET, Settings, SettingsError, check_mail

REPO = Path(__file__).resolve().parents[2]
APP_SERVICES = {"api": "4000", "ws": "8080", "engine": None, "poller": None}
OPTIONAL_ENGINES = {"engine-standby", "engine-1", "engine-1-standby"}
EXTRA_VARIABLES = {"LOG_LEVEL"}
"""Read by the services outside ``Settings`` (logging)."""
REFERENCE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def interpolate(value: str, environ: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if environ.get(name):
            return environ[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return REFERENCE.sub(substitute, value)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    values = service.get("environment", {})
    assert isinstance(values, dict), "environment as a mapping, so merges stay readable"
    return {str(key): str(value) for key, value in values.items()}


def test_every_service_is_there_with_its_command_and_port(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {*APP_SERVICES, *OPTIONAL_ENGINES, "migrate", "redis", "postgres"}
    for name, port in APP_SERVICES.items():
        service = services[name]
        assert service["command"] == [name]  # the image's entrypoint is `tradepro`
        assert service["image"] == services["migrate"]["image"]
        assert service["restart"] == "unless-stopped"
        published = service.get("ports", [])
        assert published == ([f"{port}:{port}"] if port else [])
        if port:
            assert environment(service)[f"{name.upper()}_PORT"] == port
            assert f"127.0.0.1:{port}/health" in " ".join(service["healthcheck"]["test"])
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"


def test_the_standby_engine_is_the_engine_under_an_opt_in_profile(
    compose: dict[str, Any],
) -> None:
    standby, engine = compose["services"]["engine-standby"], compose["services"]["engine"]
    assert standby["profiles"] == ["standby"]
    assert standby["command"] == engine["command"] == ["engine"]
    assert standby["environment"] == engine["environment"]  # same Redis and PostgreSQL
    assert standby["stop_grace_period"] == engine["stop_grace_period"]
    assert "ports" not in standby


def test_a_second_shard_runs_under_opt_in_profiles_with_every_service_told(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    shard, standby = services["engine-1"], services["engine-1-standby"]
    assert shard["command"] == standby["command"] == ["engine", "--shard", "1"]
    assert (shard["profiles"], standby["profiles"]) == (["shards"], ["shards-standby"])
    assert shard["stop_grace_period"] == services["engine"]["stop_grace_period"]
    assert "ports" not in shard and "ports" not in standby
    for name in [*APP_SERVICES, *OPTIONAL_ENGINES]:  # one value for every process
        assert environment(services[name])["ENGINE_SHARDS"] == "${ENGINE_SHARDS:-1}"
    env = environment(shard)
    resolved = {k: interpolate(v, {"ENGINE_SHARDS": "2", "JWT_SECRET": "x" * 40,
                                   "POSTGRES_PASSWORD": "pw", "SMTP_URL": "smtp://m"})
                for k, v in env.items()}  # fmt: skip
    settings = Settings(**{k.lower(): v for k, v in resolved.items() if k not in EXTRA_VARIABLES})
    settings.check()
    assert settings.engine_shards == 2


def test_services_wait_for_healthy_redis_and_postgres_and_the_migration(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in APP_SERVICES:
        assert services[name]["depends_on"] == {
            "redis": {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    redis = services["redis"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    # Never evict a stream silently: at its memory limit Redis refuses writes instead.
    assert redis["command"][redis["command"].index("--maxmemory-policy") + 1] == "noeviction"
    assert redis["command"][redis["command"].index("--maxmemory") + 1]
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])
    assert set(compose["volumes"]) == {"redis-data", "postgres-data"}


def test_configuration_is_by_environment_with_no_secret_written_down(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    known = {name.upper() for name in Settings.model_fields} | EXTRA_VARIABLES
    for name in [*APP_SERVICES, "migrate"]:
        env = environment(services[name])
        assert set(env) <= known, f"{name}: unknown variables {set(env) - known}"
        assert env["TRADEPRO_ENV"] == "production"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["DATABASE_URL"].startswith("postgresql://tradepro:${POSTGRES_PASSWORD:?")
        assert env["DATABASE_URL"].endswith("@postgres:5432/tradepro")
        assert re.fullmatch(r"\$\{JWT_SECRET:\?[^}]+\}", env["JWT_SECRET"])
    # Every value that names a secret is a required reference, never a literal or a default.
    for name, service in services.items():
        for key, value in environment(service).items():
            if re.search("SECRET|PASSWORD|TOKEN", key):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), (name, key)
    text = (REPO / "docker-compose.yml").read_text()
    assert DEV_JWT_SECRET not in text
    assert not re.search(r"(?i)(secret|password)\s*[:=]\s*['\"]?[A-Za-z0-9]{8,}", text)


def test_the_services_accept_the_composed_settings_and_require_the_secrets(
    compose: dict[str, Any],
) -> None:
    secrets = {
        "JWT_SECRET": "x" * 40,
        "POSTGRES_PASSWORD": "pw",
        "SMTP_URL": "smtps://mailer:pw@mail.example.com:465",
    }
    env = environment(compose["services"]["api"])
    resolved = {key: interpolate(value, secrets) for key, value in env.items()}
    settings = Settings(**{key.lower(): value for key, value in resolved.items()
                           if key not in EXTRA_VARIABLES})  # fmt: skip
    settings.check()  # production with a real secret: accepted
    check_mail(settings)  # and sign-in links are e-mailed
    assert settings.database_url == "postgresql://tradepro:pw@postgres:5432/tradepro"
    assert (settings.api_port, settings.ws_port) == (4000, 8080)
    assert settings.backpack_ws_url == "wss://ws.backpack.exchange"
    for missing in secrets:
        with pytest.raises(KeyError, match=missing):
            {key: interpolate(value, secrets | {missing: ""}) for key, value in env.items()}
    weak = Settings(tradepro_env="production", jwt_secret=DEV_JWT_SECRET)
    with pytest.raises(SettingsError):
        weak.check()


def test_the_dockerfile_builds_one_non_root_image_with_the_chart_from_the_lockfile() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert stages[-1] == "python:3.11-slim"
    assert "COPY web/package.json web/package-lock.json ./" in text
    assert "RUN npm ci" in text and "npm install" not in text
    assert "lightweight-charts.standalone.production.js" in text
    assert "src/tradepro/web/static/vendor/" in text
    assert re.search(r"pip (install|wheel)\b.*\.", text)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    final = text[text.rindex("FROM ") :]
    assert final.index("USER ") < final.index("ENTRYPOINT")
    assert 'ENTRYPOINT ["tradepro"]' in text
    assert re.search(r"^EXPOSE 4000 8080$", text, re.MULTILINE)
    assert "TRADEPRO_ENV=production" in text
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", "web/node_modules", ".env", "test-artifacts"} <= set(ignored)
