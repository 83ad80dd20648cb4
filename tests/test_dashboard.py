"""The dashboard over HTTP (httpx's ASGI transport, the in-memory driver):
pages, escaping, payload views, paging, and the security model (token,
CSRF, origin and host checks, read-only mode, headers)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

import queue_core.dashboard
from queue_core import (
    BackendUnavailable,
    Counts,
    DeadLetter,
    EnqueueOptions,
    InvalidArgument,
    Job,
    QueueService,
    Unsupported,
)
from queue_core.dashboard import create_app
from queue_core.dashboard._format import duration, rate
from queue_core.dashboard._payload import hex_dump, preview
from queue_core.dashboard._sampler import Sampler, chart
from queue_memory import MemoryDriver
from tests.fakes import async_test
from tests.redis_support import free_port

TOKEN = "s3cret-dashboard-token"
XSS = b'<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _dead_letter(service: QueueService, topic: str, payload: bytes, job_id: str) -> None:
    await service.enqueue(topic, payload, EnqueueOptions(job_id=job_id))

    async def bury(job: Job) -> None:
        raise DeadLetter("bad <b>payload</b>")

    consumer = await service.subscribe(topic, bury)
    await consumer.wait_idle()
    await consumer.close()


async def _seeded() -> QueueService:
    service = QueueService(MemoryDriver())
    for i in range(3):
        payload = json.dumps({"to": f"user{i}@example.com"}).encode()
        await service.enqueue(
            "emails", payload, EnqueueOptions(job_id=f"mail-{i}", headers={"tenant": "acme"})
        )
    await service.enqueue("reports", b"\x00\x01\x02binary", EnqueueOptions(delay=3600.0))
    await _dead_letter(service, "webhooks", XSS, "evil")
    return service


@contextlib.asynccontextmanager
async def _client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _app(service: QueueService, **kwargs: object) -> Starlette:
    options: dict[str, object] = {"token": TOKEN, "allowed_hosts": ["testserver"], **kwargs}
    return create_app(service, **options)  # type: ignore[arg-type]


async def _csrf(client: httpx.AsyncClient, path: str = "/login") -> str:
    response = await client.get(path)
    match = CSRF.search(response.text)
    assert match is not None, response.text
    return match.group(1)


async def _sign_in(client: httpx.AsyncClient) -> str:
    csrf = await _csrf(client, "/login")
    response = await client.post("/login", data={"token": TOKEN, "csrf": csrf, "next": "/"})
    assert response.status_code == 303
    assert "qtk_auth" in client.cookies
    return csrf


# -- pages ----------------------------------------------------------------------


@async_test
async def test_pages_show_the_seeded_topics_jobs_and_dead_letters() -> None:
    service = await _seeded()
    async with _client(_app(service)) as client:
        home = await client.get("/")
        assert home.status_code == 200
        for name in ("emails", "reports", "webhooks"):
            assert f'href="/topics/{name}"' in home.text
        topic = await client.get("/topics/emails")
        for i in range(3):
            assert f'href="/topics/emails/jobs/mail-{i}"' in topic.text
        assert "user0@example.com" in topic.text
        scheduled = await client.get("/topics/reports?state=scheduled")
        assert "bytes of binary data" in scheduled.text
        dead = await client.get("/topics/webhooks?state=dead")
        assert 'href="/topics/webhooks/dead/evil"' in dead.text
        assert "Redrive all" in dead.text
        assert "Purge all" in dead.text
        job = await client.get("/topics/emails/jobs/mail-1")
        assert job.status_code == 200
        assert "tenant" in job.text
        assert "acme" in job.text
        assert "&#34;to&#34;: &#34;user1@example.com&#34;" in job.text  # pretty JSON, escaped
        assert "1 of 5" not in job.text  # not claimed yet: attempt 0
        assert "0 of 5" in job.text
    await service.close()


@async_test
async def test_payloads_errors_and_ids_are_escaped_everywhere() -> None:
    service = await _seeded()
    async with _client(_app(service)) as client:
        for path in ("/topics/webhooks?state=dead", "/topics/webhooks/dead/evil"):
            page = (await client.get(path)).text
            assert "<script>" not in page
            assert "<img" not in page
            assert "&lt;b&gt;payload&lt;/b&gt;" in page  # the last error, escaped
        page = (await client.get("/topics/webhooks/dead/evil?view=text")).text
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
        missing = await client.get("/topics/webhooks/jobs/%3Cscript%3E")
        assert missing.status_code == 404
        assert "<script>" not in missing.text
        assert "&lt;script&gt;" in missing.text
    await service.close()


@async_test
async def test_job_ids_with_url_characters_round_trip() -> None:
    service = QueueService(MemoryDriver())
    await service.enqueue("t", b"x", EnqueueOptions(job_id="a/b?c#d%e"))
    async with _client(_app(service)) as client:
        listing = (await client.get("/topics/t")).text
        assert 'href="/topics/t/jobs/a%2Fb%3Fc%23d%25e"' in listing
        job = await client.get("/topics/t/jobs/a%2Fb%3Fc%23d%25e")
        assert job.status_code == 200
        assert "a/b?c#d%e" in job.text
    await service.close()


def test_payload_previews() -> None:
    assert preview(b'{"a": [1, 2]}').mode == "json"
    assert preview(b'{"a": [1, 2]}').body == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert preview(b"plain words").mode == "text"
    assert preview(b"\x00\xff\x10").mode == "hex"
    assert preview(b"\x00\xff\x10", "text").body == "\ufffd\ufffd\ufffd"
    not_json = preview(b"not json", "json")
    assert not_json.mode == "text"
    assert not_json.note is not None
    assert hex_dump(b"Hi\x00") == "00000000  48 69 00" + " " * 39 + "  |Hi.|"
    big = preview(b"x" * 200_000)
    assert big.truncated
    assert big.shown == 64 * 1024
    assert len(big.body) == 64 * 1024
    assert preview(b"\x01" * 10_000, "hex").shown == 4096
    deep = b"[" * 100_000 + b"]" * 100_000  # the parser's recursion limit: shown as text
    assert preview(deep).mode == "text"


@async_test
async def test_payload_view_switch_and_truncation_note() -> None:
    service = QueueService(MemoryDriver())
    await service.enqueue("t", b"y" * 100_000, EnqueueOptions(job_id="big"))
    async with _client(_app(service)) as client:
        page = (await client.get("/topics/t/jobs/big")).text
        assert "Showing the first 65,536 of 100,000 bytes." in page
        hexed = (await client.get("/topics/t/jobs/big?view=hex")).text
        assert "00000000  79 79" in hexed
        assert "Showing the first 4,096 of 100,000" in hexed
    await service.close()


@async_test
async def test_paging_through_a_topic() -> None:
    service = QueueService(MemoryDriver())
    await service.enqueue_many("t", [(b"x", EnqueueOptions(job_id=f"j{i:03}")) for i in range(120)])
    async with _client(_app(service)) as client:
        first = (await client.get("/topics/t")).text
        assert first.count('href="/topics/t/jobs/') == 50
        assert "page 1 of 3" in first
        assert 'rel="next"' in first
        assert 'rel="prev"' not in first
        third = (await client.get("/topics/t?state=ready&page=3")).text
        assert third.count('href="/topics/t/jobs/') == 20
        assert "j100" in third
        assert "j099" not in third
        assert 'rel="next"' not in third
        assert 'rel="prev"' in third
        beyond = (await client.get("/topics/t?page=9")).text
        assert "No jobs on this page" in beyond
        odd = await client.get("/topics/t?page=-1&state=bogus")
        assert odd.status_code == 200
        assert "page 1 of 3" in odd.text
    await service.close()


@async_test
async def test_unknown_pages_and_invalid_topics_are_404() -> None:
    service = QueueService(MemoryDriver())
    async with _client(_app(service)) as client:
        assert (await client.get("/nope")).status_code == 404
        assert (await client.get("/topics/bad%20topic")).status_code == 404
        assert (await client.get("/topics/t/jobs/has%20space")).status_code == 404
        assert (await client.get("/topics/t/cancel")).status_code == 405
    await service.close()


# -- security -------------------------------------------------------------------


@async_test
async def test_every_response_carries_the_security_headers() -> None:
    service = await _seeded()
    async with _client(_app(service)) as client:
        responses = [
            await client.get("/"),
            await client.get("/static/style.css"),
            await client.get("/nope"),
            await client.post("/topics/webhooks/dead/redrive", data={"all": "1"}),
        ]
        for response in responses:
            csp = response.headers["content-security-policy"]
            assert "default-src 'none'" in csp
            assert "script-src" not in csp
            assert "frame-ancestors 'none'" in csp
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "same-origin"
            assert response.headers["x-content-type-options"] == "nosniff"
        cookie = responses[0].headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
    await service.close()


@async_test
async def test_a_host_not_allowed_is_refused() -> None:
    service = QueueService(MemoryDriver())
    app = create_app(service, token=TOKEN)  # default: local names only
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://attacker.example") as c:
        assert (await c.get("/")).status_code == 400
    for host in ("127.0.0.1:8080", "localhost", "[::1]:8080"):
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as c:
            assert (await c.get("/")).status_code == 200, host
    await service.close()


@async_test
async def test_an_action_without_the_token_is_refused() -> None:
    service = await _seeded()
    async with _client(_app(service)) as client:
        csrf = await _csrf(client, "/topics/webhooks?state=dead")
        data = {"all": "1", "csrf": csrf}
        refused = await client.post("/topics/webhooks/dead/redrive", data=data)
        assert refused.status_code == 403
        assert "sign in first" in refused.text
        wrong = await client.post("/topics/webhooks/dead/redrive", data={**data, "token": "no"})
        assert wrong.status_code == 403
        bearer = {"authorization": "Bearer wrong"}
        assert (
            await client.post("/topics/webhooks/dead/redrive", data=data, headers=bearer)
        ).status_code == 403
        assert (await service.counts("webhooks")).dead == 1
        # the token in a form field works (with the CSRF token) ...
        ok = await client.post("/topics/webhooks/dead/redrive", data={**data, "token": TOKEN})
        assert ok.status_code == 303
        assert (await service.counts("webhooks")).dead == 0
    await service.close()


@async_test
async def test_a_script_may_act_with_a_bearer_token() -> None:
    service = await _seeded()
    async with _client(_app(service)) as client:
        response = await client.post(
            "/topics/webhooks/dead/purge",
            data={"id": "evil"},
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/topics/webhooks?state=dead&done=purge&n=1"
        assert (await service.counts("webhooks")).dead == 0
    await service.close()


@async_test
async def test_signed_in_actions_need_the_csrf_token_and_the_same_origin() -> None:
    service = await _seeded()
    async with _client(_app(service)) as client:
        csrf = await _sign_in(client)
        url = "/topics/webhooks/dead/redrive"
        missing = await client.post(url, data={"all": "1"})
        assert missing.status_code == 403
        assert "CSRF" in missing.text
        forged = await client.post(url, data={"all": "1", "csrf": "0" * 64})
        assert forged.status_code == 403
        cross = await client.post(
            url, data={"all": "1", "csrf": csrf}, headers={"origin": "http://evil.example"}
        )
        assert cross.status_code == 403
        cross_site = await client.post(
            url, data={"all": "1", "csrf": csrf}, headers={"sec-fetch-site": "cross-site"}
        )
        assert cross_site.status_code == 403
        json_body = await client.post(url, json={"all": "1", "csrf": csrf})
        assert json_body.status_code == 400
        assert (await service.counts("webhooks")).dead == 1
        ok = await client.post(
            url,
            data={"all": "1", "csrf": csrf, "next": "/topics/webhooks?state=dead"},
            headers={"origin": "http://testserver"},
        )
        assert ok.status_code == 303
        assert (await service.counts("webhooks")).dead == 0
        page = await client.get(ok.headers["location"])
        assert "Redrove 1 dead letter to the topic." in page.text
    await service.close()


@async_test
async def test_csrf_tokens_are_bound_to_the_session() -> None:
    service = await _seeded()
    app = _app(service)
    async with _client(app) as attacker:
        their_csrf = await _csrf(attacker)
    async with _client(app) as victim:
        await _sign_in(victim)
        response = await victim.post(
            "/topics/webhooks/dead/purge", data={"id": "evil", "csrf": their_csrf}
        )
        assert response.status_code == 403
    assert (await service.counts("webhooks")).dead == 1
    await service.close()


@async_test
async def test_sign_in_and_out() -> None:
    service = await _seeded()
    async with _client(_app(service)) as client:
        csrf = await _csrf(client, "/login")
        wrong = await client.post("/login", data={"token": "guess", "csrf": csrf, "next": "/"})
        assert wrong.status_code == 403
        assert "Wrong token." in wrong.text
        assert "qtk_auth" not in client.cookies
        no_csrf = await client.post("/login", data={"token": TOKEN, "next": "/"})
        assert no_csrf.status_code == 403
        offsite = await client.post(
            "/login", data={"token": TOKEN, "csrf": csrf, "next": "//evil.example/x"}
        )
        assert offsite.status_code == 303
        assert offsite.headers["location"] == "/"
        home = await client.get("/")
        assert "Sign out" in home.text
        out = await client.post("/logout", data={"csrf": csrf})
        assert out.status_code == 303
        assert "Sign in to act" in (await client.get("/")).text
    await service.close()


@async_test
async def test_read_only_hides_actions_and_refuses_them() -> None:
    service = await _seeded()
    async with _client(_app(service, read_only=True)) as client:
        page = (await client.get("/topics/webhooks?state=dead")).text
        assert "read-only" in page
        assert '<form method="post"' not in page
        assert "Redrive" not in page
        job = (await client.get("/topics/webhooks/dead/evil")).text
        assert "Purge" not in job
        refused = await client.post(
            "/topics/webhooks/dead/redrive",
            data={"all": "1"},
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert refused.status_code == 403
        assert "read-only" in refused.text
        assert (await client.get("/login")).status_code == 404
    assert (await service.counts("webhooks")).dead == 1
    await service.close()


@async_test
async def test_without_a_token_actions_are_off() -> None:
    service = await _seeded()
    async with _client(_app(service, token=None)) as client:
        page = (await client.get("/topics/webhooks?state=dead")).text
        assert "actions off" in page
        assert "Redrive" not in page
        refused = await client.post("/topics/webhooks/dead/redrive", data={"all": "1"})
        assert refused.status_code == 403
        assert "--token" in refused.text
    await service.close()


# -- actions ----------------------------------------------------------------------


@async_test
async def test_cancel_waiting_jobs_from_the_page() -> None:
    service = await _seeded()
    async with _client(_app(service)) as client:
        csrf = await _sign_in(client)
        page = (await client.get("/topics/emails")).text
        assert "Cancel</button>" in page
        response = await client.post(
            "/topics/emails/cancel",
            data={"id": ["mail-0", "mail-1", "gone"], "csrf": csrf, "next": "/topics/emails"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/topics/emails?done=cancel&n=2&r=0&x=1"
        flash = (await client.get(response.headers["location"])).text
        assert "Cancelled 2 jobs; 1 not found (already ended)." in flash
        assert await service.get("emails", "mail-0") is None
        assert await service.get("emails", "mail-2") is not None
    await service.close()


@async_test
async def test_purge_all_needs_a_confirmation() -> None:
    service = await _seeded()
    async with _client(_app(service)) as client:
        csrf = await _sign_in(client)
        url = "/topics/webhooks/dead/purge"
        unconfirmed = await client.post(url, data={"all": "1", "csrf": csrf})
        assert unconfirmed.status_code == 400
        assert (await service.counts("webhooks")).dead == 1
        confirmed = await client.post(url, data={"all": "1", "confirm": "yes", "csrf": csrf})
        assert confirmed.status_code == 303
        assert (await service.counts("webhooks")).dead == 0
    await service.close()


# -- drivers and backends ---------------------------------------------------------


class _Unlisted(MemoryDriver):
    async def topics(self) -> list[str]:
        raise Unsupported("cannot list topics")


class _Broken(MemoryDriver):
    async def counts(self, topic: str) -> Counts:
        raise BackendUnavailable("the backend is down")


@async_test
async def test_a_driver_that_cannot_list_topics() -> None:
    service = QueueService(_Unlisted())
    await service.enqueue("given", b"x")
    await service.enqueue("other", b"x")
    async with _client(_app(service, topics=["given"])) as client:
        home = (await client.get("/")).text
        assert "cannot list its topics" in home
        assert 'href="/topics/given"' in home
        assert 'href="/topics/other"' not in home
        opened = await client.get("/open?topic=other")
        assert opened.status_code == 303
        assert opened.headers["location"] == "/topics/other"
        assert 'href="/topics/other"' in (await client.get("/")).text
        assert (await client.get("/open?topic=no%20spaces")).status_code == 400
    await service.close()


@async_test
async def test_a_failing_backend_gives_an_error_page_not_a_crash() -> None:
    service = QueueService(_Broken())
    await service.enqueue("t", b"x")
    async with _client(_app(service)) as client:
        home = await client.get("/")
        assert home.status_code == 200
        assert "BackendUnavailable" in home.text
        topic = await client.get("/topics/t")
        assert topic.status_code == 503
        assert "Backend unavailable" in topic.text
    await service.close()


# -- the throughput chart -----------------------------------------------------------


def test_net_flow_and_chart_geometry() -> None:
    sampler = Sampler()
    assert sampler.net_flow(None) is None
    for second, ready in ((0, 100), (30, 80), (60, 40)):
        sampler.add_round({"t": Counts(ready=ready, in_flight=5, dead=1)}, 1000.0 + second)
    assert sampler.net_flow("t") == pytest.approx(-60.0)
    assert sampler.net_flow(None) == pytest.approx(-60.0)
    drawn = chart(sampler.series("t"))
    assert not drawn.empty
    assert drawn.span == "1 min"
    waiting = drawn.lines[0]
    assert waiting.name == "Waiting"
    assert waiting.last == 40
    first, last = waiting.points.split()[0], waiting.points.split()[-1]
    assert first == f"{float(drawn.left)},{float(drawn.top_y0)}"  # 100 tops the scale
    assert last.startswith(f"{float(drawn.right)},")
    assert [bar.css for bar in drawn.bars] == ["drain", "drain"]
    assert chart(sampler.series("t")[:1]).empty
    assert rate(-60.0) == "\N{MINUS SIGN}60/min"
    assert rate(None) == "—"
    assert duration(90) == "1 min 30 s"
    assert duration(0.25) == "250 ms"


@async_test
async def test_the_overview_draws_the_chart_after_two_samples() -> None:
    service = await _seeded()
    app = _app(service, sample_interval=0.1)
    dashboard = app.state.dashboard
    async with _client(app) as client:
        assert "Collecting samples" in (await client.get("/")).text
        dashboard.sampler.add_round({"emails": Counts(ready=9)}, 1.0)
        dashboard.sampler.add_round({"emails": Counts(ready=3)}, 2.0)
        page = (await client.get("/")).text
        assert '<svg class="chart"' in page
        assert "series-waiting" in page
    await service.close()


# -- the API --------------------------------------------------------------------------


def test_create_app_checks_its_arguments() -> None:
    service = QueueService(MemoryDriver())
    with pytest.raises(InvalidArgument):
        create_app(object(), token=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        create_app(service, token="")
    with pytest.raises(InvalidArgument):
        create_app(service, token=None, topics="emails")
    with pytest.raises(InvalidArgument):
        create_app(service, token=None, topics=["bad topic"])
    with pytest.raises(InvalidArgument):
        create_app(service, token=None, page_size=0)
    with pytest.raises(InvalidArgument):
        queue_core.dashboard.serve(None, port=70000)


def test_the_dashboard_exports() -> None:
    assert sorted(queue_core.dashboard.__all__) == ["TOKEN_ENV", "create_app", "serve"]
    assert queue_core.dashboard.create_app.__module__ == "queue_core.dashboard._app"
    assert queue_core.dashboard.serve.__module__ == "queue_core.dashboard._serve"


def test_importing_it_without_its_extra_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['starlette'] = None\n"
        "import queue_core\n"
        "try:\n    import queue_core.dashboard\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'queue-toolkit[dashboard]'" in out.stdout


def test_serve_runs_the_dashboard_until_interrupted(tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "serve.py"
    script.write_text(
        "import queue_core\n"
        "from queue_core import QueueService\n"
        "from queue_memory import MemoryDriver\n"
        "def open_service(url, **kwargs):\n"
        "    assert url == 'memory://'\n"
        "    return QueueService(MemoryDriver())\n"
        "queue_core.open_service = open_service  # the test's stand-in\n"
        "from queue_core.dashboard import serve\n"
        f"serve('memory://', port={port})\n"
    )
    env = {**os.environ, "QTK_DASHBOARD_TOKEN": TOKEN}
    process = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.read() == b"ok"
                break
            except OSError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/topics/t/dead/redrive",
            data=b"all=1",
            headers={"Authorization": f"Bearer {TOKEN}"},  # the token came from the env
        )
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=5)
        answer.value.close()
        assert answer.value.code == 303
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
    assert "actions need the token" in output


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# -- schedules, limits, cancel requests -------------------------------------------------------


@async_test
async def test_the_schedules_page_shows_each_schedule_its_last_tick_s_job_and_next_run() -> None:
    from queue_core.schedules import Schedule, Scheduler, cron, every

    service = await _seeded()
    schedules = [
        Schedule(name="minutely", trigger=every(60), topic="emails", payload=b"{}", task="send"),
        Schedule(name="nightly", trigger=cron("0 3 * * *", tz="Europe/Paris"), topic="reports"),
        Schedule(name="never-ran", trigger=every(3600), topic="idle"),
    ]
    app = _app(service, schedules=schedules)
    # the last schedule has no scheduler running it: its last tick has no job
    async with Scheduler(service, schedules[:2]), _client(app) as client:
        home = (await client.get("/")).text
        assert 'href="/schedules"' in home
        into = time.time() % 60  # keep clear of a minute boundary (a new tick)
        if into < 2 or into > 58:
            await asyncio.sleep((62 - into) % 60)
        page = await client.get("/schedules")
        now = time.time()
        assert page.status_code == 200
        text = page.text
        for needle in (
            "minutely",
            "every 1 min",
            "cron 0 3 * * * (Europe/Paris)",
            "catch up the latest missed tick",
            'href="/topics/reports"',
            "ended, or not enqueued",
        ):
            assert needle in text, needle
        last = schedules[0].job_id(now - now % 60)
        assert f'href="/topics/emails/jobs/{last.replace(":", "%3A")}"' in text
        assert '<span class="badge badge-ready">Ready</span>' in text
    async with _client(_app(service)) as client:  # no schedules given: no link, an empty page
        assert 'href="/schedules"' not in (await client.get("/")).text
        assert "No schedules" in (await client.get("/schedules")).text
    with pytest.raises(InvalidArgument):
        create_app(service, token=None, schedules=["nightly"])  # type: ignore[list-item]
    await service.close()


@async_test
async def test_a_topic_shows_its_limits_and_a_signed_in_user_may_change_them() -> None:
    from queue_core import TopicLimits

    service = await _seeded()
    await service.set_limits("emails", TopicLimits(max_in_flight=3, rate=10, per=2.0))
    async with _client(_app(service)) as client:
        page = (await client.get("/topics/emails")).text
        assert "3 in flight · 10 per 2.0 s" in page
        assert 'action="/topics/emails/limits"' in page  # the form: posting it needs the token
        csrf = await _sign_in(client)
        page = (await client.get("/topics/emails")).text
        assert 'name="max_in_flight" min="0" max="100000" value="3"' in page
        assert "None" in (await client.get("/topics/reports")).text  # no limits there
        url = "/topics/emails/limits"
        saved = await client.post(
            url,
            data={"max_in_flight": "5", "rate": "", "per": "1", "csrf": csrf, "next": "/x"},
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/x?done=limits"
        assert await service.get_limits("emails") == TopicLimits(max_in_flight=5)
        flash = (await client.get("/topics/emails?done=limits")).text
        assert "Saved the topic&#39;s limits" in flash
        for bad in ({"max_in_flight": "-1"}, {"rate": "lots"}, {"per": "0"}, {"rate": "200000"}):
            refused = await client.post(url, data={"csrf": csrf, **bad})
            assert refused.status_code == 400, bad
        assert await service.get_limits("emails") == TopicLimits(max_in_flight=5)
        no_csrf = await client.post(url, data={"clear": "1"})
        assert no_csrf.status_code == 403
        cleared = await client.post(url, data={"clear": "1", "csrf": csrf})
        assert cleared.status_code == 303
        assert "done=unlimit" in cleared.headers["location"]
        assert (await service.get_limits("emails")).unlimited
    async with _client(_app(service, read_only=True)) as client:
        page = (await client.get("/topics/emails")).text
        assert "Limits" in page
        assert 'action="/topics/emails/limits"' not in page
        refused = await client.post(
            "/topics/emails/limits",
            data={"max_in_flight": "1"},
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert refused.status_code == 403
    assert (await service.get_limits("emails")).unlimited
    await service.close()


@async_test
async def test_a_driver_without_limits_shows_none_and_refuses_to_set_them() -> None:
    import dataclasses

    from queue_core import Capabilities

    class NoLimits(MemoryDriver):
        @property
        def capabilities(self) -> Capabilities:
            return dataclasses.replace(super().capabilities, limits=False)

        async def set_limits(self, topic: str, limits: object) -> None:
            raise Unsupported("NoLimits cannot enforce limits")

    service = QueueService(NoLimits())
    await service.enqueue("t", b"x")
    async with _client(_app(service)) as client:
        csrf = await _sign_in(client)
        page = (await client.get("/topics/t")).text
        assert 'card-label">Limits' not in page
        assert 'action="/topics/t/limits"' not in page
        refused = await client.post("/topics/t/limits", data={"rate": "1", "csrf": csrf})
        assert refused.status_code == 400
        assert "cannot enforce limits" in refused.text
    await service.close()


@async_test
async def test_a_running_job_with_a_pending_cancel_request_is_marked() -> None:
    service = await _seeded()
    (running,) = await service.driver.claim("emails", max_jobs=1, lease=600)
    async with _client(_app(service)) as client:
        page = (await client.get("/topics/emails?state=in_flight")).text
        assert "cancel requested</span>" not in page
        csrf = await _sign_in(client)
        response = await client.post(
            "/topics/emails/cancel", data={"id": running.id, "csrf": csrf, "next": "/topics/emails"}
        )
        assert response.headers["location"] == "/topics/emails?done=cancel&n=0&r=1&x=0"
        flash = (await client.get(response.headers["location"])).text
        assert "asked 1 running job to stop" in flash
        page = (await client.get("/topics/emails?state=in_flight")).text
        assert "cancel requested</span>" in page
        job = (await client.get(f"/topics/emails/jobs/{running.id}")).text
        assert "Cancel requested</span>" in job
        assert "its worker is stopping it" in job
        other = (await client.get("/topics/emails/jobs/mail-2")).text
        assert "Cancel requested" not in other
    await service.close()
