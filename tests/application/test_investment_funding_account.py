"""Additional funding from another funding account: it must be the investor's own, open and in the investment's
currency, as at the start (a USD account funding a EUR investment would leave the funding pending for ever)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import NotFound, ValidationError
from core.instruments import AllocationLine, AssetType, Instrument
from core.investments import InvestmentState, Suitability
from core.tenants import Scope
from ports.application import Application
from tests.application.conftest import World

D = Decimal
ALICE, BOB = Scope.of_user("acme", "alice"), Scope.of_user("acme", "bob")


def ready_investment(app: Application) -> str:
    app.instruments.add(Instrument("AAA", D("10.00")))
    app.leaders.create("growth", "Growth", "EUR", [AllocationLine("AAA", D("1"))],
                       minimum_investment=D("500.00"), required_suitability=Suitability.LOW)  # fmt: skip
    app.accounts.open("EUR", D("5000.00"), account_id="alice-eur", scope=ALICE)
    app.accounts.open("USD", D("5000.00"), account_id="alice-usd", scope=ALICE)
    app.accounts.open("EUR", D("5000.00"), account_id="bob-eur", scope=BOB)
    app.followers.set(None, suitability=Suitability.LOW, terms_accepted=True, asset_types=[AssetType.STOCK],
                      scope=ALICE)  # fmt: skip
    investment = app.investments.start("growth", "alice-eur", D("1000.00"), scope=ALICE)
    for _ in range(20):
        app.market.run()
    assert app.investments.get(investment.id).state is InvestmentState.READY
    return investment.id


def test_additional_funding_from_an_account_in_another_currency_is_refused(world: World) -> None:
    app = world.open()
    investment_id = ready_investment(app)
    with pytest.raises(ValidationError):
        app.investments.fund(investment_id, D("100.00"), "alice-usd", scope=ALICE)
    assert app.investments.get(investment_id).pending_funding == 0


def test_additional_funding_from_another_users_account_answers_as_if_it_did_not_exist(world: World) -> None:
    app = world.open()
    investment_id = ready_investment(app)
    with pytest.raises(NotFound):
        app.investments.fund(investment_id, D("100.00"), "bob-eur", scope=Scope.of_client("acme"))
    assert app.investments.get(investment_id).pending_funding == 0
