"""The console's pages and its one API call, on the HTTP front door's router.

Pages are server-rendered by Jinja2 with autoescaping on, so every model name, input, output
and record value reaches the browser as text; the scripts under ``static/`` add live figures,
the try-it form and the explanation drawings, writing with ``textContent`` only. Pages decide
who is asking themselves (a session, or nothing to ask where the server has no tokens) and
send a browser without a session to the login page; ``/console/api/stats`` is an ordinary
API route that the front door's middleware authenticates (header or session cookie).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from gatewise.gateway.console.records import FILTER_FIELDS, RecordsReader, parse_filters
from gatewise.gateway.console.session import COOKIE, CSRF_HEADER, Session, Sessions
from gatewise.gateway.console.stats import ConsoleStats
from gatewise.gateway.console.views import (
    MAX_FORM_BYTES,
    field_of,
    harden,
    pretty,
    read_text,
    same_origin,
    see_other,
    small_form,
    validation,
)
from gatewise.gateway.dataplane import DataPlane
from gatewise.gateway.http.middleware import ConsoleGate, principal_of
from gatewise.gateway.http.proto_json import to_json
from gatewise.gateway.http.routes import PRINCIPAL, Rule, json_response, route
from gatewise.gateway.security.interceptor import AuthInterceptor
from gatewise.gateway.security.principal import ANONYMOUS, Principal
from gatewise.gateway.security.views import without_paths
from gatewise.gateway.settings import ServerSettings
from gatewise.protos.errors import AuthError, GatewiseError, InvalidInput
from jinja2 import Environment, PackageLoader, StrictUndefined

log = logging.getLogger("gatewise.console")

PREFIX = "/console"
STATIC = Path(__file__).parent / "static"
_RECORD_ID = re.compile(r"[0-9a-f]{1,64}")
_NEW_SESSION = web.RequestKey("console_new_session", Session)

_Page = Callable[["ConsoleRoutes", web.Request, Principal, Session], Awaitable[web.Response]]
_Route = Callable[["ConsoleRoutes", web.Request], Awaitable[web.Response]]


def page_handler(*, records: bool = False) -> Callable[[_Page], _Route]:
    """A page handler called with its caller and session, so that no page can forget to ask who is asking:
    a browser without a session gets the login redirect instead; with ``records``, a server that keeps
    no records shows the records-off page."""

    def wrap(handler: _Page) -> _Route:
        @functools.wraps(handler)
        async def answer(self: ConsoleRoutes, request: web.Request) -> web.Response:
            who = self._who(request)
            if isinstance(who, web.Response):
                return who
            principal, session = who
            if records and self.records is None:
                return self._render(request, "records_off.html", session, page="records")
            return await handler(self, request, principal, session)

        return answer

    return wrap


class ConsoleRoutes:
    """The console of one server process: sessions, statistics windows, the records reader, the pages."""

    def __init__(self, dataplane: DataPlane, settings: ServerSettings, access: AuthInterceptor) -> None:
        self.dataplane = dataplane
        self.repository = dataplane.repository
        self.access = access
        self.sessions = Sessions(settings.console_max_sessions, settings.console_session_idle_s)
        self.stats = ConsoleStats(dataplane)
        keeps_records = settings.records is not None or settings.records_url is not None
        self.records = RecordsReader(settings) if keeps_records else None
        self.secure_cookie = settings.tls_cert is not None
        self.templates = Environment(
            loader=PackageLoader("gatewise.gateway.console", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    @property
    def gate(self) -> ConsoleGate:
        return ConsoleGate(self.sessions, harden, PREFIX)

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get(PREFIX, self.root)
        router.add_get(PREFIX + "/login", self.login_page)
        router.add_post(PREFIX + "/login", self.login)
        router.add_post(PREFIX + "/logout", self.logout)
        router.add_get(PREFIX + "/", self.models_page)
        router.add_get(PREFIX + "/models/{model}", self.model_page)
        router.add_get(PREFIX + "/models/{model}/versions/{version}", self.model_page)
        router.add_get(PREFIX + "/records", self.records_page)
        router.add_get(PREFIX + "/records/{record_id}", self.record_page)
        router.add_get(PREFIX + "/api/stats", self.api_stats)
        router.add_static(PREFIX + "/static", STATIC, follow_symlinks=False)

    async def close(self) -> None:
        if self.records is not None:
            self.records.close()

    # ------------------------------------------------------------ who is asking

    def _session(self, request: web.Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def _who(self, request: web.Request) -> tuple[Principal, Session] | web.Response:
        """The page's caller and session, or the redirect to the login page."""
        session = self._session(request)
        if self.access.authenticator is None:  # nothing to sign in with: client certificate or anonymous
            principal = principal_of(self.access, request)
            if session is None:
                session = self.sessions.create(None, principal.name)
                request[_NEW_SESSION] = session
            return principal, session
        if session is None or session.credential is None:
            return see_other(PREFIX + "/login")
        try:
            return principal_of(self.access, request, session.credential), session
        except AuthError:  # revoked on SIGHUP, or a JWT that expired: sign in again
            self.sessions.drop(session.id)
            return see_other(PREFIX + "/login?expired=1")

    def _render(
        self, request: web.Request, template: str, session: Session | None, status: int = 200, **context: Any
    ) -> web.Response:
        context.setdefault("page", "")
        page = self.templates.get_template(template).render(
            csrf=session.csrf if session else "",
            principal=session.principal if session else "",
            signed_in=session is not None and session.credential is not None,
            **context,
        )
        response = web.Response(text=page, status=status, content_type="text/html", charset="utf-8")
        if _NEW_SESSION in request:
            self._set_cookie(response, request[_NEW_SESSION])
        return response

    def _set_cookie(self, response: web.StreamResponse, session: Session) -> None:
        response.set_cookie(
            COOKIE, session.id, path="/", httponly=True, samesite="Strict", secure=self.secure_cookie or None
        )

    def _error(self, request: web.Request, session: Session | None, status: int, message: str) -> web.Response:
        return self._render(request, "error.html", session, status=status, status_code=status, message=message)

    # ------------------------------------------------------------ signing in and out

    @route(Rule(exempt=True))
    async def root(self, request: web.Request) -> web.Response:
        return see_other(PREFIX + "/")

    @route(Rule(exempt=True))
    async def login_page(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if self.access.authenticator is None or (session is not None and session.credential is not None):
            return see_other(PREFIX + "/")
        expired = "Your session ended; sign in again." if request.query.get("expired") else None
        return self._render(request, "login.html", None, error=expired)

    @route(Rule(exempt=True))
    async def login(self, request: web.Request) -> web.Response:
        if self.access.authenticator is None:
            return see_other(PREFIX + "/")
        if not same_origin(request):
            log.info(
                "refused a console sign-in from another site (Origin %r, Sec-Fetch-Site %r, Host %r)",
                request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"), request.host,
            )  # fmt: skip
            return self._error(request, None, 403, "Sign-in refused: the form was sent from another site.")
        form = await small_form(request)
        credential = str(form.get("credential", "")).strip()
        if not credential:
            return self._render(request, "login.html", None, status=400, error="Enter an API key or a token.")
        if len(credential) > MAX_FORM_BYTES // 2 or any(ord(char) < 0x21 or ord(char) == 0x7F for char in credential):
            error = "That is not an API key or a token (too long, or it holds spaces or control characters)."
            return self._render(request, "login.html", None, status=400, error=error)
        try:
            principal = principal_of(self.access, request, credential)
        except AuthError as exc:
            return self._render(request, "login.html", None, status=401, error=f"Sign-in failed: {exc.message}.")
        self.sessions.drop(request.cookies.get(COOKIE))
        session = self.sessions.create(credential, principal.name)
        response = see_other(PREFIX + "/")
        self._set_cookie(response, session)
        return response

    @route(Rule(exempt=True))
    async def logout(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if session is not None:
            token = request.headers.get(CSRF_HEADER)
            if token is None:
                token = str((await small_form(request)).get("csrf_token", ""))
            if not session.csrf_matches(token) or not same_origin(request):
                return self._error(request, session, 403, f"Sign-out refused: the {CSRF_HEADER} did not match.")
            self.sessions.drop(session.id)
        response = see_other(PREFIX + "/login" if self.access.authenticator is not None else PREFIX + "/")
        response.del_cookie(COOKIE, path="/")
        return response

    # ------------------------------------------------------------ pages

    @route(Rule(exempt=True))
    @page_handler()
    async def models_page(self, request: web.Request, principal: Principal, session: Session) -> web.Response:
        models: dict[str, list[dict[str, str]]] = {}
        for row in self.dataplane.repository_index(False, principal):  # reasons without server paths
            models.setdefault(row.name, []).append({"version": row.version, "state": row.state, "reason": row.reason})
        return self._render(request, "models.html", session, models=models, page="models")

    @route(Rule(exempt=True))
    @page_handler()
    async def model_page(self, request: web.Request, principal: Principal, session: Session) -> web.Response:
        name, version = request.match_info["model"], request.match_info.get("version", "")
        if not principal.allows(name):
            return self._error(request, session, 403, f"{principal.name} may not call model {name}.")
        try:
            metadata = self.dataplane.model_metadata(name, version)
            config = to_json(self.dataplane.model_config(name, version))
        except GatewiseError as exc:
            return self._error(request, session, exc.http_status, without_paths(exc.message))
        shown = version or (metadata.versions[-1] if metadata.versions else "")
        folder = self.repository.model_dir(name)
        parameters = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        return self._render(
            request,
            "model.html",
            session,
            page="model",
            name=name,
            version=shown,
            versions=metadata.versions,
            platform=metadata.platform,
            inputs=[field_of(spec) for spec in metadata.inputs],
            outputs=metadata.outputs,
            parameters=parameters,
            explains="explanation" in parameters.get("explanation_outputs", "").split(","),
            config_toml=read_text(folder / "config.toml"),
            validation=validation(folder / shown / "validation.json"),
            config=config,
        )

    @route(Rule(exempt=True))
    @page_handler(records=True)
    async def records_page(self, request: web.Request, principal: Principal, session: Session) -> web.Response:
        known = sorted(name for name in self.repository.entries if principal.allows(name))
        try:
            filters, given = parse_filters(dict(request.query), principal, known)
        except InvalidInput as exc:
            given = {name: request.query.get(name, "") for name in FILTER_FIELDS}
            context = {"rows": [], "given": given, "models": known, "error": exc.message}
            return self._render(request, "records.html", session, status=400, page="records", **context)
        try:
            rows = await self.records.query(filters)
        except Exception as exc:  # noqa: BLE001 - the store is down or unreadable: say so on the page
            return self._error(request, session, 503, f"The records store cannot be read: {exc}")
        context = {"rows": rows, "given": given, "models": known, "error": None}
        return self._render(request, "records.html", session, page="records", **context)

    @route(Rule(exempt=True))
    @page_handler(records=True)
    async def record_page(self, request: web.Request, principal: Principal, session: Session) -> web.Response:
        record_id = request.match_info["record_id"]
        found = await self.records.detail(record_id) if _RECORD_ID.fullmatch(record_id) else None
        if found is None or not principal.allows(found[0]["model"]):
            return self._error(request, session, 404, f"No record {record_id} that you may see.")
        record, attached, check = found
        lists = [record.get("explanation"), *(item.get("explanation") for item in attached)]
        explanations = [row for rows in lists if isinstance(rows, list) for row in rows if isinstance(row, dict)]
        return self._render(
            request,
            "record.html",
            session,
            page="records",
            record=record,
            attached=attached,
            check=check,
            explanations=explanations,
            inputs_json=pretty(record.get("inputs")),
            outputs_json=pretty(record.get("outputs")),
        )

    # ------------------------------------------------------------ the one API call

    @route(Rule(method="ConsoleStats"))
    async def api_stats(self, request: web.Request) -> web.Response:
        """Every model's figures in one answer (the models page polls it)."""
        return json_response(self.stats.answer(request.get(PRINCIPAL) or ANONYMOUS))
