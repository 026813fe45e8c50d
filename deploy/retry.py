"""Retry policy, as data: which calls retry, for how long, and the timeout of each call.

Writes retry only when they are idempotent: every object write carries a generation precondition
and every registry resource a client-chosen id, so a retried write cannot duplicate anything.
Against the local emulators a dead server must fail fast rather than be retried for minutes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    timeout: float  # seconds for one HTTP call
    deadline: float  # seconds for all retries of one call
    operation_timeout: float  # seconds to wait for a long-running operation


LOCAL = Policy(timeout=60.0, deadline=5.0, operation_timeout=300.0)
CLOUD = Policy(timeout=120.0, deadline=120.0, operation_timeout=1800.0)


def storage_retry(policy: Policy):
    """The google-cloud-storage retry object for a policy (transient errors only)."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_deadline(policy.deadline)
