"""Adaptive micro-batching: requests that arrive together share one model call.

A random forest spends almost all of a one-row prediction in per-call overhead, so eight rows cost
about what one does. The batcher keeps a queue of request bodies and a set of idle predictors:

- a predictor that is idle takes what is queued at once when the recent concurrency says nobody
  else is coming (one client: no added latency, ever);
- under concurrency it waits for about its share of the open requests (the peak number of
  requests open at once, decaying over ~0.1 s, divided by the number of predictors), but never
  more than ``max_wait`` after the oldest queued request arrived;
- a batch holds at most ``max_batch`` requests and ``max_batch_bytes`` of bodies (a single larger
  request goes alone).

Every caller gets exactly its own answer: the predictor returns one ``(status, body)`` per request,
in order (see ``jobs.run_batch``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque

from mlcloud.deploy.server.jobs import Result, error

log = logging.getLogger("mlcloud.serve")
HALF_LIFE = 0.1  # seconds: how fast the remembered peak of open requests decays


class Batcher:
    def __init__(self, pool, *, max_wait: float, max_batch: int, max_batch_bytes: int):
        self.pool = pool
        self.max_wait, self.max_batch, self.max_batch_bytes = max_wait, max_batch, max_batch_bytes
        self._idle = list(range(pool.size))
        self._queue: deque[tuple[bytes, asyncio.Future, float]] = deque()
        self._queued_bytes = 0
        self._open = 0
        self._peak = 0.0
        self._peak_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.calls = 0  # model calls made
        self.requests = 0  # requests answered through them

    @property
    def stats(self) -> dict:
        return {"calls": self.calls, "requests": self.requests,
                "mean_batch": round(self.requests / self.calls, 3) if self.calls else 0.0,
                "open": self._open, "predictors": self.pool.size}

    async def submit(self, body: bytes) -> Result:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        now = time.monotonic()
        self._open += 1
        self._peak = max(float(self._open), self._peak * 0.5 ** ((now - self._peak_at) / HALF_LIFE))
        self._peak_at = now
        self._queue.append((body, future, now))
        self._queued_bytes += len(body)
        self._kick()
        try:
            return await future
        finally:
            self._open -= 1

    def _target(self) -> int:
        """How many queued requests are worth waiting for: this predictor's share of the peak."""
        return max(1, math.ceil(self._peak / self.pool.size - 0.25))

    def _kick(self) -> None:
        while self._idle and self._queue:
            oldest = self._queue[0][2]
            due = oldest + self.max_wait
            full = (len(self._queue) >= min(self._target(), self.max_batch)
                    or self._queued_bytes >= self.max_batch_bytes)
            if not full and time.monotonic() < due:
                if self._timer is None:
                    self._timer = asyncio.get_running_loop().call_at(
                        asyncio.get_running_loop().time() + (due - time.monotonic()), self._on_timer)
                return
            batch = [self._queue.popleft()]
            size = len(batch[0][0])
            while (self._queue and len(batch) < self.max_batch
                   and size + len(self._queue[0][0]) <= self.max_batch_bytes):
                batch.append(self._queue.popleft())
                size += len(batch[-1][0])
            self._queued_bytes -= size
            slot = self._idle.pop()
            asyncio.get_running_loop().create_task(self._run(slot, batch))

    def _on_timer(self) -> None:
        self._timer = None
        self._kick()

    async def _run(self, slot: int, batch: list) -> None:
        try:
            answers = await self.pool.run(slot, [body for body, _, _ in batch])
        except Exception as e:  # noqa: BLE001 - the pool broke: every caller hears it
            log.error("a batch of %d requests failed: %s", len(batch), e)
            answers = [error(503, f"the model server is restarting: {e}")] * len(batch)
        self.calls += 1
        self.requests += len(batch)
        for (_, future, _), answer in zip(batch, answers):
            if not future.done():
                future.set_result(answer)
        self._idle.append(slot)
        self._kick()
