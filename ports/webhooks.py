"""Webhook subscriptions and delivery: the outbox's events, signed and sent at least once, with retries."""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as dt
import math
import threading
from collections.abc import Sequence
from typing import Final

import attrs

from core import webhooks
from core.errors import NotFound
from core.idempotency import check_key, fingerprint
from core.records import Subscription
from core.tenants import OPERATOR, SHOWN_ONCE, Scope, owner_for
from core.webhooks import (
    DEFAULT_ROUND,
    DEFAULT_SCHEDULE,
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    LOG_PAGE,
    Attempt,
    DeliveryOutcome,
    DeliveryReport,
)
from ports.driven import Delivery, RecordedAttempt, SendResult, UnitOfWork
from ports.use_cases import UseCases, list_visible, require, require_visible, transaction

#: Seconds a run's deliveries stay taken beyond one attempt's deadline: the run starts no attempt after the first
#: half of it, so that its last attempt ends and the run is recorded before the lease does.
LEASE_MARGIN: Final = 5.0
#: How many deliveries of one endpoint are taken, sent and recorded together (a run).
RUN: Final = 64
#: Seconds between two reads of the queue while every attempt under way is slow: how long an event made meanwhile
#: may wait for a free worker.
QUEUE_POLL: Final = 0.1


class Webhooks(UseCases):
    @transaction
    def subscribe(
        self,
        uow: UnitOfWork,
        url: str,
        topics: Sequence[str],
        secret: str,
        allow_private_network: bool = False,
        scope: Scope = OPERATOR,
        clients_reach_private: bool = False,
        idempotency_key: str | None = None,
    ) -> Subscription:
        """Subscribe ``url`` to the events of ``topics`` committed from now on (a client's subscription receives
        only the events about what the client may see). Asked again with the same idempotency key and request: the
        subscription made first, its secret ``SHOWN_ONCE``."""
        key = check_key(idempotency_key)
        request = fingerprint("webhook subscription", url, tuple(topics), allow_private_network)
        made = self.done_before(uow, key, request, uow.subscriptions, "webhook subscription")
        if made is not None:
            return attrs.evolve(made, secret=SHOWN_ONCE)
        now = self.now()
        decision = webhooks.subscribe(
            url, topics, secret, allow_private_network, subscription_id=self.new_id(), now=now,
            owner=owner_for(scope), clients_reach_private=clients_reach_private,
        )  # fmt: skip
        self.ports.url_guard(url, allow_private_network)
        self.remember(uow, key, request, decision.result.id)
        return self.save(uow, decision, now)

    @transaction
    def unsubscribe(self, uow: UnitOfWork, subscription_id: str, scope: Scope = OPERATOR) -> Subscription:
        subscription = require_visible(uow.subscriptions, subscription_id, "webhook subscription", scope)
        return self.save(uow, webhooks.unsubscribe(subscription), self.now())

    @transaction
    def get(self, uow: UnitOfWork, subscription_id: str, scope: Scope = OPERATOR) -> Subscription:
        return require_visible(uow.subscriptions, subscription_id, "webhook subscription", scope)

    @transaction
    def all(self, uow: UnitOfWork, scope: Scope = OPERATOR) -> list[Subscription]:
        return list_visible(uow.subscriptions, scope)

    @transaction
    def enable(self, uow: UnitOfWork, subscription_id: str) -> Subscription:
        """Deliver again to a disabled subscription (what was dropped meanwhile: see ``redeliver``)."""
        subscription = require(uow.subscriptions, subscription_id, "webhook subscription")
        return self.save(uow, webhooks.enable(subscription), self.now())

    @transaction
    def rotate_secret(self, uow: UnitOfWork, subscription_id: str, secret: str) -> Subscription:
        """Sign with ``secret`` from now on."""
        subscription = require(uow.subscriptions, subscription_id, "webhook subscription")
        return self.save(uow, webhooks.rotate_secret(subscription, secret), self.now())

    def redeliver(self, event_id: str, subscription_id: str | None = None) -> tuple[Subscription, ...]:
        """Send a committed event again — to one subscription, or every active one of its topic — as a new
        delivery due now, with a fresh retry schedule."""
        found = self.ports.deliveries.event(event_id)
        if found is None:
            raise NotFound(f"event {event_id} does not exist", {"id": event_id})
        sequence, event = found
        targets = webhooks.redelivery(event, self.all(), subscription_id)
        self.ports.deliveries.redeliver(sequence, [s.id for s in targets], self.now())
        return targets

    def deliver_due(
        self,
        limit: int = DEFAULT_ROUND,
        timeout: float = DEFAULT_TIMEOUT,
        schedule: tuple[float, ...] = DEFAULT_SCHEDULE,
        until: dt.datetime | None = None,
        workers: int = DEFAULT_WORKERS,
        stop: threading.Event | None = None,
    ) -> DeliveryReport:
        """Attempt due deliveries (at most ``limit`` in this call); each attempt is logged and decides the next:
        delivered, retried after a backoff, or the subscription disabled.

        Each endpoint (subscription) is a lane: its deliveries one after another, oldest first, one at a time;
        up to ``workers`` lanes are served at once, so a slow endpoint holds one worker, never the others. A lane
        sends a run of up to ``RUN`` deliveries at a time, taken in one transaction (leased together for one
        attempt's deadline and ``LEASE_MARGIN``), sent over one connection, starting no attempt after half the
        margin, and recorded in one transaction. A run stops at the first attempt that fails, and its lane rests for the rest
        of the call (the run's other deliveries are due again at once: a dead endpoint costs one deadline per
        call, not one per delivery). While attempts are under way and a worker is free, the queue is read again,
        so deliveries that fell due meanwhile — a healthy endpoint's new events — start at once instead of waiting
        for the slowest attempt. Every attempt has one deadline of ``timeout`` seconds (less if ``until`` comes
        sooner). No attempt starts after ``until``, and no run once ``stop`` is set; the attempts under way are
        finished and recorded, the others stay due for the next call."""
        queue = self.ports.deliveries
        lanes: dict[str, collections.deque[Delivery]] = {}
        # (event sequence, subscription): in a lane, or tried in this call
        queued: set[tuple[int, str]] = set()
        resting: set[str] = set()
        claimed = 0
        report = DeliveryReport()

        def read_queue() -> None:
            """Add what is due now to the lanes."""
            for due in queue.due(self.now(), limit):
                found = (due.sequence, due.subscription.id)
                if found not in queued and due.subscription.id not in resting:
                    queued.add(found)
                    lanes.setdefault(due.subscription.id, collections.deque()).append(due)

        with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool:
            running: dict[concurrent.futures.Future[list[SendResult]], list[Delivery]] = {}
            busy: set[str] = set()

            def start_lanes() -> None:
                nonlocal claimed
                for subscription_id, lane in lanes.items():
                    if not lane or subscription_id in busy:
                        continue
                    if len(running) >= workers or claimed >= limit or (stop is not None and stop.is_set()):
                        return
                    within = math.inf if until is None else (until - self.now()).total_seconds()
                    budget = min(timeout, within)
                    if budget <= 0:
                        return
                    run = [lane.popleft() for _ in range(min(RUN, len(lane), limit - claimed))]
                    # fewer than asked: a subscription was disabled meanwhile, or another worker took some
                    taken = queue.claim([d.key for d in run], self.now(), budget + LEASE_MARGIN)
                    if taken:
                        claimed += len(taken)
                        busy.add(subscription_id)
                        window = min(within, LEASE_MARGIN / 2)
                        running[pool.submit(self._send, taken, budget, window, stop)] = taken

            read_queue()
            start_lanes()
            while running:
                done, _ = concurrent.futures.wait(
                    running, timeout=QUEUE_POLL, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    run = running.pop(future)
                    busy.discard(run[0].subscription.id)
                    outcomes = self._record(run, future.result(), schedule)
                    for outcome in outcomes:
                        report = report.counting(outcome)
                    if any(outcome is not DeliveryOutcome.DELIVERED for outcome in outcomes):
                        resting.add(run[0].subscription.id)
                        lanes.pop(run[0].subscription.id, None)
                startable = any(lane for s, lane in lanes.items() if s not in busy)
                if len(running) < workers and claimed < limit and not startable:
                    read_queue()
                start_lanes()
        return report

    def _send(
        self, run: list[Delivery], budget: float, within: float, stop: threading.Event | None
    ) -> list[SendResult]:
        """A run's attempts; whatever goes wrong is the first attempt's error, never the worker's."""
        try:
            return self.ports.sender.send(run, budget, within, stop)
        except Exception as error:  # a bug in a sender must not stop the deliveries of the others
            return [SendResult(None, f"{type(error).__name__}: {error}", 0)]

    def _record(
        self, run: list[Delivery], results: list[SendResult], schedule: tuple[float, ...]
    ) -> list[DeliveryOutcome]:
        """Record a run's attempts in one transaction (those it did not try are due again); their outcomes."""
        recorded = []
        for delivery, result in zip(run, results, strict=False):
            attempt, decision = webhooks.judge_attempt(
                delivery.event.id,
                delivery.subscription.id,
                delivery.attempts,
                result.status_code,
                result.error,
                result.duration_ms,
                at=self.now(),
                schedule=schedule,
                jitter=self.ports.jitter.draw(),
                retry_after=result.retry_after,
            )
            recorded.append(RecordedAttempt(delivery.key, attempt, decision))
        untried = [delivery.key for delivery in run[len(results) :]]
        self.ports.deliveries.record(recorded, untried, self.now())
        return [r.decision.outcome for r in recorded]

    def due_count(self, limit: int = 1) -> int:
        """How many deliveries are due now (up to ``limit``)."""
        return len(self.ports.deliveries.due(self.now(), limit))

    def log(self, limit: int = LOG_PAGE) -> list[Attempt]:
        return self.ports.deliveries.log(limit)
