"""Where batches run: predictor processes forked after the model is loaded, or the server itself.

``ProcessPool(predictor, n)`` forks ``n`` processes that share the loaded model's pages (copy on
write) and each answer one batch at a time over a pipe: raw request bodies in, ``(status, JSON
bytes)`` out, so the server process neither parses JSON nor runs the model and stays free for
HTTP. Fork it before any thread or event loop exists. A worker that dies makes the pool
``broken``: the server stops (exit 1) so its supervisor (the Vertex emulator, Vertex AI, the
user) restarts it; nothing is half-served.

``InlinePool(predictor)`` runs batches on one thread of the server process (``--workers 0``): one
process per model, as the Vertex emulator runs each deployed model.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pipe
from typing import Callable

from mlcloud.deploy.server.jobs import Result, run_batch

log = logging.getLogger("mlcloud.serve")


class InlinePool:
    size = 1

    def __init__(self, predictor):
        self.predictor = predictor
        self.broken: str | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="mlcloud-predict")
        self.pids: list[int] = []

    def start(self, loop: asyncio.AbstractEventLoop, on_broken: Callable[[str], None]) -> None:
        pass

    async def run(self, slot: int, bodies: list[bytes]) -> list[Result]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, run_batch, self.predictor, bodies)

    def close(self) -> None:
        self._executor.shutdown(wait=False)


def _worker(conn, predictor, limit_threads: bool) -> None:
    """A predictor process: batches in, answers out, until the server closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    if limit_threads:  # one process per core already: no BLAS/OpenMP threads on top
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        answers = run_batch(predictor, pickle.loads(message))
        try:
            conn.send_bytes(pickle.dumps(answers, protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            return


class _Worker:
    def __init__(self, pid: int, conn):
        self.pid, self.conn = pid, conn
        self.future: asyncio.Future | None = None


class ProcessPool:
    def __init__(self, predictor, n: int, inherited: list = ()):
        """Fork ``n`` predictor processes now; ``inherited`` (e.g. the listening socket) is closed
        in each child."""
        self.size = n
        self.broken: str | None = None
        self.workers: list[_Worker] = []
        self._on_broken: Callable[[str], None] = lambda why: None
        self._closing = False
        for _ in range(n):
            parent, child = Pipe(duplex=True)
            pid = os.fork()
            if pid == 0:  # the predictor process
                code = 0
                try:
                    parent.close()
                    for w in self.workers:
                        w.conn.close()
                    for obj in inherited:
                        obj.close()
                    _worker(child, predictor, limit_threads=n > 1)
                except BaseException:  # noqa: BLE001 - never return into the server's code
                    log.exception("predictor process failed")
                    code = 1
                finally:
                    os._exit(code)
            child.close()
            self.workers.append(_Worker(pid, parent))

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    def start(self, loop: asyncio.AbstractEventLoop, on_broken: Callable[[str], None]) -> None:
        """One reader thread per worker: a blocking receive, the answer handed to the loop."""
        import threading

        self._on_broken = on_broken
        for w in self.workers:
            threading.Thread(target=self._read, args=(loop, w), name=f"mlcloud-worker-{w.pid}",
                             daemon=True).start()

    def _read(self, loop: asyncio.AbstractEventLoop, w: _Worker) -> None:
        while True:
            try:
                data = w.conn.recv_bytes()
            except (EOFError, OSError) as e:
                if not self._closing:
                    loop.call_soon_threadsafe(self._died, w, e)
                return
            loop.call_soon_threadsafe(self._deliver, w, data)

    def _deliver(self, w: _Worker, data: bytes) -> None:
        future, w.future = w.future, None
        if future is not None and not future.done():
            future.set_result(pickle.loads(data))

    def _died(self, w: _Worker, cause: BaseException) -> None:
        try:
            _, status = os.waitpid(w.pid, os.WNOHANG)
        except ChildProcessError:
            status = 0
        how = (f"signal {os.WTERMSIG(status)}" if status and os.WIFSIGNALED(status)
               else f"exit status {os.WEXITSTATUS(status)}" if status else "closed its pipe")
        self.broken = f"predictor process {w.pid} died ({how})"
        log.error("%s; the server stops so that it is restarted", self.broken)
        if w.future is not None and not w.future.done():
            w.future.set_exception(RuntimeError(self.broken))
        self._on_broken(self.broken)

    async def run(self, slot: int, bodies: list[bytes]) -> list[Result]:
        w = self.workers[slot]
        if self.broken:
            raise RuntimeError(self.broken)
        w.future = asyncio.get_running_loop().create_future()
        w.conn.send_bytes(pickle.dumps(bodies, protocol=pickle.HIGHEST_PROTOCOL))
        return await w.future

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers (the server has answered what was in flight) and reap them."""
        import time

        self._closing = True
        for w in self.workers:
            try:
                os.kill(w.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for w in self.workers:
            while True:
                try:
                    done, _ = os.waitpid(w.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(w.pid, signal.SIGKILL)
                    deadline = float("inf")
                time.sleep(0.01)
            try:
                w.conn.close()
            except OSError:
                pass
