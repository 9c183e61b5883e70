"""Configuration: where it comes from, what it defaults to, and one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from bot.config import (
    SECTIONS,
    WECHAT_SECRET_ENV,
    Config,
    ConfigError,
    WebhookConfig,
    check_storage_path,
    load_config,
)

REPO = Path(__file__).parents[1]
SECRET = "HUSH_hush-1" + "0123456789" * 3  # a webhook secret of the required length


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config or token from the developer's shell, and a cwd without config.yaml."""
    monkeypatch.delenv("STATIONBOT_CONFIG", raising=False)
    monkeypatch.delenv("STATIONBOT_TOKEN", raising=False)
    monkeypatch.delenv("STATIONBOT_STORAGE_URL", raising=False)
    for name in WECHAT_SECRET_ENV.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def write(folder: Path, text: str, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, **kwargs) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(str(path), **kwargs)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_built_in_defaults_without_any_file(tmp_path: Path) -> None:
    config = load_config()
    assert config.config_path is None
    assert config.token is None
    assert config.faq_path is None  # the bundled FAQ
    assert config.storage_path == tmp_path / "stationbot.db"
    assert config.overlay_path == tmp_path / "staff-overlay.yaml"
    assert config.timezone == "Asia/Shanghai"
    assert (config.flood_max_messages, config.flood_window_seconds) == (20, 10)
    assert config.matching == {}
    assert config.webhook is None
    assert config.base_url == "https://api.telegram.org/bot"
    assert config.staff_user_ids == frozenset()


def test_example_config_loads_and_documents_every_key(tmp_path: Path) -> None:
    example = REPO / "config.example.yaml"
    config = load_config(example)
    assert config.token == "123:ABC"
    assert config.storage_path == REPO / "stationbot.db"
    raw = yaml.safe_load(example.read_text(encoding="utf-8"))
    assert set(raw) == {*SECTIONS, "timezone", "stations"}
    assert config.stations == ()  # documented, commented out: one station
    for section, keys in SECTIONS.items():
        assert set(raw[section]) == set(keys), section


def test_explicit_path_beats_environment_beats_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "timezone: Asia/Tokyo\n")
    assert load_config().timezone == "Asia/Tokyo"
    from_env = write(tmp_path, "timezone: Europe/Paris\n", "env.yaml")
    monkeypatch.setenv("STATIONBOT_CONFIG", str(from_env))
    assert load_config().timezone == "Europe/Paris"
    explicit = write(tmp_path, "timezone: UTC\n", "explicit.yaml")
    assert load_config(str(explicit)).timezone == "UTC"


def test_environment_token_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, 'telegram:\n  token: "123:FROMFILE"\n')
    assert load_config(path).token == "123:FROMFILE"
    monkeypatch.setenv("STATIONBOT_TOKEN", "456:FROMENV")
    assert load_config(path).token == "456:FROMENV"


def test_postgresql_url_from_the_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_config(write(tmp_path, "telegram:\n  token: '1:x'\n")).database == (
        tmp_path / "stationbot.db"
    )
    path = write(tmp_path, 'storage:\n  url: "postgresql://bot@db/station"\n')
    config = load_config(path, require_token=False)
    assert config.database == "postgresql://bot@db/station"
    monkeypatch.setenv("STATIONBOT_STORAGE_URL", "postgresql://bot:s3cret@db2/station")
    config = load_config(path, require_token=False)
    assert config.database == "postgresql://bot:s3cret@db2/station"
    assert "s3cret" not in config.database_shown and "s3cret" not in repr(config)
    monkeypatch.setenv("STATIONBOT_STORAGE_URL", "mysql://db")
    with pytest.raises(ConfigError, match="STATIONBOT_STORAGE_URL: expected a postgresql"):
        load_config(path, require_token=False)


def test_storage_url_must_be_postgresql_and_alone(tmp_path: Path) -> None:
    path = write(tmp_path, 'storage:\n  url: "sqlite:x.db"\n')
    with pytest.raises(ConfigError, match=r"config.yaml:2: storage.url: expected a postgresql"):
        load_config(path, require_token=False)
    path = write(tmp_path, 'storage:\n  path: "x.db"\n  url: "postgresql://db/s"\n')
    with pytest.raises(ConfigError, match="not both"):
        load_config(path, require_token=False)


def test_storage_pool_size_is_read_and_bounded(tmp_path: Path) -> None:
    path = write(tmp_path, 'storage:\n  url: "postgresql://db/s"\n  pool_size: 4\n')
    assert load_config(path, require_token=False).storage_pool_size == 4
    assert load_config(write(tmp_path, ""), require_token=False).storage_pool_size == 10
    path = write(tmp_path, 'storage:\n  url: "postgresql://db/s"\n  pool_size: 0\n')
    with pytest.raises(ConfigError, match=r"config.yaml:3: storage.pool_size"):
        load_config(path, require_token=False)


def test_token_and_webhook_secret_never_show_in_repr_or_str(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "telegram:\n  token: '123:VERYSECRET'\n"
        f"  webhook: {{url: 'https://bot.example.org/t', secret_token: {SECRET}}}\n",
    )
    config = load_config(path)
    for text in (repr(config), str(config), f"{config}", repr(config.webhook)):
        assert "VERYSECRET" not in text and SECRET not in text
    assert config.masked_token == "123:****"
    assert config.webhook == WebhookConfig(url="https://bot.example.org/t", secret_token=SECRET)


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = write(
        folder, "storage: {path: data/bot.db}\nfaq: {path: ../faq, overlay: taught.yaml}\n"
    )
    config = load_config(path)
    assert config.storage_path == folder / "data" / "bot.db"
    assert config.faq_path == tmp_path / "faq"
    assert config.overlay_path == folder / "taught.yaml"


def test_overlay_defaults_to_next_to_the_database(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "storage: {path: /srv/station/bot.db}\n"))
    assert config.overlay_path == Path("/srv/station/staff-overlay.yaml")
    assert Config(storage_path=Path("/x/y.db")).overlay_path == Path("/x/staff-overlay.yaml")


def test_values_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
staff: {user_ids: [111, 222], chat_id: -100123}
matching: {answer_threshold: 85, suggest_threshold: 55.5}
limits: {flood_messages: 5, flood_seconds: 30}
retention: {closed_items_days: 90}
telegram: {base_url: "http://localhost:8081/bot"}
""",
    )
    config = load_config(path)
    assert config.staff_user_ids == frozenset({111, 222})
    assert config.staff_chat_id == -100123
    assert config.matching == {"answer_threshold": 85.0, "suggest_threshold": 55.5}
    assert (config.flood_max_messages, config.flood_window_seconds) == (5, 30.0)
    assert config.retention_days == 90
    assert config.base_url == "http://localhost:8081/bot"


def test_empty_config_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing yet\n")).timezone == "Asia/Shanghai"


BROKEN = [
    # (file text, line, key, words)
    # an unclosed bracket is named where it opens (line 2), not past the end of the file
    ("staff:\n  user_ids: [1\n", 2, None, "the bracket [ opened on this line is not closed"),
    ("staff:\n  user_id: [1]\n", 2, "staff.user_id", "did you mean 'user_ids'?"),
    ("telegarm:\n  token: x\n", 1, "telegarm", "did you mean 'telegram'?"),
    ("staff:\n  user_ids: '123'\n", 2, "staff.user_ids", "expected a list"),
    ("staff:\n  user_ids: [123, '456']\n", 2, "staff.user_ids[1]", "without quotes"),
    ("staff:\n  chat_id: group\n", 2, "staff.chat_id", "expected integer"),
    ("limits:\n  flood_messages: '20'\n", 2, "limits.flood_messages", "remove the quotes"),
    ("limits:\n  flood_messages: 0\n", 2, "limits.flood_messages", "at least 1"),
    ("matching:\n  answer_threshold: 180\n", 2, "matching.answer_threshold", "0 to 100"),
    (
        "matching:\n  answer_threshold: 50\n  suggest_threshold: 70\n",
        3,
        "matching.suggest_threshold",
        "above answer_threshold",
    ),
    ("\n\ntimezone: Asia/Shanghia\n", 3, "timezone", "did you mean 'Asia/Shanghai'?"),
    ("telegram:\n  token: 12345\n", 2, "telegram.token", "put it in quotes"),
    ("telegram:\n  base_url: api.telegram.org\n", 2, "telegram.base_url", "http(s)://"),
    ("telegram:\n  webhook: {url: 'http://x'}\n", 2, "telegram.webhook.url", "https://"),
    (
        "telegram:\n  webhook:\n    url: https://x\n    port: 99999\n",
        4,
        "telegram.webhook.port",
        "65535",
    ),
    (
        "telegram:\n  webhook:\n    url: https://x\n    prot: 1\n",
        4,
        "telegram.webhook.prot",
        "'port'",
    ),
    (
        "telegram:\n  webhook: {url: 'https://x', secret_token: 'a b'}\n",
        2,
        "telegram.webhook.secret_token",
        "A-Z",
    ),
    ("storage: stationbot.db\n", 1, "storage", "expected a section with path"),
    ("retention:\n  closed_items_days: 1.5\n", 2, "retention.closed_items_days", "integer"),
    ("staff:\n  user_ids: [1]\n  user_ids: [2]\n", 3, None, "appears twice"),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), BROKEN)
def test_mistake_is_one_line_naming_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str | None, words: str
) -> None:
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: "), message
    if key:
        assert f": {key}: " in message, message
    assert words in message, message


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: config file not found"


def test_missing_token_says_where_to_set_it(tmp_path: Path) -> None:
    path = write(tmp_path, "timezone: UTC\n")
    assert error_of(path, require_token=True) == (
        f"no Telegram token: set STATIONBOT_TOKEN or telegram.token in {path}"
    )
    assert load_config(path).token is None  # only required when asked


def test_storage_folder_that_does_not_exist_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "timezone: UTC\nstorage:\n  path: missing/bot.db\n")
    config = load_config(path)
    with pytest.raises(ConfigError) as raised:
        check_storage_path(config)
    assert str(raised.value).startswith(f"{path}:3: storage.path: folder ")
    assert "does not exist" in str(raised.value)


def test_writable_storage_folder_passes(tmp_path: Path) -> None:
    check_storage_path(load_config(write(tmp_path, "storage: {path: bot.db}\n")))
    assert not (tmp_path / "bot.db").exists()  # checking creates nothing


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_storage_folder_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    config = load_config(write(tmp_path, "storage: {path: ro/bot.db}\n"))
    with pytest.raises(ConfigError, match="cannot write in folder"):
        check_storage_path(config)


# --- secrets in messages, bad tokens, webhook defaults (issue 10, items 1, 2, 12) ----------

TOKEN_TEXT = "987654:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.mark.parametrize(
    "text",
    [
        f'telegram:\n  token: ["{TOKEN_TEXT}"]\n',
        f'telegram:\n  token: {{value: "{TOKEN_TEXT}"}}\n',
        f"telegram:\n  webhook: {{url: 'https://x', secret_token: ['{TOKEN_TEXT}']}}\n",
        f"telegram:\n  webhook: {{url: 'https://x', secret_token: {TOKEN_TEXT[:6]}}}\n",
    ],
    ids=["token as a list", "token as a mapping", "secret as a list", "secret as a number"],
)
def test_a_config_error_never_shows_a_secret(tmp_path: Path, text: str) -> None:
    message = error_of(write(tmp_path, text))
    assert TOKEN_TEXT not in message and TOKEN_TEXT[:6] not in message
    assert "AAHdq" not in message
    assert message.startswith(f"{tmp_path / 'config.yaml'}:2: telegram.")
    assert "not shown" in message


def test_values_of_other_keys_are_still_shown(tmp_path: Path) -> None:
    assert "'20'" in error_of(write(tmp_path, "limits:\n  flood_messages: '20'\n"))


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("abc", "no ':'"),
        ("123456:ABC def", "spaces"),
        ("   ", "spaces"),
        ("bot123:ABC", "numeric id"),
        ("１２３:ABC", "numeric id"),
        ("123:ABC/../x", "secret part"),
        ("123:", "secret part"),
    ],
)
def test_a_token_that_cannot_be_valid_is_refused_naming_the_file_and_line(
    tmp_path: Path, token: str, why: str
) -> None:
    path = write(tmp_path, f'timezone: UTC\ntelegram:\n  token: "{token}"\n')
    message = error_of(path)
    assert message.startswith(f"{path}:3: telegram.token: not a Telegram bot token: ")
    assert why in message
    if token.strip():
        assert token not in message


def test_a_bad_token_from_the_environment_is_blamed_on_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, f'telegram:\n  token: "{TOKEN_TEXT}"\n')
    monkeypatch.setenv("STATIONBOT_TOKEN", "not-a-token")
    message = error_of(path)
    assert message == (
        "the STATIONBOT_TOKEN environment variable: not a Telegram bot token: it has no ':'"
        " (a token is the bot's number, ':' and a secret, from @BotFather)"
    )
    monkeypatch.setenv("STATIONBOT_TOKEN", "123:fromenv")
    config = load_config(path)
    assert config.token_source == "the STATIONBOT_TOKEN environment variable"
    monkeypatch.delenv("STATIONBOT_TOKEN")
    assert load_config(path).token_source == f"{path}:2: telegram.token"


def test_stationbot_run_stops_on_a_bad_token_with_one_line_and_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import argparse

    from handlers.telegram import main

    path = write(tmp_path, "storage: {path: bot.db}\n")
    monkeypatch.setenv("STATIONBOT_TOKEN", "zz top secret")
    assert main(argparse.Namespace(config=str(path))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "STATIONBOT_TOKEN" in err and "spaces" in err
    assert "zz top secret" not in err and "Traceback" not in err
    assert not (tmp_path / "bot.db").exists()


def test_an_empty_token_in_the_file_means_no_token(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, 'telegram:\n  token: ""\n')).token is None


def test_webhook_listens_on_localhost_unless_told_otherwise(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram:\n  webhook: {url: 'https://bot.example.org/t'}\n")
    webhook = load_config(path).webhook
    assert webhook is not None
    assert (webhook.listen, webhook.secret_token) == ("127.0.0.1", None)
    assert WebhookConfig(url="https://x").listen == "127.0.0.1"
    path = write(
        tmp_path, "telegram:\n  webhook: {url: 'https://bot.example.org/t', listen: 0.0.0.0}\n"
    )
    assert load_config(path).webhook.listen == "0.0.0.0"


@pytest.mark.parametrize(
    ("secret", "accepted"),
    [("x" * 31, False), ("x" * 32, True), ("A-z_9" * 51 + "x", True), ("x" * 257, False)],
)
def test_webhook_secret_is_at_least_32_characters(
    tmp_path: Path, secret: str, accepted: bool
) -> None:
    path = write(
        tmp_path,
        f"telegram:\n  webhook:\n    url: https://bot.example.org/t\n    secret_token: {secret}\n",
    )
    if accepted:
        assert load_config(path).webhook.secret_token == secret
    else:
        message = error_of(path)
        assert message.startswith(f"{path}:4: telegram.webhook.secret_token: use 32 to 256 ")
        assert secret not in message


# --- WeChat and the web server ---

WECHAT = (
    "wechat:\n"
    "  token: station-token\n"
    "  app_id: wx1234567890abcdef\n"
    "  app_secret: secret-in-file-0123\n"
    "  encoding_aes_key: abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\n"
)


def test_wechat_section_is_read_and_its_secrets_stay_out_of_reprs(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, WECHAT + "web:\n  port: 9000\n"), require_token=True)
    wechat = config.wechat
    assert (wechat.app_id, wechat.path, wechat.api_base_url) == (
        "wx1234567890abcdef",
        "/wechat",
        "https://api.weixin.qq.com",
    )
    assert config.token is None, "WeChat alone runs without a Telegram token"
    assert config.web.port == 9000 and config.web.listen == "127.0.0.1"
    for secret in ("station-token", "secret-in-file-0123", "abcdefghijklmnop"):
        assert secret not in repr(config)


def test_wechat_secrets_from_the_environment_override_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATIONBOT_WECHAT_APP_SECRET", "secret-from-env")
    monkeypatch.setenv("STATIONBOT_WECHAT_TOKEN", "envtoken")
    wechat = load_config(write(tmp_path, WECHAT)).wechat
    assert (wechat.app_secret, wechat.token) == ("secret-from-env", "envtoken")


@pytest.mark.parametrize(
    ("edit", "line", "key", "words"),
    [
        (("  app_secret: secret-in-file-0123\n", ""), 2, "wechat.app_secret", "required"),
        (("token: station-token", "token: a b"), 2, "wechat.token", "3 to 32"),
        (("encoding_aes_key: abc", "encoding_aes_key: ab"), 5, "wechat.encoding_aes_key", "43"),
        (("wechat:\n", "wechat:\n  path: wechat\n"), 2, "wechat.path", "start it with"),
        (("wechat:\n", "wechat:\n  appid: x\n"), 2, "wechat.appid", "did you mean 'app_id'"),
    ],
)
def test_wechat_mistakes_name_file_line_and_key(
    tmp_path: Path, edit: tuple[str, str], line: int, key: str, words: str
) -> None:
    path = write(tmp_path, WECHAT.replace(*edit))
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: {key}: "), message
    assert words in message, message


def test_wechat_section_with_every_key_null_is_off(tmp_path: Path) -> None:
    text = "wechat:\n  token: null\n  app_id: null\n  app_secret: null\n"
    assert load_config(write(tmp_path, text)).wechat is None
    assert "no Telegram token" in error_of(write(tmp_path, text), require_token=True)
