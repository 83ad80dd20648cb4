"""The dashboard: a small Starlette app, server-rendered with Jinja2 (no
JavaScript), over the portable API only, so it works on every driver."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .._errors import BackendUnavailable, InvalidArgument, QueueError, Unsupported
from .._job import Counts, Job, JobState
from .._limits import MAX_LIMIT, TopicLimits
from .._overview import PARALLEL_COUNTS, counts_of, pending_cancels
from .._service import QueueService
from .._validate import DEAD_SUFFIX, validate_job_id, validate_topic
from . import _format
from ._payload import MODES, preview, short
from ._sampler import Sample, Sampler, chart
from ._security import AUTH_COOKIE, LOCAL_HOSTS, SESSION_COOKIE, SESSION_TTL, Guard
from ._security import SecurityMiddleware as _SecurityMiddleware

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = ["create_app"]

logger = logging.getLogger("queue_core.dashboard")

HERE = Path(__file__).parent
STATES = ("ready", "scheduled", "in_flight", "dead")
STATE_NAMES = {"ready": "Ready", "scheduled": "Scheduled", "in_flight": "In flight", "dead": "Dead"}
MAX_TOPICS = 200  # topics shown (and sampled) on the overview
MAX_SCHEDULES = 200  # schedules shown (one get() each for the job of the last tick)
MAX_FORM_BYTES = 256 * 1024
MAX_IDS = 1000  # ids per action
MAX_PAGE = 1_000_000
TOPICS_TTL = 5.0


def _safe_next(value: str | None, default: str) -> str:
    """A local path to go back to after an action (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def _sparkline(samples: Sequence[Sample], width: int = 120, height: int = 28) -> str | None:
    if len(samples) < 2:
        return None
    start, end = samples[0].at, samples[-1].at
    span = max(end - start, 1.0)
    top = max(max(s.backlog for s in samples), 1)
    points = []
    for sample in samples:
        x = round((sample.at - start) / span * width, 1)
        y = round(height - 2 - sample.backlog / top * (height - 4), 1)
        points.append(f"{x},{y}")
    return " ".join(points)


class _Dashboard:
    def __init__(
        self,
        service: QueueService,
        guard: Guard,
        *,
        topics: Sequence[str],
        sample_interval: float,
        page_size: int,
        schedules: Sequence[Schedule] = (),
    ) -> None:
        self.service = service
        self.guard = guard
        self.schedules = tuple(schedules)
        self.configured = [validate_topic(topic) for topic in topics]
        self.opened: dict[str, None] = {}  # topics opened by name (drivers that cannot list)
        self.interval = sample_interval
        self.page_size = page_size
        self.sampler = Sampler()
        self._topics: list[str] = []
        self._listable = True
        self._topics_at = 0.0
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            instant=_format.instant,
            duration=_format.duration,
            number=_format.number,
            rate=_format.rate,
            short=short,
        )
        self.env.globals.update(
            topic_url=self.topic_url,
            job_url=self.job_url,
            with_query=_format.with_query,
            relative=lambda seconds: _format.relative(seconds, time.time()),
            STATE_NAMES=STATE_NAMES,
            has_schedules=bool(self.schedules),
        )

    # -- urls -------------------------------------------------------------------

    @staticmethod
    def topic_url(topic: str, state: str | None = None, page: int | None = None) -> str:
        path = f"/topics/{_format.path_part(topic)}"
        return _format.with_query(path, state=state, page=page if page and page > 1 else None)

    @staticmethod
    def job_url(topic: str, job_id: str, dead: bool = False) -> str:
        kind = "dead" if dead else "jobs"
        return f"/topics/{_format.path_part(topic)}/{kind}/{_format.path_part(job_id)}"

    # -- reading ------------------------------------------------------------------

    async def topic_names(self) -> tuple[list[str], bool]:
        """The topics to show, and whether the driver lists them."""
        now = time.monotonic()
        if not self._topics_at or now - self._topics_at >= TOPICS_TTL:
            try:
                listed = await self.service.topics()
                self._listable = True
            except Unsupported:
                listed = []
                self._listable = False
            self._topics = sorted({*listed, *self.configured, *self.opened})
            self._topics_at = now
        return self._topics, self._listable

    async def counts(self, topics: Sequence[str]) -> dict[str, Counts | Exception]:
        return await counts_of(self.service, topics)

    async def sample_round(self) -> dict[str, Counts | Exception]:
        names, _ = await self.topic_names()
        results = await self.counts(names[:MAX_TOPICS])
        good = {topic: c for topic, c in results.items() if isinstance(c, Counts)}
        if len(good) == len(results):
            self.sampler.add_round(good, time.time())
        else:
            for topic, topic_counts in good.items():
                self.sampler.add(topic, topic_counts, time.time())
        return results

    async def sample_forever(self) -> None:
        while True:
            try:
                await self.sample_round()
            except Exception as exc:
                logger.warning("dashboard: sampling counts failed: %s", exc)
            await asyncio.sleep(self.interval)

    # -- rendering ------------------------------------------------------------------

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        sid = self.guard.session_id(request)
        new_sid = None
        if sid is None:
            sid = new_sid = self.guard.new_session_id()
        if request.method == "GET":
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        else:  # a page answering a POST: come back to where the form was
            here = str(context.get("next", "/"))
        page = self.env.get_template(template).render(
            request_path=request.url.path,
            here=here,
            csrf=self.guard.csrf_token(sid),
            actions_enabled=self.guard.actions_enabled,
            read_only=self.guard.read_only,
            signed_in=self.guard.signed_in(request),
            driver=type(self.service.driver).__name__,
            now=time.time(),
            flash=_flash(request.query_params),
            **context,
        )
        response = HTMLResponse(page, status_code=status)
        if new_sid is not None:
            self.guard.set_cookie(response, request, SESSION_COOKIE, new_sid, None)
        return response

    def message(self, request: Request, status: int, title: str, text: str) -> HTMLResponse:
        return self.render(request, "message.html", status, title=title, text=text)

    # -- pages ------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        try:
            names, listable = await self.topic_names()
        except QueueError as exc:
            return self.message(
                request, 503, "Backend unavailable", f"Listing topics failed: {exc}"
            )
        shown = names[:MAX_TOPICS]
        results = await self.counts(shown)
        now = time.time()
        good = {topic: c for topic, c in results.items() if isinstance(c, Counts)}
        last = self.sampler.last_round()
        if good and len(good) == len(results) and (last is None or now - last >= 1.0):
            self.sampler.add_round(good, now)
        rows = []
        for topic in shown:
            result = results[topic]
            if isinstance(result, Counts):
                rows.append(
                    {
                        "topic": topic,
                        "counts": result,
                        "lag": result.lag(now),
                        "flow": self.sampler.net_flow(topic),
                        "spark": _sparkline(self.sampler.series(topic)[-60:]),
                        "error": None,
                    }
                )
            else:
                rows.append({"topic": topic, "error": f"{type(result).__name__}: {result}"})
        totals = Counts(
            scheduled=sum(c.scheduled for c in good.values()),
            ready=sum(c.ready for c in good.values()),
            in_flight=sum(c.in_flight for c in good.values()),
            dead=sum(c.dead for c in good.values()),
        )
        lags = [lag for c in good.values() if (lag := c.lag(now)) is not None]
        return self.render(
            request,
            "overview.html",
            rows=rows,
            totals=totals,
            max_lag=max(lags) if lags else None,
            flow=self.sampler.net_flow(None),
            chart=chart(self.sampler.series(None)),
            listable=listable,
            truncated=len(names) - len(shown),
            interval=self.interval,
        )

    async def open_topic(self, request: Request) -> Response:
        name = request.query_params.get("topic", "").strip()
        try:
            topic = validate_topic(name)
        except InvalidArgument as exc:
            return self.message(request, 400, "Invalid topic", str(exc))
        if len(self.opened) < 100:
            self.opened[topic] = None
            self._topics_at = 0.0
        return RedirectResponse(self.topic_url(topic), status_code=303)

    async def topic(self, request: Request) -> Response:
        topic = _topic_param(request)
        state = request.query_params.get("state", "ready")
        if state not in STATES:
            state = "ready"
        page = _int_param(request, "page", 1, 1, MAX_PAGE)
        per = self.page_size
        offset = (page - 1) * per
        counts = await self.service.counts(topic)
        now = time.time()
        last = self.sampler.last(topic)
        if last is None or now - last >= 1.0:
            self.sampler.add(topic, counts, now)
        if state == "dead":
            jobs = await self.service.list_dead(topic, limit=per + 1, offset=offset)
        else:
            jobs = await self.service.list_jobs(
                topic, JobState(state), limit=per + 1, offset=offset
            )
        has_next = len(jobs) > per
        total = getattr(counts, state)
        capabilities = self.service.driver.capabilities
        limits = await self.service.get_limits(topic) if capabilities.limits else None
        stopping = await self.cancel_requested(topic, jobs[:per])
        return self.render(
            request,
            "topic.html",
            topic=topic,
            counts=counts,
            lag=counts.lag(now),
            flow=self.sampler.net_flow(topic),
            chart=chart(self.sampler.series(topic)),
            state=state,
            states=STATES,
            jobs=jobs[:per],
            page=page,
            pages=max(1, -(-total // per)),
            has_next=has_next,
            first=offset + 1,
            can_cancel=capabilities.cancellation,
            limits=limits,
            limits_text=_limits_text(limits),
            stopping=stopping,
        )

    async def cancel_requested(self, topic: str, jobs: Sequence[Job]) -> set[str]:
        """The ids among ``jobs`` of running jobs with a pending cancel request."""
        return await pending_cancels(self.service, topic, jobs)

    async def schedules_page(self, request: Request) -> Response:
        now = time.time()
        shown = self.schedules[:MAX_SCHEDULES]
        gate = asyncio.Semaphore(PARALLEL_COUNTS)

        async def row(schedule: Schedule) -> dict[str, Any]:
            trigger = schedule.trigger
            previous = trigger.latest_at(now)
            job: Job | None = None
            error = None
            if previous is not None:
                async with gate:
                    try:
                        job = await self.service.get(schedule.topic, schedule.job_id(previous))
                    except QueueError as exc:
                        error = f"{type(exc).__name__}: {exc}"
            return {
                "schedule": schedule,
                "previous": previous,
                "previous_id": None if previous is None else schedule.job_id(previous),
                "job": job,
                "error": error,
                "next": trigger.next_after(now),
            }

        rows = await asyncio.gather(*(row(schedule) for schedule in shown))
        return self.render(
            request,
            "schedules.html",
            rows=rows,
            truncated=len(self.schedules) - len(shown),
        )

    async def job(self, request: Request) -> Response:
        return await self._job(request, dead=False)

    async def dead_job(self, request: Request) -> Response:
        return await self._job(request, dead=True)

    async def _job(self, request: Request, *, dead: bool) -> Response:
        topic = _topic_param(request)
        try:
            job_id = validate_job_id(request.path_params["job_id"])
        except InvalidArgument:
            raise HTTPException(404) from None
        job = await self.service.get(topic + DEAD_SUFFIX if dead else topic, job_id)
        if job is None:
            what = "dead letter" if dead else "job"
            return self.message(
                request,
                404,
                f"No such {what}",
                f"{topic} has no {what} {job_id!r} (it may have finished or moved).",
            )
        mode = request.query_params.get("view")
        return self.render(
            request,
            "job.html",
            topic=topic,
            job=job,
            dead=dead,
            preview=preview(job.payload, mode if mode in MODES else None),
            modes=MODES,
            can_cancel=self.service.driver.capabilities.cancellation and not dead,
            stopping=not dead and bool(await self.cancel_requested(topic, [job])),
        )

    # -- signing in -------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        if not self.guard.actions_enabled:
            return self.message(request, 404, "Actions are off", _actions_off(self.guard))
        back = _safe_next(request.query_params.get("next"), "/")
        return self.render(request, "login.html", next=back, error=None)

    async def login(self, request: Request) -> Response:
        if not self.guard.actions_enabled:
            return self.message(request, 403, "Actions are off", _actions_off(self.guard))
        form = await _form(request)
        sid = self.guard.session_id(request)
        if (
            form is None
            or not self.guard.same_origin(request)
            or not self.guard.csrf_ok(sid, _one(form, "csrf"))
        ):
            return self.message(
                request, 403, "Refused", "The sign-in form was stale or came from another site."
            )
        back = _safe_next(_one(form, "next"), "/")
        if not self.guard.token_matches(_one(form, "token")):
            await asyncio.sleep(0.25)  # slows guessing down a little
            return self.render(request, "login.html", 403, next=back, error="Wrong token.")
        assert sid is not None
        response = RedirectResponse(back, status_code=303)
        value = self.guard.auth_value(sid)
        self.guard.set_cookie(response, request, AUTH_COOKIE, value, int(SESSION_TTL))
        return response

    async def logout(self, request: Request) -> Response:
        form = await _form(request)
        sid = self.guard.session_id(request)
        if form is None or not self.guard.csrf_ok(sid, _one(form, "csrf")):
            return self.message(request, 403, "Refused", "The form was stale.")
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(AUTH_COOKIE, path="/")
        return response

    # -- actions --------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> dict[str, list[str]] | Response:
        """The form of an allowed action, or the refusal."""
        if not self.guard.actions_enabled:
            return self.message(request, 403, "Actions are off", _actions_off(self.guard))
        if not self.guard.same_origin(request):
            return self.message(request, 403, "Refused", "The request came from another site.")
        form = await _form(request)
        if form is None:
            return self.message(request, 400, "Bad request", "Expected a small HTML form.")
        if self.guard.token_matches(self.guard.bearer(request)):
            return form  # a script with the token in a header: no cookie, no CSRF
        sid = self.guard.session_id(request)
        if not self.guard.csrf_ok(sid, _one(form, "csrf")):
            return self.message(
                request, 403, "Refused", "The form was stale (CSRF check failed). Reload the page."
            )
        if self.guard.signed_in(request) or self.guard.token_matches(_one(form, "token")):
            return form
        back = _safe_next(_one(form, "next"), "/")
        return self.render(request, "signin_needed.html", 403, next=back)

    async def cancel(self, request: Request) -> Response:
        topic = _topic_param(request)
        form = await self._authorize(request)
        if isinstance(form, Response):
            return form
        ids = _ids(form)
        if not ids:
            return self.message(request, 400, "Nothing to cancel", "Choose at least one job.")
        try:
            outcomes = await self.service.cancel(topic, ids)
        except Unsupported as exc:
            return self.message(request, 400, "Not supported", str(exc))
        done = {o.value: sum(1 for x in outcomes if x is o) for o in set(outcomes)}
        return self._done(
            form,
            self.topic_url(topic),
            "cancel",
            n=done.get("cancelled", 0),
            r=done.get("requested", 0),
            x=done.get("not_found", 0),
        )

    async def set_limits(self, request: Request) -> Response:
        topic = _topic_param(request)
        form = await self._authorize(request)
        if isinstance(form, Response):
            return form
        if _one(form, "clear") == "1":
            chosen = TopicLimits()
        else:
            try:
                chosen = TopicLimits(
                    max_in_flight=_bound(form, "max_in_flight"),
                    rate=_bound(form, "rate"),
                    per=_seconds(form, "per"),
                )
            except (InvalidArgument, ValueError) as exc:
                return self.message(request, 400, "Invalid limits", str(exc))
        try:
            await self.service.set_limits(topic, chosen)
        except Unsupported as exc:
            return self.message(request, 400, "Not supported", str(exc))
        done = "unlimit" if chosen.unlimited else "limits"
        return self._done(form, self.topic_url(topic), done)

    async def redrive(self, request: Request) -> Response:
        topic = _topic_param(request)
        form = await self._authorize(request)
        if isinstance(form, Response):
            return form
        if _one(form, "all") == "1":
            moved = await self.service.redrive(topic)
        else:
            ids = _ids(form)
            if not ids:
                return self.message(request, 400, "Nothing to redrive", "Choose dead letters.")
            moved = await self.service.redrive(topic, ids)
        return self._done(form, self.topic_url(topic, "dead"), "redrive", n=moved)

    async def purge(self, request: Request) -> Response:
        topic = _topic_param(request)
        form = await self._authorize(request)
        if isinstance(form, Response):
            return form
        if _one(form, "all") == "1":
            if _one(form, "confirm") != "yes":
                return self.message(
                    request, 400, "Not confirmed", "Tick the box to purge every dead letter."
                )
            deleted = await self.service.purge_dead(topic)
        else:
            ids = _ids(form)
            if not ids:
                return self.message(request, 400, "Nothing to purge", "Choose dead letters.")
            deleted = await self.service.purge_dead(topic, ids)
        return self._done(form, self.topic_url(topic, "dead"), "purge", n=deleted)

    @staticmethod
    def _done(form: Mapping[str, list[str]], default: str, what: str, **numbers: int) -> Response:
        back = _safe_next(_one(form, "next"), default)
        path, _, query = back.partition("?")
        params = {k: v[0] for k, v in parse_qs(query).items() if k not in ("done", "n", "r", "x")}
        params["done"] = what
        params.update({k: str(v) for k, v in numbers.items()})
        return RedirectResponse(_format.with_query(path, **params), status_code=303)

    # -- errors ---------------------------------------------------------------------------

    async def queue_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, InvalidArgument):
            return self.message(request, 400, "Invalid request", str(exc))
        if isinstance(exc, BackendUnavailable):
            return self.message(request, 503, "Backend unavailable", str(exc))
        return self.message(request, 500, "Queue error", f"{type(exc).__name__}: {exc}")

    async def http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return self.message(request, 404, "Not found", "There is no such page.")
        if status == 405:
            return self.message(request, 405, "Method not allowed", "Use the page's forms.")
        return self.message(request, status, "Error", str(getattr(exc, "detail", "")))


def _flash(params: Mapping[str, str]) -> str | None:
    """A fixed message for a finished action (numbers only come from the URL)."""
    what = params.get("done")

    def n(name: str) -> int:
        value = params.get(name, "0")
        return int(value) if value.isdigit() and len(value) < 10 else 0

    def jobs(count: int, noun: str = "job") -> str:
        return f"{count:,} {noun}{'' if count == 1 else 's'}"

    if what == "redrive":
        return f"Redrove {jobs(n('n'), 'dead letter')} to the topic."
    if what == "purge":
        return f"Purged {jobs(n('n'), 'dead letter')}."
    if what == "limits":
        return "Saved the topic's limits: every worker's claims honour them from now on."
    if what == "unlimit":
        return "Removed the topic's limits."
    if what == "cancel":
        parts = [f"Cancelled {jobs(n('n'))}"]
        if n("r"):
            parts.append(f"asked {jobs(n('r'), 'running job')} to stop")
        if n("x"):
            parts.append(f"{n('x'):,} not found (already ended)")
        return "; ".join(parts) + "."
    return None


def _limits_text(limits: TopicLimits | None) -> str | None:
    """``5 in flight · 100 per 1 s``, ``None`` without limits."""
    if limits is None or limits.unlimited:
        return None
    return limits.describe(" · ", _format.duration)


def _bound(form: Mapping[str, list[str]], name: str) -> int | None:
    """A limit field: empty or 0 means no bound."""
    text = (_one(form, name) or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise InvalidArgument(f"{name.replace('_', ' ')} must be a whole number (0: no bound)")
    value = int(text)
    if value > MAX_LIMIT:
        raise InvalidArgument(f"{name.replace('_', ' ')} must be at most {MAX_LIMIT:,}")
    return value or None


def _seconds(form: Mapping[str, list[str]], name: str) -> float:
    text = (_one(form, name) or "").strip()
    if not text:
        return 1.0
    if len(text) > 20:
        raise InvalidArgument("per must be a number of seconds")
    return float(text)


def _actions_off(guard: Guard) -> str:
    if guard.read_only:
        return "This dashboard runs read-only: actions are refused."
    return "This dashboard has no token: start it with --token (or its environment variable)."


def _topic_param(request: Request) -> str:
    try:
        return validate_topic(request.path_params["topic"])
    except InvalidArgument:
        raise HTTPException(404) from None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query_params.get(name, "")
    if not value.isdigit() or len(value) > 9:
        return default
    return min(high, max(low, int(value)))


def _one(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _ids(form: Mapping[str, list[str]]) -> list[str]:
    ids = list(dict.fromkeys(form.get("id", [])))[:MAX_IDS]
    return [validate_job_id(job_id) for job_id in ids]


async def _form(request: Request) -> dict[str, list[str]] | None:
    """A small urlencoded form, or ``None``."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return parse_qs(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=2100
        )
    except ValueError:
        return None


def create_app(
    service: QueueService,
    *,
    token: str | None,
    read_only: bool = False,
    topics: Sequence[str] = (),
    allowed_hosts: Sequence[str] | None = None,
    sample_interval: float = 5.0,
    page_size: int = 50,
    schedules: Sequence[Schedule] = (),
) -> Starlette:
    """The dashboard as an ASGI app (serve it with any ASGI server, on the
    event loop that runs ``service``; :func:`serve` does it all).

    * ``token``: the secret every action needs (sign in with it once per
      browser session, or send ``Authorization: Bearer <token>``); ``None``
      turns actions off.
    * ``read_only``: no actions at all (the forms are hidden and every POST
      is refused).
    * ``topics``: topics to show besides those the driver lists (the only
      ones, with a driver that cannot list topics; others can be opened by
      name).
    * ``allowed_hosts``: the ``Host`` names the app answers (default:
      127.0.0.1, localhost, ::1; ``["*"]`` for any), against DNS rebinding.
    * ``sample_interval``: seconds between the counts samples behind the
      throughput chart (see the module ``_sampler``).
    * ``page_size``: jobs per page.
    * ``schedules``: schedules to show on the Schedules page (a registry's
      ``tasks.schedules``), with their previous and next tick and the job
      of the previous tick.
    """
    if not isinstance(service, QueueService):
        raise InvalidArgument("service must be a queue_core.QueueService")
    if token is not None and (not isinstance(token, str) or not token):
        raise InvalidArgument("token must be a non-empty str or None")
    if isinstance(topics, str):
        raise InvalidArgument("topics must be a sequence of topic names, not a str")
    if not 0.1 <= sample_interval <= 3600.0:
        raise InvalidArgument("sample_interval must be within [0.1, 3600] seconds")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 1000:
        raise InvalidArgument("page_size must be an int within [1, 1000]")
    from ..schedules import Schedule

    chosen = tuple(schedules)
    if any(not isinstance(schedule, Schedule) for schedule in chosen):
        raise InvalidArgument("schedules must be queue_core.schedules.Schedule objects")
    hosts = list(LOCAL_HOSTS if allowed_hosts is None else allowed_hosts)
    guard = Guard(token, read_only=read_only)
    dash = _Dashboard(
        service,
        guard,
        topics=topics,
        sample_interval=sample_interval,
        page_size=page_size,
        schedules=chosen,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sampler = asyncio.create_task(dash.sample_forever(), name="qtk-dashboard-sampler")
        try:
            yield
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/", dash.overview),
        Route("/healthz", healthz),
        Route("/open", dash.open_topic),
        Route("/login", dash.login_page, methods=["GET"]),
        Route("/login", dash.login, methods=["POST"]),
        Route("/logout", dash.logout, methods=["POST"]),
        Route("/topics/{topic}", dash.topic),
        Route("/schedules", dash.schedules_page),
        Route("/topics/{topic}/cancel", dash.cancel, methods=["POST"]),
        Route("/topics/{topic}/limits", dash.set_limits, methods=["POST"]),
        Route("/topics/{topic}/dead/redrive", dash.redrive, methods=["POST"]),
        Route("/topics/{topic}/dead/purge", dash.purge, methods=["POST"]),
        Route("/topics/{topic}/jobs/{job_id:path}", dash.job),
        Route("/topics/{topic}/dead/{job_id:path}", dash.dead_job),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_SecurityMiddleware, allowed_hosts=hosts)],
        exception_handlers={QueueError: dash.queue_error, HTTPException: dash.http_error},
        lifespan=lifespan,
    )
    app.state.dashboard = dash
    return app
