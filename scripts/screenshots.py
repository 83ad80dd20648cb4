"""Screenshots of the dashboard for the docs (docs/images/dashboard-*.png).

Runs a small workload for about a minute against a private redis-server
(or in memory with --memory) so that the throughput chart has something to
show, then photographs the main pages with headless Chromium
(/usr/bin/chromium through Playwright; run scripts/_browser.sh first).

    .venv/bin/python scripts/screenshots.py [--seconds 60] [--memory] [--out docs/images]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from queue_core import (  # noqa: E402
    DeadLetter,
    EnqueueOptions,
    Job,
    JobState,
    QueueOptions,
    QueueService,
    RetryPolicy,
    SubscribeOptions,
)
from queue_core.dashboard import create_app  # noqa: E402
from queue_memory import MemoryDriver  # noqa: E402
from tests.redis_support import RedisServer, temp_dir  # noqa: E402
from tests.test_dashboard_browser import chromium, running  # noqa: E402

TOKEN = "screenshots"
OPTIONS = QueueOptions(retry=RetryPolicy(initial_delay=20.0, jitter=0.0))


@contextlib.asynccontextmanager
async def service_for(memory: bool) -> AsyncIterator[QueueService]:
    if memory or shutil.which("redis-server") is None:
        service = QueueService(MemoryDriver(), OPTIONS)
        yield service
        await service.close()
        return
    from redis.asyncio import Redis

    from queue_redis import RedisDriver

    with temp_dir() as directory:
        server = RedisServer(directory)
        server.start()
        try:
            client = Redis.from_url(server.url)
            service = QueueService(RedisDriver(client), OPTIONS)
            try:
                yield service
            finally:
                await service.close()
                await client.aclose()
        finally:
            server.stop()


def _email(i: int) -> bytes:
    return json.dumps(
        {"to": f"customer{i}@example.com", "template": "order-shipped", "order": 41000 + i}
    ).encode()


async def workload(service: QueueService, seconds: float) -> None:
    rng = random.Random(7)
    await service.enqueue_many(
        "thumbnails",
        [
            (json.dumps({"image": f"s3://media/uploads/{i:05}.jpg", "sizes": [64, 256]}).encode())
            for i in range(1800)
        ],
    )
    for i in range(12):
        await service.enqueue(
            "reports",
            json.dumps({"report": "weekly-sales", "region": f"eu-{i}"}).encode(),
            EnqueueOptions(delay=3600.0 * (i + 1), headers={"requested-by": "cron"}),
        )
    bad = [
        b'{"url": "https://partner.example/hooks/orders", "event": "order.paid"}',
        b'{"url": "http://10.0.0.7/hook", "event": "order.refunded"}',
        b'<script>alert("not executed")</script>',
    ]
    for i, payload in enumerate(bad):
        await service.enqueue(
            "webhooks",
            payload,
            EnqueueOptions(
                job_id=f"hook-{i + 1}", headers={"tenant": "acme", "attempt-budget": "3"}
            ),
        )

    async def send_email(job: Job) -> None:
        await asyncio.sleep(rng.uniform(0.01, 0.05))
        if rng.random() < 0.04:
            raise ConnectionError("SMTP 421: service not available, try again later")

    async def thumbnail(job: Job) -> None:
        await asyncio.sleep(rng.uniform(0.02, 0.06))

    async def webhook(job: Job) -> None:
        raise DeadLetter("HTTP 410 Gone from the partner endpoint")

    consumers = [
        await service.subscribe("emails", send_email, SubscribeOptions(concurrency=4)),
        await service.subscribe("thumbnails", thumbnail, SubscribeOptions(concurrency=3)),
        await service.subscribe("webhooks", webhook, SubscribeOptions(concurrency=1)),
    ]
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    i = 0
    while loop.time() < end:
        phase = (end - loop.time()) / seconds
        burst = 12 if phase > 0.5 else 3  # busy first, quieter later
        for _ in range(burst):
            i += 1
            await service.enqueue(
                "emails", _email(i), EnqueueOptions(headers={"tenant": "acme", "trace": f"t{i}"})
            )
        await asyncio.sleep(0.2)
    await consumers[0].close()  # emails keep a backlog in the pictures
    await service.enqueue_many("emails", [_email(90000 + n) for n in range(140)])
    await consumers[2].close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--memory", action="store_true", help="use the in-memory driver")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    async with service_for(args.memory) as service:
        app = create_app(service, token=TOKEN, sample_interval=1.0, page_size=15)
        async with running(app) as base, chromium() as browser:
            await workload(service, args.seconds)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(f"{base}/login?next=/")
            await page.fill("#token", TOKEN)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base}/")
            await asyncio.sleep(2.0)  # two more samples after the last change
            shots = {
                "dashboard-overview.png": "/",
                "dashboard-topic.png": "/topics/emails?state=ready",
                "dashboard-dead-letters.png": "/topics/webhooks?state=dead",
            }
            for name, path in shots.items():
                await page.goto(base + path)
                await page.screenshot(path=args.out / name, full_page=True)
                print(f"wrote {args.out / name}")
            scheduled = await service.list_jobs("emails", JobState.SCHEDULED)
            job_path = (
                f"/topics/emails/jobs/{scheduled[0].id}"
                if scheduled
                else "/topics/webhooks/dead/hook-1"
            )
            await page.goto(base + job_path)
            await page.screenshot(path=args.out / "dashboard-job.png", full_page=True)
            print(f"wrote {args.out / 'dashboard-job.png'}")


if __name__ == "__main__":
    asyncio.run(main())
