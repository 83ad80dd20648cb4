"""The dashboard in a real browser: headless Chromium (Debian's
``/usr/bin/chromium``, driven by Playwright) against a real
``redis-server``. Without Chromium or Playwright the tests skip with a
reason (under ``CI=true`` they fail); ``scripts/_browser.sh`` installs
Chromium. ``scripts/screenshots.py`` reuses the helpers here."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from queue_core import DeadLetter, EnqueueOptions, Job, QueueService
from queue_core.dashboard import create_app
from tests.fakes import async_test
from tests.redis_support import connect, free_port, in_ci

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page
    from starlette.applications import Starlette

CHROMIUM = os.environ.get("QTK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-test-token"
XSS = '<script>window.__xss=1;alert("xss")</script><img src=x onerror="window.__xss=2">'


def browser_unavailable(reason: str) -> NoReturn:
    """No browser: a failure under CI=true, else a skip."""
    if in_ci():
        pytest.fail(f"CI=true and no browser: {reason}", pytrace=False)
    pytest.skip(reason)


def need_chromium() -> None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        browser_unavailable("playwright is not installed (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        browser_unavailable(
            f"no Chromium at {CHROMIUM}: run scripts/_browser.sh (apt-get install -y chromium) "
            "or set QTK_CHROMIUM"
        )


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium from the system (Playwright never downloads one)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on this event loop; yield its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise RuntimeError("the dashboard did not start")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def bury(service: QueueService, topic: str) -> None:
    """Dead-letter every job of ``topic``."""

    async def handler(job: Job) -> None:
        raise DeadLetter(f"rejected by the handler: {job.payload[:20]!r}")

    consumer = await service.subscribe(topic, handler)
    await consumer.wait_idle()
    await consumer.close()


async def seed(service: QueueService) -> None:
    for i in range(3):
        payload = json.dumps({"to": f"user{i}@example.com", "template": "welcome"}).encode()
        options = EnqueueOptions(job_id=f"mail-{i}", headers={"tenant": "acme"})
        await service.enqueue("emails", payload, options)
    await service.enqueue("reports", b"\x00\x01\x02binary", EnqueueOptions(delay=3600.0))
    await service.enqueue("webhooks", XSS.encode(), EnqueueOptions(job_id="evil"))
    await service.enqueue(
        "webhooks", b'{"url": "https://example.com/hook"}', EnqueueOptions(job_id="hook-1")
    )
    await bury(service, "webhooks")


@contextlib.asynccontextmanager
async def redis_service(redis_url: str) -> AsyncIterator[QueueService]:
    from queue_redis import RedisDriver

    async with connect(redis_url) as client:
        # a prefix of its own: the overview lists this test's topics only
        driver = RedisDriver(client, prefix=f"dash-{uuid.uuid4().hex[:8]}")
        service = QueueService(driver)
        try:
            yield service
        finally:
            await service.close()


async def post_response(page: Page, selector: str) -> Any:
    """Click a form's submit button; return the response to its POST."""
    async with page.expect_response(lambda r: r.request.method == "POST") as info:
        await page.click(selector)
    response = await info.value
    await page.wait_for_load_state()
    return response


@pytest.mark.redis
@async_test
async def test_pages_render_the_seeded_jobs_and_escape_payloads(
    redis_url: str, tmp_path: Path
) -> None:
    need_chromium()
    async with redis_service(redis_url) as service:
        await seed(service)
        app = create_app(service, token=TOKEN)
        async with running(app) as base, chromium() as browser:
            page = await browser.new_page()
            dialogs: list[str] = []

            async def on_dialog(dialog: Any) -> None:
                dialogs.append(dialog.message)
                await dialog.dismiss()

            page.on("dialog", on_dialog)
            await page.goto(base + "/")
            assert await page.title() == "Topics · qtk dashboard"
            rows = page.locator("table.data tbody tr")
            assert await rows.count() == 3
            first_row = await rows.nth(0).inner_text()
            assert first_row.split()[:2] == ["emails", "3"]  # topic, ready
            await page.screenshot(path=tmp_path / "overview.png", full_page=True)

            await page.click("text=emails")
            await page.wait_for_url(f"{base}/topics/emails")
            ids = await page.locator("table.jobs tbody tr td:first-child a").all_inner_texts()
            assert ids == ["mail-0", "mail-1", "mail-2"]
            await page.click("text=mail-1")
            payload = await page.locator("pre.payload").inner_text()
            assert json.loads(payload) == {"to": "user1@example.com", "template": "welcome"}
            assert "acme" in await page.locator("table.compact").inner_text()

            await page.goto(base + "/topics/webhooks?state=dead")
            assert "rejected by the handler" in await page.locator("table.jobs").inner_text()
            await page.click("text=evil")
            await page.wait_for_url(f"{base}/topics/webhooks/dead/evil")
            assert await page.locator("pre.payload").inner_text() == XSS  # shown as text
            assert await page.locator("pre.payload *").count() == 0  # no element made of it
            assert await page.evaluate("() => window.__xss") is None
            await page.goto(base + "/topics/webhooks?state=dead")  # the list shows it too
            assert await page.evaluate("() => window.__xss") is None
            assert dialogs == []
            await page.screenshot(path=tmp_path / "dead.png", full_page=True)


@pytest.mark.redis
@async_test
async def test_an_action_needs_the_token_and_a_redrive_moves_the_job(redis_url: str) -> None:
    need_chromium()
    async with redis_service(redis_url) as service:
        await seed(service)
        app = create_app(service, token=TOKEN)
        async with running(app) as base, chromium() as browser:
            page = await browser.new_page()
            await page.goto(base + "/topics/webhooks/dead/hook-1")
            refused = await post_response(page, "button:has-text('Redrive')")
            assert refused.status == 403
            assert "Refused: sign in first" in await page.locator("h1").inner_text()
            assert (await service.counts("webhooks")).dead == 2
            assert await service.get("webhooks", "hook-1") is None

            await page.click("main a:has-text('Sign in')")
            await page.fill("#token", "not the token")
            assert (await post_response(page, "button[type=submit]")).status == 403
            await page.fill("#token", TOKEN)
            await post_response(page, "button[type=submit]")
            await page.wait_for_url(f"{base}/topics/webhooks?state=dead")  # back where it was
            await page.click("text=hook-1")
            await page.wait_for_url(f"{base}/topics/webhooks/dead/hook-1")
            moved = await post_response(page, "button:has-text('Redrive')")
            assert moved.status == 303
            await page.wait_for_url(f"{base}/topics/webhooks?state=dead&done=redrive&n=1")
            flash = await page.locator(".flash").inner_text()
            assert flash == "Redrove 1 dead letter to the topic."
            job = await service.get("webhooks", "hook-1")
            assert job is not None
            assert job.attempt == 0
            assert (await service.counts("webhooks")).dead == 1  # evil stays dead


@pytest.mark.redis
@async_test
async def test_limits_set_from_the_topic_page_and_the_schedules_page(redis_url: str) -> None:
    need_chromium()
    from queue_core import TopicLimits
    from queue_core.schedules import Schedule, Scheduler, every

    async with redis_service(redis_url) as service:
        await seed(service)
        minutely = Schedule(name="minutely", trigger=every(60), topic="emails", payload=b"{}")
        app = create_app(service, token=TOKEN, schedules=[minutely])
        async with Scheduler(service, [minutely]), running(app) as base, chromium() as browser:
            page = await browser.new_page()
            await page.goto(base + "/login?next=/topics/emails")
            await page.fill("#token", TOKEN)
            await post_response(page, "button[type=submit]")
            await page.wait_for_url(f"{base}/topics/emails")
            await page.fill("input[name=max_in_flight]", "4")
            await page.fill("input[name=rate]", "20")
            await page.fill("input[name=per]", "5")
            saved = await post_response(page, "button:has-text('Save limits')")
            assert saved.status == 303
            limits = await service.get_limits("emails")
            assert limits == TopicLimits(max_in_flight=4, rate=20, per=5.0)
            assert "4 in flight · 20 per 5.0 s" in await page.locator(".card-limited").inner_text()
            await post_response(page, "button:has-text('Remove limits')")
            assert (await service.get_limits("emails")).unlimited
            await page.click("header a:has-text('Schedules')")
            await page.wait_for_url(f"{base}/schedules")
            table = await page.locator("table.data").inner_text()
            assert "minutely" in table
            assert "every 1 min" in table
            assert "sched:minutely:" in table  # the job of its last tick, still waiting
