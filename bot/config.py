"""Bot configuration: config.yaml (or $STATIONBOT_CONFIG, or built-in defaults) as one Config.

Every mistake in the file is one ConfigError line naming the file, the line and the key.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.stations import STATION_ID, Site
from faq.loader import FaqError, LineDict, load, parse_site, read_yaml
from faq.model import KnowledgeBase

CONFIG_ENV = "STATIONBOT_CONFIG"
TOKEN_ENV = "STATIONBOT_TOKEN"
# a PostgreSQL URL with its password, kept out of the config file (overrides storage.url)
STORAGE_URL_ENV = "STATIONBOT_STORAGE_URL"
# WeChat's secrets: the environment overrides the file (better: keep them out of files)
WECHAT_SECRET_ENV = {
    "token": "STATIONBOT_WECHAT_TOKEN",
    "app_secret": "STATIONBOT_WECHAT_APP_SECRET",
    "encoding_aes_key": "STATIONBOT_WECHAT_AES_KEY",
}
DEFAULT_CONFIG_FILE = "config.yaml"
OVERLAY_FILE = "staff-overlay.yaml"

# section -> allowed keys; `timezone` is the one top-level key without a section
SECTIONS: dict[str, tuple[str, ...]] = {
    "telegram": ("token", "base_url", "base_file_url", "webhook", "rate_limiter"),
    "storage": ("path", "url", "pool_size"),
    "faq": ("path", "overlay"),
    "staff": ("user_ids", "chat_id", "language"),
    "matching": ("answer_threshold", "suggest_threshold", "coverage_strictness"),
    "limits": ("flood_messages", "flood_seconds"),
    "retention": ("closed_items_days",),
    "web": ("listen", "port", "base_url"),
    "wechat": ("token", "app_id", "app_secret", "encoding_aes_key", "path", "api_base_url"),
}
TOP_KEYS = (*SECTIONS, "timezone", "stations")
# what a `stations:` item has besides its place and data (see faq.loader.parse_site)
STATION_KEYS = ("faq", "staff")
STATION_STAFF_KEYS = ("user_ids", "chat_id")
WEBHOOK_KEYS = ("listen", "port", "path", "url", "secret_token")
# Telegram allows 1-256 of these characters in X-Telegram-Bot-Api-Secret-Token; fewer than
# 32 could be guessed by anyone who can reach the webhook port
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,256}$")
SECRET_TOKEN_MIN = 32
# a bot token as @BotFather issues it: the bot's numeric id, a colon, the secret part
_BOT_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
# values of keys named like these are never shown in an error message
_SECRET_KEY = re.compile(r"token|secret|password|passwd|api_key|aes_key|private_key", re.I)
# WeChat's server-URL token: 3 to 32 letters and digits (the account settings refuse others)
_WECHAT_TOKEN = re.compile(r"^[A-Za-z0-9_-]{3,32}$")
_WECHAT_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")


class ConfigError(Exception):
    """A configuration that cannot be used; str() is one line naming file, line and key."""


@dataclass(frozen=True)
class WebhookConfig:
    """Where Telegram delivers updates when the bot runs behind a webhook."""

    url: str  # public https URL Telegram posts to
    listen: str = "127.0.0.1"  # behind a reverse proxy; 0.0.0.0 only when Telegram connects here
    port: int = 8443
    path: str = "/telegram"
    secret_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class WebConfig:
    """Where the staff web console listens, and its public address if behind a proxy."""

    listen: str = "127.0.0.1"  # this PC only, unless staff open it on purpose
    port: int = 8080
    base_url: str | None = None  # e.g. https://station.example.org; https -> Secure cookies

    @property
    def secure(self) -> bool:
        """Cookies only over https: true when the public address is https."""
        return bool(self.base_url and self.base_url.startswith("https://"))


@dataclass(frozen=True)
class WeChatConfig:
    """A WeChat Official Account (公众号); the secrets never appear in a repr or a log."""

    app_id: str
    token: str = field(repr=False)
    app_secret: str = field(repr=False)
    encoding_aes_key: str | None = field(default=None, repr=False)  # None: plaintext mode
    path: str = "/wechat"
    api_base_url: str = "https://api.weixin.qq.com"

    @property
    def secrets(self) -> tuple[str, ...]:
        """What logging must redact."""
        return tuple(s for s in (self.token, self.app_secret, self.encoding_aes_key) if s)


@dataclass
class Config:
    """Everything the bot needs to run, checked and with paths made absolute."""

    token: str | None = field(default=None, repr=False)
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    storage_path: Path = Path("stationbot.db")
    # postgresql://user:password@host/db: a database several worker processes share
    # (docs/scale.md); None = the SQLite file at storage_path
    storage_url: str | None = field(default=None, repr=False)
    storage_pool_size: int = 10  # connections to PostgreSQL each worker keeps at most
    faq_path: Path | None = None  # None = the bundled knowledge base
    overlay_path: Path | None = None  # None = staff-overlay.yaml next to the database
    staff_user_ids: frozenset[int] = frozenset()
    staff_chat_id: int | None = None
    staff_language: str = "zh"  # of notices and staff replies in the staff group
    timezone: str = "Asia/Shanghai"
    matching: dict[str, float] = field(default_factory=dict)
    webhook: WebhookConfig | None = None
    rate_limiter: bool = True  # keep under Telegram's limits (off only to measure the bot)
    flood_max_messages: int = 20
    flood_window_seconds: float = 10
    retention_days: int | None = None
    web: WebConfig | None = None  # None = no staff web console (`stationbot web` uses defaults)
    wechat: WeChatConfig | None = None  # None: no WeChat channel
    # the stations of a district in one deployment; () = one station (the FAQ's station data)
    stations: tuple[Site, ...] = ()
    config_path: Path | None = None  # the file these values came from; None = built-in defaults
    token_from_environment: bool = False  # the token came from $STATIONBOT_TOKEN
    # line of each dotted key in the file, for errors found later (check_storage_path)
    key_lines: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.overlay_path is None:
            self.overlay_path = self.storage_path.parent / OVERLAY_FILE

    @property
    def database(self) -> str | Path:
        """What Storage.open takes: the PostgreSQL URL if one is set, else the SQLite file."""
        return self.storage_url or self.storage_path

    @property
    def database_shown(self) -> str:
        """The database for logs: the file, or the URL without its password."""
        if not self.storage_url:
            return str(self.storage_path)
        return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", self.storage_url)

    @property
    def masked_token(self) -> str:
        """The token safe to show in logs: the bot's numeric id only."""
        if not self.token:
            return "(none)"
        bot_id, _, secret = self.token.partition(":")
        return f"{bot_id}:****" if secret else "****"

    @property
    def token_source(self) -> str:
        """Where the token came from, for messages: "the STATIONBOT_TOKEN environment
        variable" or "config.yaml:3: telegram.token"."""
        if self.token_from_environment:
            return f"the {TOKEN_ENV} environment variable"
        return self.where("telegram.token")

    def where(self, key: str) -> str:
        """Where a key was set, such as "config.yaml:12: storage.path", for messages."""
        if self.config_path is None:
            return f"built-in default {key}"
        line = self.key_lines.get(key)
        return f"{self.config_path}:{line}: {key}" if line else f"{self.config_path}: {key}"


class _Reader:
    """Reads typed values out of the parsed file, raising ConfigError at the first mistake."""

    def __init__(self, file: str, data: LineDict, base: Path) -> None:
        self.file = file
        self.data = data
        self.base = base  # relative paths are relative to the config file's folder
        self.key_lines: dict[str, int] = {}

    def fail(self, line: int | None, key: str, message: str) -> ConfigError:
        where = f"{self.file}:{line}" if line else self.file
        return ConfigError(f"{where}: {key}: {message}")

    def unknown_keys(self, mapping: LineDict, allowed: tuple[str, ...], prefix: str) -> None:
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else f"use {', '.join(allowed)}"
                raise self.fail(mapping.key_line(key), f"{prefix}{key}", f"unknown key; {hint}")

    def section(self, name: str) -> LineDict:
        raw = self.data.get(name)
        if raw is None:
            empty = LineDict()
            empty.line, empty.key_lines = self.data.key_line(name), {}
            return empty
        if not isinstance(raw, dict):
            keys = ", ".join(SECTIONS[name])
            raise self.fail(self.data.key_line(name), name, f"expected a section with {keys}")
        self.unknown_keys(raw, SECTIONS[name], f"{name}.")
        return raw

    def get(self, mapping: LineDict, key: str, name: str, kind: str, default: Any = None) -> Any:
        """mapping[key] checked against `kind` (text, integer, number, list); None -> default."""
        line = mapping.key_line(key)
        if key in mapping:
            self.key_lines[name] = line
        value = mapping.get(key)
        if value is None:
            return default
        expected = {
            "text": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "list": isinstance(value, list),
            "boolean": isinstance(value, bool),
        }[kind]
        if not expected:
            hint = "; remove the quotes" if kind in ("integer", "number") else ""
            if kind == "text" and isinstance(value, (int, float)):
                hint = "; put it in quotes"
            if kind == "boolean":
                hint = "; write true or false"
            raise self.fail(line, name, f"expected {kind}, got {_shown(name, value)}{hint}")
        return value

    def path(self, mapping: LineDict, key: str, name: str) -> Path | None:
        text = self.get(mapping, key, name, "text")
        if text is None:
            return None
        if not text.strip():
            raise self.fail(mapping.key_line(key), name, "empty path; write a file name or null")
        return (self.base / Path(text.strip()).expanduser()).resolve()

    def url(self, mapping: LineDict, key: str, name: str, default: str | None) -> str | None:
        value = self.get(mapping, key, name, "text", default)
        if value is not None and not value.startswith(("https://", "http://")):
            raise self.fail(
                mapping.key_line(key),
                name,
                f"expected an http(s):// URL, got {_shown(name, value)}",
            )
        return value

    def bounded(
        self, mapping: LineDict, key: str, name: str, kind: str, low: float, high: float | None
    ) -> Any:
        value = self.get(mapping, key, name, kind)
        if value is not None and (value < low or (high is not None and value > high)):
            span = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
            raise self.fail(
                mapping.key_line(key), name, f"expected a {kind} {span}, got {_shown(name, value)}"
            )
        return value


def _read_telegram(reader: _Reader) -> dict[str, Any]:
    telegram = reader.section("telegram")
    defaults = Config()
    values = {
        "token": reader.get(telegram, "token", "telegram.token", "text"),
        "base_url": reader.url(telegram, "base_url", "telegram.base_url", defaults.base_url),
        "base_file_url": reader.url(
            telegram, "base_file_url", "telegram.base_file_url", defaults.base_file_url
        ),
        "webhook": None,
        "rate_limiter": reader.get(
            telegram, "rate_limiter", "telegram.rate_limiter", "boolean", True
        ),
    }
    raw = telegram.get("webhook")
    if raw is None:
        return values
    line = telegram.key_line("webhook")
    if not isinstance(raw, dict):
        raise reader.fail(
            line, "telegram.webhook", "expected null or {url: https://..., port: ...}"
        )
    reader.unknown_keys(raw, WEBHOOK_KEYS, "telegram.webhook.")
    url = reader.get(raw, "url", "telegram.webhook.url", "text")
    if not url or not url.startswith("https://"):
        raise reader.fail(
            raw.key_line("url"), "telegram.webhook.url", "Telegram needs a public https:// URL here"
        )
    path = reader.get(raw, "path", "telegram.webhook.path", "text", "/telegram")
    if not path.startswith("/"):
        raise reader.fail(raw.key_line("path"), "telegram.webhook.path", "start it with '/'")
    secret = reader.get(raw, "secret_token", "telegram.webhook.secret_token", "text")
    if secret is not None and not _SECRET_TOKEN.match(secret):
        raise reader.fail(
            raw.key_line("secret_token"),
            "telegram.webhook.secret_token",
            f"use {SECRET_TOKEN_MIN} to 256 characters from A-Z, a-z, 0-9, _ and - (it has"
            f" {len(secret)}), or leave it out to have one generated",
        )
    values["webhook"] = WebhookConfig(
        url=url,
        listen=reader.get(raw, "listen", "telegram.webhook.listen", "text", "127.0.0.1"),
        port=reader.bounded(raw, "port", "telegram.webhook.port", "integer", 1, 65535) or 8443,
        path=path,
        secret_token=secret,
    )
    return values


def _read_wechat(reader: _Reader) -> WeChatConfig | None:
    """The wechat section, its secrets overridden by the environment; None when absent or
    when token, app_id and app_secret are all unset."""
    if reader.data.get("wechat") is None:
        return None
    wechat = reader.section("wechat")
    values: dict[str, Any] = {}
    for key in ("token", "app_id", "app_secret", "encoding_aes_key"):
        value = reader.get(wechat, key, f"wechat.{key}", "text")
        env = WECHAT_SECRET_ENV.get(key)
        if env and os.environ.get(env):
            value = os.environ[env].strip()
        values[key] = value.strip() if value else None
    if not any(values[key] for key in ("token", "app_id", "app_secret")):
        return None  # every key null (as in config.example.yaml): WeChat is off
    for key in ("token", "app_id", "app_secret"):
        if not values[key]:
            env = f" (or set {WECHAT_SECRET_ENV[key]})" if key in WECHAT_SECRET_ENV else ""
            raise reader.fail(wechat.key_line(key), f"wechat.{key}", f"required{env}")
    if not _WECHAT_TOKEN.match(values["token"]):
        raise reader.fail(
            wechat.key_line("token"),
            "wechat.token",
            "use 3 to 32 letters and digits, as in the account's 服务器配置",
        )
    if values["encoding_aes_key"] and not _WECHAT_AES_KEY.match(values["encoding_aes_key"]):
        raise reader.fail(
            wechat.key_line("encoding_aes_key"),
            "wechat.encoding_aes_key",
            "expected the 43 letters and digits of the account's EncodingAESKey (or null)",
        )
    path = reader.get(wechat, "path", "wechat.path", "text", "/wechat")
    if not path.startswith("/"):
        raise reader.fail(wechat.key_line("path"), "wechat.path", "start it with '/'")
    return WeChatConfig(
        app_id=values["app_id"],
        token=values["token"],
        app_secret=values["app_secret"],
        encoding_aes_key=values["encoding_aes_key"],
        path=path,
        api_base_url=reader.url(
            wechat, "api_base_url", "wechat.api_base_url", "https://api.weixin.qq.com"
        ),
    )


def _shown(name: str, value: Any) -> str:
    """A value for an error message; a secret's (token, password...) is described, never shown."""
    if not _SECRET_KEY.search(name.rsplit(".", 1)[-1]):
        return repr(value)
    if isinstance(value, str):
        return f"text of {len(value)} characters (not shown)"
    return f"{type(value).__name__} (not shown)"


def token_problem(token: str) -> str | None:
    """Why `token` cannot be a Telegram bot token, or None if it has the right shape. Never
    repeats the token."""
    if not token:
        return "it is empty"
    if any(char.isspace() for char in token):
        return "it contains spaces or line breaks"
    bot_id, colon, _ = token.partition(":")
    if not colon:
        return "it has no ':' (a token is the bot's number, ':' and a secret, from @BotFather)"
    if not bot_id.isascii() or not bot_id.isdigit():
        return "the part before ':' must be the bot's numeric id"
    if not _BOT_TOKEN.match(token):
        return "after ':' must come the secret part: letters, digits, _ and - only"
    return None


def _user_ids(reader: _Reader, staff: LineDict, name: str) -> frozenset[int]:
    user_ids = staff.get("user_ids")
    if isinstance(user_ids, (int, str)) and not isinstance(user_ids, bool):
        raise reader.fail(staff.key_line("user_ids"), name, "expected a list such as [123456789]")
    user_ids = reader.get(staff, "user_ids", name, "list", [])
    for index, user_id in enumerate(user_ids):
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise reader.fail(
                user_ids.item_line(index),
                f"{name}[{index}]",
                f"expected a numeric Telegram user id without quotes, got {user_id!r}",
            )
    return frozenset(user_ids)


def _read_staff(reader: _Reader) -> dict[str, Any]:
    staff = reader.section("staff")
    user_ids = _user_ids(reader, staff, "staff.user_ids")
    language = reader.get(staff, "language", "staff.language", "text", "zh")
    if language not in ("zh", "en"):
        raise reader.fail(staff.key_line("language"), "staff.language", "expected zh or en")
    return {
        "staff_user_ids": user_ids,
        "staff_chat_id": reader.get(staff, "chat_id", "staff.chat_id", "integer"),
        "staff_language": language,
    }


def _read_stations(reader: _Reader) -> tuple[Site, ...]:
    """The `stations:` list: each station's place and own data (checked by the FAQ loader's
    station checks), its FAQ folder and its staff."""
    raw = reader.data.get("stations")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise reader.fail(
            reader.data.key_line("stations"),
            "stations",
            "expected a list of stations, each starting with '- id:' (or leave it out)",
        )
    sites: list[Site] = []
    staff_of: dict[int, str] = {}
    for index, item in enumerate(raw):
        name = f"stations[{index}]"
        if not isinstance(item, dict):
            raise reader.fail(raw.item_line(index), name, "expected a station ('- id: ...')")
        try:
            place, data = parse_site(item, reader.file, name, STATION_KEYS)
        except FaqError as error:
            problem = error.problems[0]
            where = f"{problem.file}:{problem.line}" if problem.line else problem.file
            raise ConfigError(f"{where}: {problem.field or name}: {problem.message}") from None
        if not STATION_ID.match(place.id):
            raise reader.fail(
                item.key_line("id"),
                f"{name}.id",
                f"use up to 32 lowercase letters, digits, _ and - (such as tianbao), "
                f"got {place.id!r}",
            )
        if any(site.id == place.id for site in sites):
            raise reader.fail(item.key_line("id"), f"{name}.id", f"{place.id!r} is listed twice")
        staff = item.get("staff")
        if staff is None:
            staff = LineDict()
            staff.line, staff.key_lines = item.key_line("staff"), {}
        elif not isinstance(staff, dict):
            raise reader.fail(
                item.key_line("staff"), f"{name}.staff", "expected user_ids: [...] and chat_id:"
            )
        reader.unknown_keys(staff, STATION_STAFF_KEYS, f"{name}.staff.")
        user_ids = _user_ids(reader, staff, f"{name}.staff.user_ids")
        for user_id in user_ids:
            if user_id in staff_of:
                raise reader.fail(
                    staff.key_line("user_ids"),
                    f"{name}.staff.user_ids",
                    f"{user_id} is staff of {staff_of[user_id]!r} already; staff who work for "
                    "every station go in staff.user_ids",
                )
            staff_of[user_id] = place.id
        sites.append(
            Site(
                place=place,
                data=data,
                faq_path=reader.path(item, "faq", f"{name}.faq"),
                staff_user_ids=user_ids,
                staff_chat_id=reader.get(staff, "chat_id", f"{name}.staff.chat_id", "integer"),
            )
        )
    return tuple(sites)


def _read_matching(reader: _Reader) -> dict[str, float]:
    matching = reader.section("matching")
    values = {}
    for key in SECTIONS["matching"]:
        value = reader.bounded(matching, key, f"matching.{key}", "number", 0, 100)
        if value is not None:
            values[key] = float(value)
    answer, suggest = values.get("answer_threshold"), values.get("suggest_threshold")
    if answer is not None and suggest is not None and suggest > answer:
        raise reader.fail(
            matching.key_line("suggest_threshold"),
            "matching.suggest_threshold",
            f"{suggest:g} is above answer_threshold {answer:g}; make it lower or equal",
        )
    return values


def _read_timezone(reader: _Reader) -> str:
    name = reader.get(reader.data, "timezone", "timezone", "text", "Asia/Shanghai")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(available_timezones()), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "use a name such as Asia/Shanghai"
        raise reader.fail(
            reader.data.key_line("timezone"), "timezone", f"unknown time zone {name!r}; {hint}"
        ) from None
    return name


def _read_web(reader: _Reader) -> WebConfig | None:
    if reader.data.get("web") is None:
        return None
    web = reader.section("web")
    base_url = reader.url(web, "base_url", "web.base_url", None)
    return WebConfig(
        listen=reader.get(web, "listen", "web.listen", "text", "127.0.0.1").strip() or "127.0.0.1",
        port=reader.bounded(web, "port", "web.port", "integer", 1, 65535) or 8080,
        base_url=base_url.rstrip("/") if base_url else None,
    )


def _read(reader: _Reader) -> Config:
    reader.unknown_keys(reader.data, TOP_KEYS, "")
    values = _read_telegram(reader)
    storage = reader.section("storage")
    storage_path = reader.path(storage, "path", "storage.path") or reader.base / "stationbot.db"
    storage_url = reader.get(storage, "url", "storage.url", "text")
    if os.environ.get(STORAGE_URL_ENV, "").strip():
        storage_url = os.environ[STORAGE_URL_ENV].strip()
        if not storage_url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"{STORAGE_URL_ENV}: expected a postgresql:// URL")
    elif storage_url is not None:
        storage_url = storage_url.strip()
        if not storage_url.startswith(("postgresql://", "postgres://")):
            raise reader.fail(
                storage.key_line("url"),
                "storage.url",
                "expected a postgresql:// URL (leave it out for the SQLite file storage.path)",
            )
        if "path" in storage:
            raise reader.fail(
                storage.key_line("url"),
                "storage.url",
                "give storage.path (SQLite) or storage.url (PostgreSQL), not both",
            )
    pool_size = reader.bounded(storage, "pool_size", "storage.pool_size", "integer", 1, 200)
    faq = reader.section("faq")
    faq_path = reader.path(faq, "path", "faq.path")
    overlay_path = reader.path(faq, "overlay", "faq.overlay")
    limits = reader.section("limits")
    flood_messages = reader.bounded(
        limits, "flood_messages", "limits.flood_messages", "integer", 1, None
    )
    flood_seconds = reader.bounded(
        limits, "flood_seconds", "limits.flood_seconds", "number", 1, None
    )
    retention = reader.section("retention")
    retention_days = reader.bounded(
        retention, "closed_items_days", "retention.closed_items_days", "integer", 1, None
    )
    return Config(
        **values,
        storage_path=storage_path,
        storage_url=storage_url,
        storage_pool_size=pool_size or 10,
        faq_path=faq_path,
        overlay_path=overlay_path,
        **_read_staff(reader),
        timezone=_read_timezone(reader),
        matching=_read_matching(reader),
        flood_max_messages=flood_messages or 20,
        flood_window_seconds=float(flood_seconds or 10),
        retention_days=retention_days,
        web=_read_web(reader),
        wechat=_read_wechat(reader),
        stations=_read_stations(reader),
        key_lines=reader.key_lines,
    )


def _config_file(path: str | Path | None) -> Path | None:
    if path is not None:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_config(path: str | Path | None = None, *, require_token: bool = False) -> Config:
    """The configuration from `path`, else $STATIONBOT_CONFIG, else ./config.yaml, else defaults.

    $STATIONBOT_TOKEN overrides telegram.token, $STATIONBOT_WECHAT_* WeChat's secrets,
    $STATIONBOT_STORAGE_URL storage.url; `require_token`: a Telegram token unless WeChat is
    configured. Raises ConfigError (one line) on any mistake.
    """
    file = _config_file(path)
    data = LineDict()
    data.line, data.key_lines = 1, {}
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise ConfigError(f"{file}: config file not found") from None
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"{file}: cannot read the config file: {reason}") from None
        parsed, problems = read_yaml(text, str(file))
        if problems:
            problem = problems[0]
            where = f"{problem.file}:{problem.line}" if problem.line else problem.file
            key = f" {problem.field}:" if problem.field else ""
            raise ConfigError(f"{where}:{key} {problem.message}")
        if isinstance(parsed, dict):
            data = parsed
        elif parsed is not None:
            raise ConfigError(
                f"{file}:1: top level: expected sections such as telegram: and staff:"
            )
    base = file.resolve().parent if file is not None else Path.cwd()
    config = _read(_Reader(str(file or "built-in defaults"), data, base))
    config.config_path = file
    if os.environ.get(TOKEN_ENV):
        config.token = os.environ[TOKEN_ENV].strip()
        config.token_from_environment = True
    if config.token == "" and not config.token_from_environment:
        config.token = None  # token: "" in the file, as in a template: no token
    problem = None if config.token is None else token_problem(config.token)
    if problem:
        raise ConfigError(f"{config.token_source}: not a Telegram bot token: {problem}")
    # the token is needed when Telegram is the way in: a WeChat-only station runs without it
    if require_token and not config.token and config.wechat is None:
        where = file or f"{DEFAULT_CONFIG_FILE} (copy config.example.yaml)"
        raise ConfigError(f"no Telegram token: set {TOKEN_ENV} or telegram.token in {where}")
    return config


def check_storage_path(config: Config) -> None:
    """Raise ConfigError unless the database file can be created or written where configured
    (nothing to check here for a PostgreSQL URL: opening it says what is wrong)."""
    if config.storage_url:
        return
    path = config.storage_path
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(
            f"{config.where('storage.path')}: folder {folder} does not exist; "
            "create it or change storage.path"
        )
    if path.is_dir():
        raise ConfigError(f"{config.where('storage.path')}: {path} is a folder; name a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{config.where('storage.path')}: cannot write {path}; check its rights")
    try:
        # SQLite writes its journal next to the database, so the folder must take new files
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ConfigError(
            f"{config.where('storage.path')}: cannot write in folder {folder} "
            f"({error.strerror}); change storage.path"
        ) from None


def check_station(config: Config, station_id: str | None) -> None:
    """Raise ConfigError unless `station_id` (a command's --station) is None or configured."""
    if station_id is not None and not any(site.id == station_id for site in config.stations):
        known = ", ".join(site.id for site in config.stations) or "none configured"
        raise ConfigError(f"no station {station_id!r} in {config.where('stations')} ({known})")


def load_station_faq(config: Config, site: Site | None = None) -> KnowledgeBase:
    """The knowledge base residents get: config's FAQ (else the bundled one), with `site`'s
    own entries (its `faq:`) if given, and the staff overlay on top. Raises
    faq.loader.FaqError."""
    station_faq = site.faq_path if site is not None else None
    return load(config.faq_path, overlay=config.overlay_path, station_faq=station_faq)
