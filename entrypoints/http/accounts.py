"""Accounts, instruments with their prices, model portfolios, and the health check.

Each handler calls one use case with the caller's scope and answers its result; every rule is the core's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Final

import attrs

from core.accounts import AccountView
from core.fairness import Fairness
from core.instruments import AllocationLine, Instrument
from core.numbers import ZERO
from core.records import Account, ModelPortfolio
from entrypoints.http.openapi import (
    CURRENCY,
    ID,
    NON_NEGATIVE,
    POSITIVE,
    TEXT,
    Rules,
    checked,
    in_minor_units,
)
from entrypoints.http.routing import PAGING, Access, Call, Operation, Reply, as_json, page

# -- request bodies ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NewAccount:
    """An account to open for the caller: its id (a new one if none), currency and opening cash."""

    currency: str = attrs.field(metadata=checked(CURRENCY))
    account_id: str | None = attrs.field(default=None, metadata=checked(ID))
    cash: Decimal = attrs.field(default=ZERO, metadata=checked(NON_NEGATIVE))
    openapi_rules: ClassVar[Rules] = (in_minor_units("currency", "cash"),)


@attrs.frozen
class Amount:
    """A deposit or a withdrawal, in the account's currency."""

    amount: Decimal = attrs.field(metadata=checked(POSITIVE))


@attrs.frozen
class Price:
    price: Decimal = attrs.field(metadata=checked(POSITIVE))


@attrs.frozen
class NewModel:
    """A model portfolio: a unique name and instrument weights summing to 1."""

    name: str = attrs.field(metadata=checked(TEXT))
    lines: tuple[AllocationLine, ...]
    #: ROTATE: the cents left over when a buy is split over the weights rotate over the instruments.
    fairness: Fairness = Fairness.PLAIN
    #: At least one line (that the weights sum to 1 and name each instrument once, no schema can say).
    openapi_rules: ClassVar[Rules] = ({"properties": {"lines": {"minItems": 1}}},)


# -- handlers -----------------------------------------------------------------------------------------------------


def health(call: Call) -> Reply:
    return Reply(200, {"status": "ok"})


def open_account(call: Call) -> Reply:
    body: NewAccount = call.body
    account = call.app.accounts.open(
        body.currency,
        body.cash,
        account_id=body.account_id,
        scope=call.scope,
        idempotency_key=call.idempotency_key,
    )
    return Reply(201, as_json(call.app.accounts.show(account.id, scope=call.scope)))


def list_accounts(call: Call) -> Reply:
    return page(call, call.app.accounts.all(scope=call.scope), key=lambda a: a.id)


def show_account(call: Call) -> Reply:
    return Reply(200, as_json(call.app.accounts.show(call.path["account_id"], scope=call.scope)))


def deposit(call: Call) -> Reply:
    body: Amount = call.body
    account = call.app.accounts.deposit(
        call.path["account_id"], body.amount, scope=call.scope, idempotency_key=call.idempotency_key
    )
    return Reply(201, as_json(call.app.accounts.show(account.id, scope=call.scope)))


def withdraw(call: Call) -> Reply:
    body: Amount = call.body
    account = call.app.accounts.withdraw(
        call.path["account_id"], body.amount, scope=call.scope, idempotency_key=call.idempotency_key
    )
    return Reply(201, as_json(call.app.accounts.show(account.id, scope=call.scope)))


def add_instrument(call: Call) -> Reply:
    return Reply(201, as_json(call.app.instruments.add(call.body, idempotency_key=call.idempotency_key)))


def list_instruments(call: Call) -> Reply:
    return page(call, call.app.instruments.all(), key=lambda i: i.instrument_id)


def show_instrument(call: Call) -> Reply:
    return Reply(200, as_json(call.app.instruments.get(call.path["instrument_id"])))


def set_price(call: Call) -> Reply:
    body: Price = call.body
    return Reply(200, as_json(call.app.instruments.set_price(call.path["instrument_id"], body.price)))


def create_model(call: Call) -> Reply:
    body: NewModel = call.body
    model = call.app.allocations.create(
        body.name, body.lines, scope=call.scope, fairness=body.fairness, idempotency_key=call.idempotency_key
    )
    return Reply(201, as_json(model))


def list_models(call: Call) -> Reply:
    return page(call, call.app.allocations.all(scope=call.scope), key=lambda m: m.id)


def show_model(call: Call) -> Reply:
    return Reply(200, as_json(call.app.allocations.get(call.path["model_id"], scope=call.scope)))


OPERATIONS: Final = (
    Operation("GET", "/healthz", health, "Whether the server is up (no key needed)", "health",
              access=Access.PUBLIC, response={"type": "object", "properties": {"status": {"const": "ok"}}}),
    Operation("POST", "/accounts", open_account, "Open an account for the caller's user", "accounts",
              body=NewAccount, response=AccountView, status=201, creates_work=True, errors=(409, 422),
              renamed={"account id": "account_id"}),
    Operation("GET", "/accounts", list_accounts, "The caller's accounts", "accounts",
              response=Account, paged=True, query=PAGING),
    Operation("GET", "/accounts/{account_id}", show_account,
              "An account with its cash, positions, value (NAV) and available cash", "accounts",
              response=AccountView, errors=(404,)),
    Operation("POST", "/accounts/{account_id}/deposits", deposit, "Pay cash into an account", "accounts",
              body=Amount, response=AccountView, status=201, creates_work=True, errors=(404, 422)),
    Operation("POST", "/accounts/{account_id}/withdrawals", withdraw,
              "Pay cash out of an account (at most its available cash)", "accounts",
              body=Amount, response=AccountView, status=201, creates_work=True, errors=(404, 422)),
    Operation("POST", "/instruments", add_instrument, "Add an instrument (admin key)", "instruments",
              body=Instrument, response=Instrument, status=201, access=Access.ADMIN, creates_work=True,
              errors=(403, 409)),
    Operation("GET", "/instruments", list_instruments, "Every instrument", "instruments",
              response=Instrument, paged=True, query=PAGING),
    Operation("GET", "/instruments/{instrument_id}", show_instrument, "An instrument with its price", "instruments",
              response=Instrument, errors=(404,)),
    Operation("PUT", "/instruments/{instrument_id}/price", set_price, "Set an instrument's price (admin key)",
              "instruments", body=Price, response=Instrument, access=Access.ADMIN, errors=(403, 404)),
    Operation("POST", "/models", create_model, "Create a model portfolio for the caller's client", "models",
              body=NewModel, response=ModelPortfolio, status=201, creates_work=True, errors=(404, 409),
              renamed={"allocation": "lines"}),
    Operation("GET", "/models", list_models, "The model portfolios the caller may use", "models",
              response=ModelPortfolio, paged=True, query=PAGING),
    Operation("GET", "/models/{model_id}", show_model, "A model portfolio, by id or by name", "models",
              response=ModelPortfolio, errors=(404,)),
)  # fmt: skip
