"""Output: results to stdout (plain text or --json), notes, warnings and progress to stderr."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterator


def out(text: str) -> None:
    print(text, flush=True)


def as_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str), flush=True)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


def error(text: str) -> None:
    print(f"error: {text}", file=sys.stderr, flush=True)


@contextmanager
def transfer(label: str, total: int, threshold: int = 4 * 1024 * 1024) -> Iterator[Any]:
    """A progress bar for files above a few MB; None (no bar) below."""
    if total < threshold:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done, _total: bar.update(task, completed=done)


@contextmanager
def waiting(label: str) -> Iterator[Any]:
    """A spinner with the time waited, for long-running operations."""
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(label) as status:
        yield lambda waited: status.update(f"{label} ({waited:.0f} s)")
