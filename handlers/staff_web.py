"""The staff web console (issue 12): HTML pages and a JSON API over the staff core.

aiohttp.web, because aiohttp is already the bot's HTTP client and its server runs in the
bot's own event loop: the Telegram webhook, the WeChat endpoint and these pages share one
server. `register(app, desk_factory)` adds the routes to any aiohttp Application; every
handler checks the session itself (no app-wide middleware), so the other channels' routes
stay untouched. Pages work without JavaScript: forms post and redirect.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import jinja2
import yaml
from aiohttp import web
from rapidfuzz import fuzz, process

from bot.accounts import SESSION_HOURS, Accounts, SignInRefused
from bot.config import ConfigError, WebConfig
from bot.core import Station
from bot.messages import LANGUAGES, MESSAGES, t
from bot.review import REVIEW_DAYS, ReviewCache, inbox_page
from bot.staff import WISH_STATUSES, Actor, StaffDesk, StaffError, format_age, teach_phrasings
from bot.stations import site_of
from bot.storage import (
    OUTCOMES,
    STATUSES,
    Item,
    Storage,
    StorageError,
    WebSession,
    parse_time,
)
from faq.loader import FaqError
from faq.matcher import Matcher
from faq.model import Entry, KnowledgeBase
from faq.normalize import detect_language
from handlers import charts

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PER_PAGE = 25
MAX_TEXT = 4000  # a reply or note longer than this is refused (Telegram's limit is 4096)
MAX_BODY = 64 * 1024
LANG_COOKIE = "console_lang"
STATIC_ROUTE = "staff_console_static"
LOGIN_CSRF_COOKIE = "console_login"
FIGURE_DAYS = (7, 14, 30)
AGE_BOUNDS_HOURS = (24, 72, 168)  # open items by age: < 1 day, 1-3 days, 3-7 days, older
SECURITY_HEADERS = {
    # everything the pages use comes from this server; no page may frame them
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

DeskFactory = Callable[[], StaffDesk]


@dataclass
class Console:
    """What the routes share: how to reach the staff core, sign-in, templates, caches."""

    desk_factory: DeskFactory
    web: WebConfig
    templates: jinja2.Environment
    review: ReviewCache = field(default_factory=ReviewCache)
    accounts_by_storage: dict[int, Accounts] = field(default_factory=dict)
    hash_cost: int | None = None  # tests lower the scrypt cost
    reader: Storage | None = None  # a read-only second connection to the same database
    # the review page of staff limited to one station: their station's questions only
    station_reviews: dict[str, ReviewCache] = field(default_factory=dict)

    def review_for(self, station: str | None) -> ReviewCache:
        if station is None:
            return self.review
        return self.station_reviews.setdefault(station, ReviewCache(station=station))

    def invalidate_reviews(self) -> None:
        for review in (self.review, *self.station_reviews.values()):
            review.invalidate()

    async def close_reviews(self) -> None:
        for review in (self.review, *self.station_reviews.values()):
            await review.close()

    @property
    def cookie(self) -> str:
        # __Host-: the browser keeps it to this host, path / and https only
        return "__Host-console" if self.web.secure else "console_session"

    def accounts(self, storage: Storage) -> Accounts:
        accounts = self.accounts_by_storage.get(id(storage))
        if accounts is None or accounts.storage is not storage:
            kwargs = {"hash_cost": self.hash_cost} if self.hash_cost else {}
            accounts = Accounts(storage, **kwargs)
            self.accounts_by_storage[id(storage)] = accounts
        return accounts


CONSOLE = web.AppKey("staff_console", Console)


@dataclass
class Ctx:
    """One request's view of the console: the desk, who is signed in, in which language."""

    console: Console
    desk: StaffDesk
    lang: str
    session: WebSession | None = None

    @property
    def storage(self) -> Storage:
        """The staff core's storage: every write goes through it."""
        return self.desk.storage

    @property
    def reads(self) -> Storage:
        """Where the pages read lists and figures: a second connection when given, so a long
        read never holds the bot's connection (WAL: readers do not block the writer)."""
        return self.console.reader or self.desk.storage

    @property
    def kb(self) -> KnowledgeBase:
        """The entries the account's residents get (a station's own on top of the shared)."""
        return self.desk.station.faq_of(self.scope)[0]

    @property
    def matcher(self) -> Matcher:
        return self.desk.station.faq_of(self.scope)[1]

    @property
    def actor(self) -> Actor:
        assert self.session is not None
        session = self.session
        return Actor("web", str(session.account_id), session.name, self.lang, session.station_id)

    @property
    def scope(self) -> str | None:
        """The station whose items the signed-in account sees (None: every station)."""
        return self.desk.scope(self.actor) if self.session is not None else None

    @property
    def station_name(self) -> str:
        """The name of the station the account is limited to; "" for every station."""
        site = site_of(self.desk.station.config.stations, self.scope)
        return site.name(self.lang) if site is not None else ""

    @property
    def review(self) -> ReviewCache:
        return self.console.review_for(self.scope)

    def t(self, key: str, **values: object) -> str:
        return t(key, self.lang, **values)


# --- registration ------------------------------------------------------------------------------


def register(
    app: web.Application,
    desk_factory: DeskFactory,
    *,
    web_config: WebConfig | None = None,
    hash_cost: int | None = None,
    reader: Storage | None = None,
) -> None:
    """Adds the console's pages, API and static files to `app`. `desk_factory()` returns the
    staff core to use for each request (so a reloaded one is picked up). `reader`, a second
    Storage on the same file, takes the pages' long reads (inbox search, review, figures)
    off the connection the bot writes through."""
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # residents write what they like: every value is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.filters["age"] = _age
    templates.filters["when"] = _when
    console = Console(
        desk_factory, web_config or WebConfig(), templates, hash_cost=hash_cost, reader=reader
    )
    app[CONSOLE] = console

    async def stop_refreshing(app: web.Application) -> None:
        await console.close_reviews()

    app.on_cleanup.append(stop_refreshing)
    page, api = _page, _api
    app.router.add_routes(
        [
            web.get("/", page(index)),
            web.get("/login", login_form),
            web.post("/login", login_submit),
            web.post("/logout", page(logout, change=True)),
            web.get("/lang/{lang}", switch_language),
            web.get("/inbox", page(inbox_view)),
            web.get("/items/{ref}", page(item_view)),
            web.get("/items/{ref}/draft", page(draft_view)),
            web.post("/items/{ref}/reply", page(reply_form, change=True)),
            web.post("/items/{ref}/resolve", page(resolve_form, change=True)),
            web.post("/items/{ref}/teach", page(teach_form, change=True)),
            web.get("/review", page(review_view)),
            web.post("/review/teach", page(review_teach_form, change=True)),
            web.post("/review/dismiss", page(review_dismiss_form, change=True)),
            web.get("/wishes", page(wishes_view)),
            web.post("/wishes/status", page(wish_status_form, change=True)),
            web.get("/figures", page(figures_view)),
            web.get("/faq", page(faq_view)),
            web.get("/export.csv", page(export_csv)),
            web.post("/api/login", api_login),
            web.post("/api/logout", api(api_logout, change=True)),
            web.get("/api/items", api(api_items)),
            web.get("/api/items/{ref}", api(api_item)),
            web.post("/api/items/{ref}/reply", api(api_reply, change=True)),
            web.post("/api/items/{ref}/resolve", api(api_resolve, change=True)),
            web.post("/api/items/{ref}/teach", api(api_teach, change=True)),
            web.get("/api/review", api(api_review)),
            web.get("/api/wishes", api(api_wishes)),
            web.post("/api/wishes/{ref}/status", api(api_wish_status, change=True)),
            web.get("/api/stats", api(api_stats)),
            web.get("/api/export.csv", api(export_csv)),
            web.post("/api/try", api(api_try, change=True)),
            web.static("/static", HERE / "static", append_version=True, name=STATIC_ROUTE),
        ]
    )


# --- request plumbing ---------------------------------------------------------------------------


async def _context(request: web.Request) -> Ctx:
    console = request.app[CONSOLE]
    desk = console.desk_factory()
    lang = request.cookies.get(LANG_COOKIE)
    ctx = Ctx(console, desk, lang if lang in LANGUAGES else "zh")
    token = request.cookies.get(console.cookie)
    if token:
        ctx.session = await console.accounts(desk.storage).session(token)
    return ctx


def _redirect(location: str) -> web.Response:
    """303 See Other: after a form, the browser GETs the page (no resubmission on reload)."""
    return web.Response(status=303, headers={"Location": location})


def _json(data: Any, status: int = 200) -> web.Response:
    """A JSON answer with Chinese kept readable."""
    return web.json_response(
        data, status=status, dumps=functools.partial(json.dumps, ensure_ascii=False)
    )


def _secure(response: web.StreamResponse) -> web.StreamResponse:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


Handler = Callable[[web.Request, Ctx], Awaitable[web.StreamResponse]]


def _page(handler: Handler, *, change: bool = False) -> Callable[..., Any]:
    """An HTML page or form: signed in (else to the sign-in page), CSRF field on a change.
    A refused action comes back to the page it was sent from with the reason shown."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        ctx = await _context(request)
        if ctx.session is None:
            if change:
                return _secure(web.Response(status=401, text=ctx.t("web.login.required")))
            target = request.path_qs if request.method == "GET" else "/inbox"
            return _secure(_redirect("/login?" + urlencode({"next": target})))
        if change:
            form = await request.post()
            if not _csrf_ok(ctx.session.csrf, form.get("csrf")):  # type: ignore[arg-type]
                return _secure(web.Response(status=403, text=ctx.t("web.csrf_failed")))
        try:
            response = await handler(request, ctx)
            if change:
                ctx.console.invalidate_reviews()
        except (StaffError, ValueError) as error:
            if not change:
                return _secure(
                    _render(
                        request, ctx, "error.html", 400, nav=await _nav(ctx), message=str(error)
                    )
                )
            back = _local(request.headers.get("Referer"), "/inbox")
            response = _redirect(_with_query(back, error=str(error)[:300]))
        except StorageError as error:
            log.error("web console: %s", error)
            response = web.Response(status=503, text=ctx.t("web.storage_error"))
        return _secure(response)

    return wrapper


def _api(handler: Handler, *, change: bool = False) -> Callable[..., Any]:
    """A JSON API route: 401 without a session, 403 without the X-CSRF-Token header on a
    change; a refused action is 400 with {"error": "one line"}."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        ctx = await _context(request)
        if ctx.session is None:
            return _secure(_json({"error": "not signed in"}, status=401))
        if change and not _csrf_ok(ctx.session.csrf, request.headers.get("X-CSRF-Token")):
            return _secure(_json({"error": "missing or wrong X-CSRF-Token"}, status=403))
        try:
            response = await handler(request, ctx)
            if change:
                ctx.console.invalidate_reviews()
        except (StaffError, ValueError) as error:
            response = _json({"error": str(error)}, status=400)
        except StorageError as error:
            log.error("web console API: %s", error)
            response = _json({"error": "database problem; try again"}, status=503)
        return _secure(response)

    return wrapper


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The JSON object posted; ValueError (400) otherwise. Only application/json: a plain
    cross-site form cannot send it without the browser asking first (CORS)."""
    if request.content_type != "application/json":
        raise ValueError("send a JSON body with Content-Type: application/json")
    if (request.content_length or 0) > MAX_BODY:
        raise ValueError("request body too large")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def _text_field(value: object, name: str, *, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    value = value.strip()
    if required and not value:
        raise ValueError(f"{name} is empty")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{name} is longer than {MAX_TEXT} characters")
    return value


def _local(url: str | None, default: str) -> str:
    """`url` reduced to a path on this site (never an open redirect to another one)."""
    if not url:
        return default
    parts = urlsplit(url)
    path = parts.path or default
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path + (f"?{parts.query}" if parts.query else "")


def _with_query(url: str, **values: str) -> str:
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and p.split("=")[0] not in values]
    query = "&".join([*kept, urlencode(values)])
    return f"{parts.path}?{query}"


def _render(
    request: web.Request, ctx: Ctx, template: str, http_status: int = 200, **values: Any
) -> web.Response:
    console = ctx.console
    body = console.templates.get_template(template).render(
        t=ctx.t,
        lang=ctx.lang,
        session=ctx.session,
        station_name=ctx.station_name,
        csrf=ctx.session.csrf if ctx.session else "",
        path=request.path,
        path_qs=request.path_qs,
        static=lambda name: request.app.router[STATIC_ROUTE].url_for(filename=name),
        notice=_notice(ctx, request.query.get("done")),
        error=request.query.get("error"),
        **values,
    )
    return web.Response(text=body, content_type="text/html", charset="utf-8", status=http_status)


def _notice(ctx: Ctx, done: str | None) -> str | None:
    key = f"web.done.{done}"
    return ctx.t(key) if key in MESSAGES else None


async def _nav(ctx: Ctx) -> dict[str, int]:
    return await ctx.reads.open_counts(ctx.scope)


# --- sign in ------------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.StreamResponse:
    """The sign-in page, with a one-off token against sign-in CSRF (double submit)."""
    ctx = await _context(request)
    token = secrets.token_urlsafe(24)
    response = _render(
        request,
        ctx,
        "login.html",
        login_csrf=token,
        next=_local(request.query.get("next"), "/inbox"),
        failed=request.query.get("failed"),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=ctx.console.web.secure,
        path="/login",
        max_age=3600,
    )
    return _secure(response)


async def login_submit(request: web.Request) -> web.StreamResponse:
    ctx = await _context(request)
    form = await request.post()
    next_page = _local(str(form.get("next") or ""), "/inbox")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not _csrf_ok(expected, str(form.get("login_csrf") or "")):
        return _secure(web.Response(status=403, text=ctx.t("web.csrf_failed")))
    try:
        session = await ctx.console.accounts(ctx.storage).sign_in(
            str(form.get("name") or ""), str(form.get("password") or ""), _address(request)
        )
    except SignInRefused as refused:
        failed = "limited" if refused.limited else "wrong"
        query = urlencode({"next": next_page, "failed": failed})
        return _secure(_redirect(f"/login?{query}"))
    response = _redirect(next_page)
    _set_session_cookie(ctx.console, response, session.token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return _secure(response)


def _set_session_cookie(console: Console, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        console.cookie,
        token,
        httponly=True,
        samesite="Strict",
        secure=console.web.secure,
        path="/",
        max_age=SESSION_HOURS * 3600,
    )


def _address(request: web.Request) -> str:
    # behind a reverse proxy this is the proxy: the per-account limit still applies
    return request.remote or "unknown"


async def logout(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    token = request.cookies.get(ctx.console.cookie, "")
    await ctx.console.accounts(ctx.storage).sign_out(token)
    response = _redirect("/login")
    response.del_cookie(ctx.console.cookie, path="/")
    return response


async def switch_language(request: web.Request) -> web.StreamResponse:
    lang = request.match_info["lang"]
    response = _redirect(_local(request.query.get("next"), "/inbox"))
    if lang in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, lang, samesite="Strict", path="/", max_age=365 * 86400, httponly=True
        )
    return _secure(response)


async def api_login(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    desk = console.desk_factory()
    try:
        body = await _json_body(request)
    except ValueError as error:
        return _secure(_json({"error": str(error)}, status=400))
    try:
        session = await console.accounts(desk.storage).sign_in(
            str(body.get("name") or ""), str(body.get("password") or ""), _address(request)
        )
    except SignInRefused as refused:
        if refused.limited:
            return _secure(_json({"error": "too many attempts; wait 15 minutes"}, status=429))
        return _secure(_json({"error": "wrong name or password"}, status=401))
    response = _json({"csrf": session.csrf, "name": session.account.name})
    _set_session_cookie(console, response, session.token)
    return _secure(response)


async def api_logout(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    await ctx.console.accounts(ctx.storage).sign_out(request.cookies.get(ctx.console.cookie, ""))
    response = _json({"ok": True})
    response.del_cookie(ctx.console.cookie, path="/")
    return response


# --- inbox and items ----------------------------------------------------------------------------


async def index(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    return _redirect("/inbox")


@dataclass
class InboxQuery:
    kind: str | None
    status: str
    outcome: str | None
    search: str
    page: int

    @classmethod
    def parse(cls, query: Any) -> InboxQuery:
        kind = query.get("kind") or None
        if kind not in (None, *STATUSES):
            raise ValueError(f"unknown kind {kind!r}")
        status = query.get("status") or "open"
        outcome = query.get("outcome") or None
        if outcome not in (None, *OUTCOMES):
            raise ValueError(f"unknown outcome {outcome!r}")
        try:
            page = max(1, int(query.get("page") or 1))
        except ValueError:
            raise ValueError("page must be a number") from None
        return cls(kind, status, outcome, (query.get("q") or "").strip(), page)

    def link(self, **changes: Any) -> str:
        values = {
            "kind": self.kind or "",
            "status": self.status,
            "outcome": self.outcome or "",
            "q": self.search,
            "page": self.page,
        }
        values.update(changes)
        return "/inbox?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})


async def _inbox(ctx: Ctx, query: InboxQuery, per_page: int = PER_PAGE):
    return await inbox_page(
        ctx.reads,
        ctx.matcher,
        kind=query.kind,
        status=query.status,
        outcome=query.outcome,
        search=query.search,
        page=query.page,
        per_page=per_page,
        station=ctx.scope,
    )


async def inbox_view(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    """Open questions and wishes, oldest waiting first, filtered, searched and paged."""
    query = InboxQuery.parse(request.query)
    found = await _inbox(ctx, query)
    pages = max(1, -(-found.total // PER_PAGE))
    return _render(
        request,
        ctx,
        "inbox.html",
        nav=await _nav(ctx),
        query=query,
        found=found,
        pages=pages,
        now=datetime.now(UTC),
        statuses=_status_choices(),
        outcomes=OUTCOMES,
    )


def _status_choices() -> list[str]:
    seen = dict.fromkeys(["open", "all", *STATUSES["question"], *STATUSES["wish"]])
    return list(seen)


def _item_json(item: Item, outcome: str | None = None) -> dict[str, Any]:
    data = {
        "ref": item.ref,
        "kind": item.kind,
        "text": item.text,
        "status": item.status,
        "user_id": item.user_id,
        "created_at": item.created_at,
        "display_name": item.display_name,
    }
    if item.station_id is not None:  # several stations: the one it was saved for
        data["station"] = item.station_id
    if outcome:
        data["outcome"] = outcome
    return data


async def _item_context(ctx: Ctx, ref: str) -> dict[str, Any]:
    desk = ctx.desk
    item = await desk.item(ref, actor=ctx.actor)
    earlier = [
        other
        for other in await ctx.reads.recent_items_of(item.user_id, 11)
        if other.ref != item.ref and ctx.scope in (None, other.station_id)
    ][:10]
    targets: list[tuple[Entry, float]] = []
    # the entries of the resident's station: those the item was matched against
    kb, _ = desk.station.faq_of(item.station_id or ctx.scope)
    if item.kind == "question":
        result = desk.try_question(item.text, item.station_id or ctx.scope)
        for entry_id, score in result.candidates[:3]:
            entry = kb.get(entry_id)
            if entry is not None:
                targets.append((entry, score))
    stored = [(kb.get(entry_id), score) for entry_id, score in item.candidates]
    site = site_of(ctx.desk.station.config.stations, item.station_id)
    return {
        "trail": _trail(ctx, item),
        "item": item,
        "item_station": site.name(ctx.lang) if site is not None else "",
        "earlier": earlier,
        "targets": targets,
        "stored": [(entry, score) for entry, score in stored if entry is not None],
        "outcome": _outcome_of(ctx, item),
    }


def _who(ctx: Ctx, label: str | None) -> str:
    """An actor label as items record it ("web:wang") as staff read it ("wang（网页）")."""
    if not label:
        return ""
    channel, _, name = label.partition(":")
    key = f"web.channel.{channel}"
    return f"{name or channel}（{ctx.t(key) if key in MESSAGES else channel}）"


def _trail(ctx: Ctx, item: Item) -> list[tuple[str, str]]:
    """(time, line) of everything staff did to the item, oldest first, each with who did it:
    replies, then the status changes they caused."""
    lines = []
    for reply in item.replies:
        who = _who(ctx, reply.actor)
        lines.append((reply.created_at, f"{who}{ctx.t('web.action.reply')}: {reply.text}"))
    for change in item.history:
        key = f"web.status.{change.status}"
        line = f"{_who(ctx, change.actor)}→ {ctx.t(key) if key in MESSAGES else change.status}"
        lines.append((change.at, line + (f": {change.note}" if change.note else "")))
    return sorted(lines, key=lambda line: line[0])  # stable: in the same second, replies first


def _outcome_of(ctx: Ctx, item: Item) -> str | None:
    """What the bot did, judged from the stored best score (the 👎 case is the inbox's)."""
    if item.kind != "question":
        return None
    best = item.candidates[0][1] if item.candidates else 0.0
    if best >= ctx.matcher.answer_threshold:
        return "answer"
    return "suggest" if best >= ctx.matcher.suggest_threshold else "none"


async def item_view(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    """The question or wish, what the bot did, the resident's history, reply/resolve/teach."""
    values = await _item_context(ctx, request.match_info["ref"])
    return _render(
        request,
        ctx,
        "item.html",
        nav=await _nav(ctx),
        entries=_entries_sorted(ctx),
        wish_statuses=WISH_STATUSES,
        now=datetime.now(UTC),
        **values,
    )


async def draft_view(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    """A new FAQ entry drafted from the question, to paste into an FAQ file."""
    item = await ctx.desk.item(request.match_info["ref"], actor=ctx.actor)
    language = detect_language(item.text)
    entry = {
        "id": "other.CHANGE-ME",
        "category": "other",
        "questions": {language: [" ".join(item.text.split())]},
        "answer": {language: ctx.t("web.draft.answer_here")},
    }
    draft = yaml.safe_dump([entry], allow_unicode=True, sort_keys=False, width=1000)
    return _render(request, ctx, "draft.html", nav=await _nav(ctx), item=item, draft=draft)


def _entries_sorted(ctx: Ctx) -> list[Entry]:
    return sorted(ctx.kb.entries, key=lambda entry: ((entry.category or "~"), entry.id))


async def reply_form(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    form = await request.post()
    item = await ctx.desk.reply(
        request.match_info["ref"], _text_field(form.get("text"), "reply"), actor=ctx.actor
    )
    return _redirect(f"/items/{item.ref}?done=replied")


async def resolve_form(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    form = await request.post()
    note = _text_field(form.get("note"), "note", required=False)
    item = await ctx.desk.resolve(request.match_info["ref"], note, actor=ctx.actor)
    return _redirect(f"/items/{item.ref}?done=resolved")


async def teach_form(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    form = await request.post()
    entry_id = _text_field(form.get("entry_id"), "entry")
    result = await ctx.desk.teach(request.match_info["ref"], entry_id, actor=ctx.actor)
    return _redirect(f"/items/{result.ref}?done=taught")


async def _refresh_matcher(ctx: Ctx) -> None:
    """After phrasings were written to the overlay without StaffDesk.teach (👎 answers on
    the review page: no saved item), the station's matcher reloads them."""
    await ctx.desk.reload()
    ctx.console.invalidate_reviews()


async def api_items(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    query = InboxQuery.parse(request.query)
    per_page = min(max(int(request.query.get("per_page") or 50), 1), 500)
    found = await _inbox(ctx, query, per_page)
    return _json(
        {
            "total": found.total,
            "total_is_at_least": found.capped,  # a search stops counting at 1,000
            "page": query.page,
            "per_page": per_page,
            "items": [_item_json(item, found.outcomes.get(item.ref)) for item in found.items],
        }
    )


async def api_item(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    values = await _item_context(ctx, request.match_info["ref"])
    item: Item = values["item"]
    data = _item_json(item, values["outcome"])
    data.update(
        {
            "candidates": [[entry_id, score] for entry_id, score in item.candidates],
            "replies": [
                {"text": r.text, "by": r.actor, "staff_id": r.staff_id, "at": r.created_at}
                for r in item.replies
            ],
            "history": [
                {"status": c.status, "note": c.note, "by": c.actor, "at": c.at}
                for c in item.history
            ],
            "teach_targets": [[entry.id, score] for entry, score in values["targets"]],
            "earlier": [_item_json(other) for other in values["earlier"]],
        }
    )
    return _json(data)


async def api_reply(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    body = await _json_body(request)
    item = await ctx.desk.reply(
        request.match_info["ref"], _text_field(body.get("text"), "text"), actor=ctx.actor
    )
    return _json(_item_json(item))


async def api_resolve(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    body = await _json_body(request)
    note = _text_field(body.get("note"), "note", required=False)
    item = await ctx.desk.resolve(request.match_info["ref"], note, actor=ctx.actor)
    return _json(_item_json(item))


async def api_teach(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    body = await _json_body(request)
    entry_id = _text_field(body.get("entry_id"), "entry_id")
    result = await ctx.desk.teach(request.match_info["ref"], entry_id, actor=ctx.actor)
    return _json(
        {
            "ref": result.ref,
            "entry_id": result.entry_id,
            "language": result.language,
            "text": result.text,
            "added": result.added,
            "now_answered": result.now_answered,
            "score": result.score,
        }
    )


# --- review -------------------------------------------------------------------------------------


def _days(request: web.Request, default: int) -> int:
    try:
        return min(max(int(request.query.get("days") or default), 1), 90)
    except ValueError:
        raise ValueError("days must be a number") from None


async def review_view(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    """Unanswered and 👎 questions of the last days, grouped, biggest group first."""
    days = _days(request, REVIEW_DAYS)
    review = await ctx.review.get(ctx.reads, ctx.matcher, days)
    return _render(
        request,
        ctx,
        "review.html",
        nav=await _nav(ctx),
        review=review,
        days=days,
        kb=ctx.kb,
        entries=_entries_sorted(ctx),
        suggest_threshold=ctx.matcher.suggest_threshold,
    )


async def api_review(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    days = _days(request, REVIEW_DAYS)
    review = await ctx.review.get(ctx.reads, ctx.matcher, days)
    return _json(
        {
            "days": review.days,
            "considered": review.considered,
            "truncated": review.truncated,
            "groups": [group.as_json() for group in review.groups],
        }
    )


def _refs(value: object) -> list[str]:
    return [ref for ref in str(value or "").replace(",", " ").split() if ref][:500]


def _ids(value: object) -> list[int]:
    return [int(part) for part in str(value or "").replace(",", " ").split() if part.isdigit()]


async def review_teach_form(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    """Teaches every phrasing of a group to one entry; residents with a saved question are
    told the answer."""
    form = await request.post()
    entry_id = _text_field(form.get("entry_id"), "entry")
    if ctx.kb.get(entry_id) is None:
        raise StaffError(f"no FAQ entry {entry_id!r}")
    for ref in _refs(form.get("refs")):
        await ctx.desk.teach(ref, entry_id, actor=ctx.actor)
    rows = await ctx.reads.feedback_rows(_ids(form.get("feedback_ids")), station=ctx.scope)
    feedback_ids = [row.id for row in rows]  # another station's are not this account's
    if feedback_ids:
        texts = [row.question for row in rows]
        await asyncio.to_thread(
            teach_phrasings,
            texts,
            entry_id,
            overlay_path=ctx.desk.station.config.overlay_path,
            faq_path=ctx.desk.station.config.faq_path,
        )
        await ctx.storage.mark_feedback_reviewed(feedback_ids, f"taught:{entry_id}", ctx.actor.name)
        await _refresh_matcher(ctx)
    return _redirect("/review?done=taught")


async def review_dismiss_form(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    form = await request.post()
    note = ctx.t("web.review.dismissed_note")
    for ref in _refs(form.get("refs")):
        await ctx.desk.resolve(ref, note, actor=ctx.actor)
    rows = await ctx.reads.feedback_rows(_ids(form.get("feedback_ids")), station=ctx.scope)
    await ctx.storage.mark_feedback_reviewed([row.id for row in rows], "dismissed", ctx.actor.name)
    return _redirect("/review?done=dismissed")


# --- wishes -------------------------------------------------------------------------------------


async def wishes_view(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    status = request.query.get("status") or None
    pools = await ctx.desk.wishes(status, actor=ctx.actor)
    return _render(
        request,
        ctx,
        "wishes.html",
        nav=await _nav(ctx),
        pools=pools,
        selected_status=status,
        wish_statuses=WISH_STATUSES,
    )


async def wish_status_form(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    """Sets the status of every wish in a pool: each resident in it is told."""
    form = await request.post()
    status = _text_field(form.get("status"), "status")
    note = _text_field(form.get("note"), "note", required=False)
    refs = _refs(form.get("refs"))
    for ref in refs:
        await ctx.desk.set_wish_status(ref, status, note, actor=ctx.actor)
    back = _local(str(form.get("back") or ""), "/wishes")
    return _redirect(_with_query(back, done="wish_status"))


async def api_wishes(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    pools = await ctx.desk.wishes(request.query.get("status") or None, actor=ctx.actor)
    return _json([pool.as_json() for pool in pools])


async def api_wish_status(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    body = await _json_body(request)
    item = await ctx.desk.set_wish_status(
        request.match_info["ref"],
        _text_field(body.get("status"), "status"),
        _text_field(body.get("note"), "note", required=False),
        actor=ctx.actor,
    )
    return _json(_item_json(item))


# --- figures, FAQ, export -----------------------------------------------------------------------


async def figures_view(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    """The last days in charts drawn on the server."""
    days = _days(request, 7)
    stats = await ctx.desk.stats(days, actor=ctx.actor)
    zone = ZoneInfo(ctx.desk.station.config.timezone)
    today = datetime.now(zone).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=zone)
    offset = int((datetime.now(zone).utcoffset() or timedelta()).total_seconds() // 60)
    rows = await ctx.reads.daily_counts(since, offset, station=ctx.scope)
    labels = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    per_day: dict[str, dict[str, int]] = {}
    for day, what, count in rows:
        per_day.setdefault(what, {})[day] = count
    series = [
        (ctx.t("web.figures.answered"), "#2f855a", "answer"),
        (ctx.t("web.figures.suggested"), "#d69e2e", "suggest"),
        (ctx.t("web.figures.saved"), "#c53030", "saved"),
    ]
    daily = charts.stacked_columns(
        [label[5:] for label in labels],
        [
            (name, colour, [per_day.get(key, {}).get(day, 0) for day in labels])
            for name, colour, key in series
        ],
        title=ctx.t("web.figures.daily"),
    )
    topics = charts.horizontal_bars(
        [(_entry_label(ctx, entry_id), count) for entry_id, count in stats.figures.top_entries],
        title=ctx.t("web.figures.topics"),
        empty=ctx.t("web.empty"),
    )
    now = datetime.now(UTC)
    ages = await ctx.reads.open_item_ages(
        [now - timedelta(hours=h) for h in AGE_BOUNDS_HOURS], station=ctx.scope
    )
    age_chart = charts.horizontal_bars(
        list(zip([ctx.t(f"web.figures.age{i}") for i in range(4)], ages, strict=True)),
        title=ctx.t("web.figures.ages"),
        colour="#9c4221",
    )
    return _render(
        request,
        ctx,
        "figures.html",
        nav=await _nav(ctx),
        stats=stats,
        days=days,
        choices=FIGURE_DAYS,
        daily=daily,
        topics=topics,
        ages=age_chart,
        median=None
        if stats.figures.median_reply_seconds is None
        else format_age(stats.figures.median_reply_seconds),
    )


def _entry_label(ctx: Ctx, entry_id: str) -> str:
    entry = ctx.kb.get(entry_id)
    return entry.first_question(ctx.lang) if entry else entry_id


async def api_stats(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    stats = await ctx.desk.stats(_days(request, 7), actor=ctx.actor)
    return _json(stats.as_json())


async def export_csv(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    data, _ = await ctx.desk.export_csv(actor=ctx.actor)
    name = f"stationbot-{datetime.now(UTC):%Y%m%d}.csv"
    return web.Response(
        body=data,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@dataclass
class Explanation:
    """The try pane: the decision and, per candidate, its closest phrasing."""

    normalized: str
    outcome: str
    score: float
    rows: list[tuple[Entry, float, str, float]]  # entry, score, closest phrasing, similarity
    answer_threshold: float
    suggest_threshold: float


async def _explain(ctx: Ctx, text: str) -> Explanation:
    desk = ctx.desk
    result = desk.try_question(text, ctx.scope)
    normalizer = ctx.matcher.normalizer
    normalized = normalizer.normalize(text)
    rows = []
    for entry_id, score in result.candidates[:5]:
        entry = ctx.kb.get(entry_id)
        if entry is None:
            continue
        phrasings = [q for texts in entry.questions.values() for q in texts]
        best = process.extractOne(
            normalized, phrasings, scorer=fuzz.ratio, processor=normalizer.normalize
        )
        rows.append((entry, score, best[0] if best else "", best[1] if best else 0.0))
    return Explanation(
        normalized,
        result.outcome,
        result.score,
        rows,
        ctx.matcher.answer_threshold,
        ctx.matcher.suggest_threshold,
    )


async def faq_view(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    """The entries, filtered by a search, and the "try a question" pane."""
    search = (request.query.get("q") or "").strip().casefold()
    entries = _entries_sorted(ctx)
    if search:
        entries = [
            entry
            for entry in entries
            if search in entry.id.casefold()
            or any(search in q.casefold() for texts in entry.questions.values() for q in texts)
            or any(search in a.casefold() for a in entry.answer.values())
        ]
    trial = (request.query.get("try") or "").strip()[:500]
    explanation = await _explain(ctx, trial) if trial else None
    return _render(
        request,
        ctx,
        "faq.html",
        nav=await _nav(ctx),
        entries=entries,
        search=request.query.get("q") or "",
        trial=trial,
        explanation=explanation,
    )


async def api_try(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    body = await _json_body(request)
    text = _text_field(body.get("text"), "text")[:500]
    explanation = await _explain(ctx, text)
    result = ctx.desk.try_question(text, ctx.scope)
    data = result.as_json()
    data["candidates"] = [[entry_id, score] for entry_id, score in result.candidates]
    data["normalized"] = explanation.normalized
    data["why"] = [
        {"entry_id": entry.id, "score": score, "closest": closest, "similarity": similarity}
        for entry, score, closest, similarity in explanation.rows
    ]
    return _json(data)


# --- template filters -----------------------------------------------------------------------------


def _age(value: str, now: datetime | None = None, lang: str = "zh") -> str:
    """How long ago, in the page's language: '3天', '5小时' / '3d', '5h'."""
    seconds = max(0.0, ((now or datetime.now(UTC)) - parse_time(value)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return t(f"web.age.{unit}", lang, n=int(seconds // size))
    return t("web.age.now", lang)


def _when(value: str) -> str:
    """A stored UTC time as Shanghai local time, 'YYYY-MM-DD HH:MM'."""
    try:
        moment = parse_time(value).astimezone(ZoneInfo("Asia/Shanghai"))
    except ValueError:
        return value
    return f"{moment:%Y-%m-%d %H:%M}"


def catalogue_keys() -> list[str]:
    """The console's message keys (tests check each has zh and en)."""
    return [key for key in MESSAGES if key.startswith("web.")]


# --- stationbot web ---------------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    """`stationbot web`: the console alone; replies wait in the outbox for the bot process."""
    from bot.config import load_config
    from handlers.cli import fail

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as error:
        return fail(str(error), 2)
    web_config = config.web or WebConfig()
    if args.port:
        web_config = WebConfig(web_config.listen, args.port, web_config.base_url)

    async def serve() -> None:
        station = await Station.create(config)
        try:
            async with Storage.open(config.database) as reader:
                desk = StaffDesk(station)
                app = web.Application(client_max_size=MAX_BODY)
                register(app, lambda: desk, web_config=web_config, reader=reader)
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                site = web.TCPSite(runner, web_config.listen, web_config.port)
                await site.start()
                print(
                    f"staff console on http://{web_config.listen}:{web_config.port}/"
                    " (Ctrl-C stops it; replies wait in the outbox for `stationbot run`)",
                    flush=True,
                )
                try:
                    await asyncio.Event().wait()
                finally:
                    await runner.cleanup()
        finally:
            await station.close()

    try:
        asyncio.run(serve())
    except FaqError as error:
        return fail(f"the FAQ does not load, fix it first:\n{error}", 2)
    except (StorageError, OSError) as error:
        return fail(str(error), 1)
    return 0
