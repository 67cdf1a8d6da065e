"""Running many checks at once: one asyncio loop, a bounded number in flight."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from reviews.checks.base import CheckContext, Outcome, Target, check_type


@dataclass(frozen=True)
class Job:
    key: str
    target: Target
    params: dict[str, Any]


def default_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def run_jobs(
    jobs: Sequence[Job],
    *,
    concurrency: int = 100,
    timeout: float = 5.0,
    ssl_context: ssl.SSLContext | None = None,
) -> list[Outcome]:
    """Run ``jobs`` concurrently; outcomes come back in the same order.

    The client is made inside the loop and closed there (a client must not outlive
    its ``asyncio.run``).
    """
    context = ssl_context or default_ssl_context()

    async def main() -> list[Outcome]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            verify=context, timeout=httpx.Timeout(timeout), limits=limits, trust_env=False
        ) as client:
            ctx = CheckContext(client=client, timeout=timeout, ssl_context=context)
            gate = asyncio.Semaphore(concurrency)

            async def one(job: Job) -> Outcome:
                try:
                    check = check_type(job.key)()
                    params = check.params(job.params)
                except ValueError as exc:  # a bad binding fails its own job, not the batch
                    return Outcome.error(str(exc))
                async with gate:
                    return await check.run(job.target, params, ctx)

            return list(await asyncio.gather(*(one(job) for job in jobs)))

    return asyncio.run(main())
