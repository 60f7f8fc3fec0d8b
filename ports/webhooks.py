"""Webhook subscriptions and delivery: the outbox's events, signed and sent at least once, with retries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from core import webhooks
from core.records import Subscription
from core.webhooks import DEFAULT_ROUND, DEFAULT_SCHEDULE, DEFAULT_TIMEOUT, LOG_PAGE, Attempt, DeliveryReport
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, require, transaction


class Webhooks(UseCases):
    @transaction
    def subscribe(
        self,
        uow: UnitOfWork,
        url: str,
        topics: Sequence[str],
        secret: str,
        allow_private_network: bool = False,
    ) -> Subscription:
        """Subscribe ``url`` to the events of ``topics`` committed from now on."""
        now = self.now()
        decision = webhooks.subscribe(
            url, topics, secret, allow_private_network, subscription_id=self.new_id(), now=now
        )
        self.ports.url_guard(url, allow_private_network)
        return self.save(uow, decision, now)

    @transaction
    def unsubscribe(self, uow: UnitOfWork, subscription_id: str) -> Subscription:
        subscription = require(uow.subscriptions, subscription_id, "webhook subscription")
        return self.save(uow, webhooks.unsubscribe(subscription), self.now())

    @transaction
    def get(self, uow: UnitOfWork, subscription_id: str) -> Subscription:
        return require(uow.subscriptions, subscription_id, "webhook subscription")

    @transaction
    def all(self, uow: UnitOfWork) -> list[Subscription]:
        return uow.subscriptions.list()

    def deliver_due(
        self,
        limit: int = DEFAULT_ROUND,
        timeout: float = DEFAULT_TIMEOUT,
        schedule: tuple[float, ...] = DEFAULT_SCHEDULE,
        until: dt.datetime | None = None,
    ) -> DeliveryReport:
        """One attempt for each due delivery (at most ``limit``, stopping at ``until``); each attempt is logged
        and decides the next: delivered, retried after a backoff, or the subscription disabled."""
        queue = self.ports.deliveries
        report = DeliveryReport()
        for due in queue.due(self.now(), limit):
            if until is not None and self.now() >= until:
                break
            delivery = queue.pending(due)
            if delivery is None:
                continue  # its subscription was disabled earlier in this round
            result = self.ports.sender.send(delivery, timeout)
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
            )
            queue.record_attempt(delivery, attempt, decision)
            report = report.counting(decision.outcome)
        return report

    def due_count(self, limit: int = 1) -> int:
        """How many deliveries are due now (up to ``limit``)."""
        return len(self.ports.deliveries.due(self.now(), limit))

    def log(self, limit: int = LOG_PAGE) -> list[Attempt]:
        return self.ports.deliveries.log(limit)
