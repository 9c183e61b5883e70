"""The staff web console's locks: sessions, CSRF, sign-in limits, escaping, cookies."""

from __future__ import annotations

import re
from pathlib import Path

import aiosqlite
import pytest
from web_console import PASSWORD, TEST_HASH_COST, api_login, client_for, console, seed

from bot import accounts
from bot.accounts import Accounts, hash_password, verify_password
from bot.storage import MIGRATIONS, Storage, apply_migrations

READ_ROUTES = [
    "/api/items",
    "/api/items/Q0001",
    "/api/review",
    "/api/wishes",
    "/api/stats",
    "/api/export.csv",
]
CHANGE_ROUTES = [
    ("/api/items/Q0001/reply", {"text": "请打物业电话"}),
    ("/api/items/Q0001/resolve", {"note": "done"}),
    ("/api/items/Q0001/teach", {"entry_id": "canteen.hours"}),
    ("/api/wishes/W0001/status", {"status": "accepted"}),
    ("/api/try", {"text": "食堂几点开门"}),
    ("/api/logout", {}),
]
FORM_ROUTES = [
    ("/items/Q0001/reply", {"text": "请打物业电话"}),
    ("/items/Q0001/resolve", {"note": ""}),
    ("/items/Q0001/teach", {"entry_id": "canteen.hours"}),
    ("/review/teach", {"refs": "Q0001", "entry_id": "canteen.hours"}),
    ("/review/dismiss", {"refs": "Q0001"}),
    ("/wishes/status", {"refs": "W0001", "status": "accepted"}),
    ("/logout", {}),
]
PAGES = ["/inbox", "/items/Q0001", "/review", "/wishes", "/figures", "/faq", "/export.csv"]


async def test_every_api_route_needs_a_session(tmp_path: Path) -> None:
    async with console(tmp_path) as c, client_for(c.app) as client:
        await seed(c.storage)
        for path in READ_ROUTES:
            response = await client.get(path)
            assert response.status == 401, path
            assert (await response.json())["error"] == "not signed in"
        for path, body in CHANGE_ROUTES:
            response = await client.post(path, json=body)
            assert response.status == 401, path
        item = await c.storage.get_item("Q0001")
        assert item is not None and item.status == "open" and not item.replies


async def test_every_page_sends_a_stranger_to_sign_in(tmp_path: Path) -> None:
    async with console(tmp_path) as c, client_for(c.app) as client:
        await seed(c.storage)
        for path in PAGES:
            response = await client.get(path, allow_redirects=False)
            assert response.status == 303, path
            assert response.headers["Location"].startswith("/login?next=")
        for path, form in FORM_ROUTES:
            response = await client.post(path, data=form, allow_redirects=False)
            assert response.status == 401, path


async def test_state_changes_without_the_csrf_token_are_refused(tmp_path: Path) -> None:
    async with console(tmp_path) as c, client_for(c.app) as client:
        await seed(c.storage)
        csrf = await api_login(client)
        for path, body in CHANGE_ROUTES:
            response = await client.post(path, json=body)
            assert response.status == 403, path
            wrong = await client.post(path, json=body, headers={"X-CSRF-Token": csrf[:-1] + "x"})
            assert wrong.status == 403, path
        for path, form in FORM_ROUTES:
            response = await client.post(path, data=form, allow_redirects=False)
            assert response.status == 403, path
            forged = await client.post(path, data={**form, "csrf": "forged"}, allow_redirects=False)
            assert forged.status == 403, path
        item = await c.storage.get_item("Q0001")
        assert item is not None and item.status == "open" and not item.replies
        wish = await c.storage.get_item("W0001")
        assert wish is not None and wish.status == "open"
        # still signed in: the refused logout did not sign out
        assert (await client.get("/api/items")).status == 200


async def test_the_session_cookie_is_httponly_strict_and_secure_over_https(tmp_path: Path) -> None:
    async with console(tmp_path) as c, client_for(c.app) as client:
        response = await client.post("/api/login", json={"name": "wang", "password": PASSWORD})
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("console_session=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    async with (
        console(tmp_path / "https", base_url="https://station.example.org") as c,
        client_for(c.app) as client,
    ):
        response = await client.post("/api/login", json={"name": "wang", "password": PASSWORD})
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("__Host-console=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie


async def test_only_a_hash_of_the_session_token_is_stored(tmp_path: Path) -> None:
    async with console(tmp_path) as c, client_for(c.app) as client:
        await api_login(client)
        token = next(cookie.value for cookie in client.session.cookie_jar)
    raw = (tmp_path / "station.db").read_bytes()
    assert token.encode() not in raw


async def test_wrong_passwords_are_rate_limited_per_account(tmp_path: Path) -> None:
    async with console(tmp_path) as c, client_for(c.app) as client:
        for _ in range(accounts.MAX_FAILURES_PER_ACCOUNT):
            response = await client.post("/api/login", json={"name": "wang", "password": "guess"})
            assert response.status == 401
        # now even the right password is refused until the window has passed
        response = await client.post("/api/login", json={"name": "WANG", "password": PASSWORD})
        assert response.status == 429
        assert (await client.get("/api/items")).status == 401


async def test_wrong_passwords_are_rate_limited_per_address(tmp_path: Path) -> None:
    async with console(tmp_path) as c, client_for(c.app) as client:
        for index in range(accounts.MAX_FAILURES_PER_ADDRESS):
            name = f"guess{index}"  # a different account each time: the account limit never trips
            response = await client.post("/api/login", json={"name": name, "password": "x"})
            assert response.status == 401
        response = await client.post("/api/login", json={"name": "wang", "password": PASSWORD})
        assert response.status == 429


async def test_the_form_sign_in_shows_the_limit(tmp_path: Path) -> None:
    async with console(tmp_path) as c, client_for(c.app) as client:
        for _ in range(accounts.MAX_FAILURES_PER_ACCOUNT + 1):
            page = await (await client.get("/login")).text()
            token = re.search(r'name="login_csrf" value="([^"]+)"', page)[1]
            response = await client.post(
                "/login", data={"name": "wang", "password": "nope", "login_csrf": token}
            )
        assert "尝试次数太多" in await response.text()


async def test_a_non_staff_cannot_sign_in(tmp_path: Path) -> None:
    """Residents (by Telegram id or name) and Telegram staff without a web account get nothing."""
    async with console(tmp_path) as c, client_for(c.app) as client:
        await seed(c.storage)
        for name, password in (("7", PASSWORD), ("王阿姨", PASSWORD), ("900", ""), ("", "")):
            response = await client.post("/api/login", json={"name": name, "password": password})
            assert response.status == 401, name
        assert (await client.get("/api/items")).status == 401


async def test_sign_in_form_needs_its_own_token(tmp_path: Path) -> None:
    """A page elsewhere cannot sign a browser into the console (login CSRF)."""
    async with console(tmp_path) as c, client_for(c.app) as client:
        response = await client.post(
            "/login", data={"name": "wang", "password": PASSWORD}, allow_redirects=False
        )
        assert response.status == 403
        page = await (await client.get("/login")).text()
        token = re.search(r'name="login_csrf" value="([^"]+)"', page)[1]
        response = await client.post(
            "/login",
            data={"name": "wang", "password": PASSWORD, "login_csrf": token, "next": "//evil.org"},
            allow_redirects=False,
        )
        assert response.status == 303
        assert response.headers["Location"] == "/inbox"  # never an open redirect


async def test_html_in_residents_text_is_shown_as_text(tmp_path: Path) -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    async with console(tmp_path) as c, client_for(c.app) as client:
        await c.storage.touch_resident(5, display_name="<b>Eve</b>")
        await c.storage.save_question(5, 5, attack)
        await c.storage.save_wish(5, 5, attack)
        await api_login(client)
        for path in ("/inbox", "/items/Q0001", "/items/W0001", "/wishes", "/review"):
            page = await (await client.get(path)).text()
            assert "<script>alert" not in page and "<img src=x" not in page, path
            assert "&lt;script&gt;" in page, path
            assert "<b>Eve</b>" not in page
        headers = (await client.get("/inbox")).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        # the API hands the text back exactly, as JSON (never as HTML)
        response = await client.get("/api/items/Q0001")
        assert response.content_type == "application/json"
        assert (await response.json())["text"] == attack


async def test_sign_out_ends_the_session_on_the_server(tmp_path: Path) -> None:
    async with console(tmp_path) as c, client_for(c.app) as client:
        csrf = await api_login(client)
        token = next(cookie.value for cookie in client.session.cookie_jar)
        assert (await client.post("/api/logout", headers={"X-CSRF-Token": csrf})).status == 200
        # the old cookie, replayed, opens nothing
        response = await client.get("/api/items", cookies={"console_session": token})
        assert response.status == 401


async def test_removed_account_loses_its_sessions(tmp_path: Path) -> None:
    async with console(tmp_path) as c, client_for(c.app) as client:
        await api_login(client)
        await Accounts(c.storage, hash_cost=TEST_HASH_COST).remove("wang")
        assert (await client.get("/api/items")).status == 401


def test_passwords_are_stored_with_scrypt_at_owasp_cost() -> None:
    stored = hash_password("a long password")
    scheme, n, r, p, _salt, _key = stored.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", 2**17, 8, 1)
    assert verify_password("a long password", stored)
    assert not verify_password("a long passw0rd", stored)
    assert hash_password("a long password") != stored  # salted


@pytest.mark.parametrize("password", ["short", ""])
async def test_short_passwords_are_refused(tmp_path: Path, password: str) -> None:
    async with console(tmp_path) as c:
        with pytest.raises(accounts.AccountError, match="at least"):
            await Accounts(c.storage, hash_cost=TEST_HASH_COST).add("li", password)


async def test_a_database_of_today_upgrades_to_the_console_schema(tmp_path: Path) -> None:
    """m005 on a database made by m001-m004: items stay, the console's tables appear, and a
    removed account takes its sessions along (ON DELETE CASCADE)."""
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path, isolation_level=None) as old:
        await apply_migrations(old, [m for m in MIGRATIONS if m.__name__ < "m005"])
        await old.execute(
            "INSERT INTO questions (user_id, chat_id, text, created_at, updated_at)"
            " VALUES (7, 7, '小区停水了找谁', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
        )
    async with Storage.open(path) as storage:
        assert (await storage.get_item("Q0001")).text == "小区停水了找谁"
        accounts = Accounts(storage, hash_cost=TEST_HASH_COST)
        await accounts.add("wang", PASSWORD)
        session = await accounts.sign_in("wang", PASSWORD, "127.0.0.1")
        assert (await accounts.session(session.token)).name == "wang"
        await accounts.remove("wang")
        assert await accounts.session(session.token) is None
    names = [m.__name__ for m in MIGRATIONS]  # later migrations (m006 ...) may follow
    assert names.index("m005_web_console") == names.index("m004_channels_inbox_outbox") + 1
