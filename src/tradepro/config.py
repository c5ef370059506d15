"""Typed settings, read from the environment once and passed in (never at import time)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tradepro.domain.fixed import USD_DECIMALS, InvalidNumberError, parse_scaled
from tradepro.domain.instruments import DEFAULT_INSTRUMENTS, Instrument, instrument_table
from tradepro.engine import EngineConfig

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 (refused in production)
ORDER_ID_MARGIN_S = 3600
"""The engine's order id window is the idempotency retention plus this: a key's order id is
re-sent at most a retention after it was made, by a clock up to this far from the bus's."""


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which variable and why."""


class Settings(BaseSettings):
    """Every knob of every service. Names are the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    tradepro_env: Literal["dev", "production"] = "dev"
    database_url: str | None = None
    """Unset: a SQLite file in ``tradepro_data_dir`` (the embedded default)."""
    redis_url: str | None = None
    """Unset: the embedded bus, journaled in ``tradepro_data_dir``."""
    tradepro_bus_namespace: str = ""
    """Prefix for stream names (tests and benchmarks share one Redis); empty in production."""
    tradepro_data_dir: Path = Path(".tradepro")
    jwt_secret: str = DEV_JWT_SECRET
    api_port: int = Field(4000, ge=1, le=65535)
    ws_port: int = Field(8080, ge=1, le=65535)
    backpack_ws_url: str = "wss://ws.backpack.exchange"
    tradepro_feed: Literal["backpack", "sim"] = "backpack"
    """Which price feed runs (``tradepro.feeds.Feed``), for what the UI tells people: the
    sign-in page, ``/api/v1/config``. ``tradepro up`` sets it from ``--feed``."""
    assets: Annotated[tuple[str, ...], NoDecode] = ("BTC_USDC", "ETH_USDC", "SOL_USDC")
    smtp_url: str | None = None
    public_url: str = "http://localhost:4000"
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    """Origins (``scheme://host[:port]``) whose pages may send cookie-authenticated writes
    and open cookie-authenticated WebSocket connections; empty: the origin of ``PUBLIC_URL``."""
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    """Addresses or networks of the reverse proxies whose ``X-Forwarded-For`` is believed;
    empty: none (the peer's own address is the client's)."""
    bind_host: str = "127.0.0.1"
    """Where the api and ws server listen: this machine only, unless deployed otherwise
    (the container image sets ``0.0.0.0``)."""
    """Where the api and the ws server listen."""
    starting_balance: str = "5000.00"
    """USD given to every new user, as a decimal string (also what a reset sets the
    balance to when no other amount is asked for)."""
    max_paper_balance: str = "1000000.00"
    """``MAX_PAPER_BALANCE``: the most USD an account may hold after a deposit (free balance
    and margin) or be reset to."""
    daily_deposit_cap: str = "100000.00"
    """``DAILY_DEPOSIT_CAP``: the most USD one user may deposit per UTC day."""
    max_price_age_s: float = Field(10.0, gt=0)
    signup_limit_per_email_per_hour: int = Field(5, ge=1)
    signup_limit_per_address_per_hour: int = Field(30, ge=1)
    order_limit_per_s: int = Field(20, ge=1)
    """Order actions one account may take per second, the web terminal and every API key
    together: placing, closing (partly or all), modifying, cancelling, amending, resetting
    and depositing share it."""
    key_order_limit_per_s: int = Field(10, ge=1)
    """Order actions one API key may take per second, counted in ``order_limit_per_s``
    too: a program running flat out leaves the rest of its account's limit to the terminal
    (and an account's twenty keys never add up to twenty limits)."""
    snapshot_interval_s: float = Field(10.0, gt=0)
    account_events_keep_days: int = Field(7, ge=1, le=3650)
    """How long the account events log keeps an event (each user's latest stays for good)."""
    idempotency_retention_s: int = Field(86_400, ge=86_400)
    """How long a create-order's ``Idempotency-Key`` returns its first answer (at least a
    day). The engine remembers order ids for this plus ``ORDER_ID_MARGIN_S``."""
    idempotency_purge_interval_s: float = Field(600.0, gt=0)
    """How often each API process deletes expired keys (in batches, off the request path)."""
    poller_max_rate_per_s: float = Field(50.0, gt=0)
    """Most ``price-update`` entries the poller publishes per second per symbol."""
    api_max_header_bytes: int = Field(16 * 1024, ge=1024)
    """Largest request line + headers the API reads; more is a 431."""
    api_header_timeout_s: float = Field(10.0, gt=0)
    """A request's headers must arrive whole within this; otherwise a 408 and closed."""
    api_body_timeout_s: float = Field(10.0, gt=0)
    """A request's body must then arrive whole within this; otherwise a 408 and closed."""
    api_keep_alive_s: float = Field(5.0, gt=0)
    """An idle connection between requests is closed after this."""
    api_max_connections: int = Field(2048, ge=1)
    """Open connections per API process; the longest idle one makes room for a new one."""
    read_limit_per_s: int = Field(20, ge=1)
    """Reads (open orders, history, balance) one account may make per second, sustained,
    the web terminal and every API key together."""
    read_burst: int = Field(40, ge=1)
    """Reads an account may make at once after a quiet spell (the bucket's size)."""
    key_read_limit_per_s: int = Field(10, ge=1)
    """Reads one API key may make per second, sustained, counted in ``read_limit_per_s``
    too."""
    key_read_burst: int = Field(20, ge=1)
    """Reads one API key may make at once after a quiet spell."""
    ws_max_connections_per_address: int = Field(50, ge=1)
    """WebSocket connections one client address may hold; more are closed with 4429."""
    ws_max_unauthenticated: int = Field(5000, ge=1)
    """WebSocket connections without a session, over all clients; more are closed with 4503."""
    ws_handshake_timeout_s: float = Field(10.0, gt=0)
    """A WebSocket opening handshake must complete within this."""
    ws_messages_per_s: float = Field(20.0, gt=0, le=10_000)
    """Messages one WebSocket connection may send per second, sustained; beyond that (and
    ``ws_message_burst`` at once) it is closed with 1008."""
    ws_message_burst: int = Field(60, ge=1, le=100_000)
    """Messages one WebSocket connection may send at once after a quiet spell."""
    callback_queue_max_bytes: int = Field(256 * 1024 * 1024, ge=1_000_000)
    """The most bytes of callback bodies the engine keeps in ``callback-queue`` (besides
    at most 100,000 entries): the oldest are dropped first."""
    ws_price_rate_per_s: float = Field(20.0, gt=0, le=1000)
    """Most ``price`` messages a WebSocket client gets per second per asset: quotes that
    come faster are conflated to the latest (docs/websocket.md "Conflation"). 20 is smooth
    for a ticker and a chart, and a quote then waits at most 50 ms for its slot (longer
    only while the process is saturated: ``services/ws/hub.py`` ``SLOT_DUTY``)."""
    ws_processes: int = Field(1, ge=1, le=64)
    """WebSocket server processes sharing ``WS_PORT`` (``SO_REUSEPORT``); ``tradepro up``
    starts this many, each reading the bus itself."""
    api_processes: int = Field(1, ge=1, le=64)
    """API server processes sharing ``API_PORT`` (``SO_REUSEPORT``); ``tradepro up`` starts
    this many. Each reads every shard's replies; the sign-up limits are shared in Redis."""
    engine_lock_timeout_s: float = Field(60.0, ge=0)
    """How long an engine waits for the data folder that another engine holds."""
    engine_lease_ttl_ms: int = Field(2000, ge=200, le=60_000)
    """With Redis: how long an engine's lease on its shard lasts unless renewed. A standby
    takes over at most this plus ``ENGINE_LEASE_RENEW_MS`` after the primary stopped."""
    engine_lease_renew_ms: int = Field(500, ge=50, le=30_000)
    """How often the primary renews its lease (and a standby tries to win it); at most
    half of ``ENGINE_LEASE_TTL_MS``."""
    redis_cluster: bool = False
    """``REDIS_CLUSTER=1``: ``REDIS_URL`` names a node of a Redis Cluster (any one: the
    client learns the others from it). Keys then carry hash tags even with one shard
    (docs/scaling.md)."""
    engine_shards: int = Field(1, ge=1, le=1024)
    """``ENGINE_SHARDS``: how many engines share the users, each the single writer of its
    own (``tradepro.bus.names.shard_of``, docs/scaling.md). More than one needs Redis.
    Every process of a deployment must have the same value."""
    engine_shard: int = Field(0, ge=0)
    """``ENGINE_SHARD``: which shard an engine process applies (``tradepro engine --shard``
    wins over it); 0 to ``ENGINE_SHARDS`` - 1."""
    commission_bps: str = ""
    """``COMMISSION_BPS``: commission on the notional at open and at close, in basis points
    (0..1000): one number for every asset (``5``) or per asset (``BTC_USDC=5,ETH_USDC=3``;
    assets not named pay none). Empty: no commission."""

    @field_validator("tradepro_bus_namespace")
    @classmethod
    def _namespace_without_hash_tag(cls, value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError(
                "must not contain { or }: Redis Cluster would place keys by the namespace's "
                "braces instead of the shard's hash tag"
            )
        return value

    @field_validator("assets", mode="before")
    @classmethod
    def _split_assets(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("assets")
    @classmethod
    def _known_assets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("ASSETS must name at least one instrument")
        unknown = [asset for asset in value if asset not in DEFAULT_INSTRUMENTS]
        if unknown:
            known = ", ".join(DEFAULT_INSTRUMENTS)
            raise ValueError(f"unknown asset(s) {', '.join(unknown)}; known: {known}")
        return value

    @field_validator("commission_bps")
    @classmethod
    def _commission(cls, value: str) -> str:
        _commission_table(value, DEFAULT_INSTRUMENTS)  # raises ValueError naming the problem
        return value

    @field_validator("allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from tradepro.security.origin import origin_of  # noqa: PLC0415 (the API's own rule)

        for origin in value:
            if origin_of(origin) is None:
                raise ValueError(f"ALLOWED_ORIGINS: {origin!r} is not an http(s) origin")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in value:
            try:
                ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
                ) from None
        return value

    @field_validator("starting_balance", "max_paper_balance", "daily_deposit_cap")
    @classmethod
    def _money(cls, value: str, info: ValidationInfo) -> str:
        try:
            parse_scaled(value, USD_DECIMALS, str(info.field_name).upper())
        except InvalidNumberError as error:
            raise ValueError(str(error)) from None
        return value

    @property
    def instruments(self) -> Mapping[str, Instrument]:
        """The instruments of ``ASSETS`` by symbol (read on every order: built once)."""
        return _instruments(self.assets, self.commission_bps)

    @property
    def public_origins(self) -> frozenset[str]:
        """Where our own pages come from (see ``tradepro.security.origin``)."""
        from tradepro.security.origin import public_origins  # noqa: PLC0415

        return public_origins(self.public_url, self.allowed_origins)

    @property
    def session_cookie_secure(self) -> bool:
        """Whether the session cookie is ``Secure`` (sent over HTTPS only): always in
        production (behind a TLS proxy the API itself may see plain HTTP)."""
        return self.tradepro_env == "production" or self.public_url.startswith("https://")

    @property
    def starting_balance_cents(self) -> int:
        return parse_scaled(self.starting_balance, USD_DECIMALS, "STARTING_BALANCE")

    @property
    def max_paper_balance_cents(self) -> int:
        return parse_scaled(self.max_paper_balance, USD_DECIMALS, "MAX_PAPER_BALANCE")

    @property
    def daily_deposit_cap_cents(self) -> int:
        return parse_scaled(self.daily_deposit_cap, USD_DECIMALS, "DAILY_DEPOSIT_CAP")

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            instruments=self.instruments,
            starting_balance_cents=self.starting_balance_cents,
            max_paper_balance_cents=self.max_paper_balance_cents,
            daily_deposit_cap_cents=self.daily_deposit_cap_cents,
            max_price_age_us=int(Decimal(str(self.max_price_age_s)) * 1_000_000),
            order_id_window_us=(self.idempotency_retention_s + ORDER_ID_MARGIN_S) * 1_000_000,
        )

    @property
    def sqlite_path(self) -> Path:
        return self.tradepro_data_dir / "tradepro.db"

    @property
    def state_in_data_folder(self) -> bool:
        """Whether the engine keeps state in the data folder (the embedded bus or the SQLite
        database): then only one engine may run on it at a time."""
        return not self.redis_url or not self.database_url

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    def check(self) -> None:
        """Refuse unsafe production settings (raise ``SettingsError``)."""
        if self.engine_shards > 1 and not self.redis_url:
            raise SettingsError(
                "ENGINE_SHARDS > 1 needs REDIS_URL: the embedded bus is one journal for one "
                "engine. Set REDIS_URL (and DATABASE_URL) to run several engine shards."
            )
        if self.redis_cluster and not self.redis_url:
            raise SettingsError("REDIS_CLUSTER=1 needs REDIS_URL: the address of a cluster node")
        if self.engine_shard >= self.engine_shards:
            raise SettingsError(
                f"ENGINE_SHARD={self.engine_shard} is not a shard of ENGINE_SHARDS="
                f"{self.engine_shards} (shards are numbered from 0)"
            )
        if self.engine_lease_renew_ms * 2 > self.engine_lease_ttl_ms:
            raise SettingsError(
                "ENGINE_LEASE_RENEW_MS must be at most half of ENGINE_LEASE_TTL_MS: the "
                "primary must be able to miss one renewal without losing its lease"
            )
        if self.tradepro_env == "production" and (
            not self.jwt_secret or self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32
        ):
            raise SettingsError(
                "JWT_SECRET must be set to a random secret of at least 32 characters "
                "when TRADEPRO_ENV=production"
            )


def check_mail(settings: Settings) -> None:
    """The API's extra rule: in production, sign-in links must go out by e-mail (without
    ``SMTP_URL`` they would be written to the log, where whoever reads it could sign in as
    anyone)."""
    if settings.tradepro_env == "production" and not settings.smtp_url:
        raise SettingsError(
            "SMTP_URL must be set when TRADEPRO_ENV=production: sign-in links are e-mailed"
        )


def load_settings() -> Settings:
    """Read the environment; a bad value raises ``SettingsError`` naming the variable."""
    try:
        settings = Settings()
    except ValueError as error:
        raise SettingsError(f"invalid configuration: {error}") from None
    settings.check()
    return settings


@lru_cache(maxsize=16)
def _instruments(assets: tuple[str, ...], commission: str = "") -> Mapping[str, Instrument]:
    bps = _commission_table(commission, DEFAULT_INSTRUMENTS)
    return MappingProxyType(
        instrument_table(
            DEFAULT_INSTRUMENTS[asset]._replace(commission_bps=bps.get(asset, 0))
            for asset in assets
        )
    )


def _commission_table(text: str, known: Mapping[str, Instrument]) -> dict[str, int]:
    """``COMMISSION_BPS`` as basis points per asset: "" (none), "5" (every asset) or
    "BTC_USDC=5,ETH_USDC=3"."""
    text = text.strip()
    if not text:
        return {}
    if "=" not in text:
        return dict.fromkeys(known, _bps(text))
    table: dict[str, int] = {}
    for part in text.split(","):
        asset, _, number = part.partition("=")
        asset = asset.strip()
        if asset not in known:
            raise ValueError(f"COMMISSION_BPS: unknown asset {asset!r}")
        table[asset] = _bps(number)
    return table


def _bps(text: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 1000:
        raise ValueError(f"COMMISSION_BPS: {text!r} is not a whole number of basis points 0..1000")
    return int(text)
