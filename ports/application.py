"""allot's application: every use case, one attribute per aggregate, over the driven ports it was built with.

Build it with the composition root (``entrypoints.bootstrap``); then, for instance::

    app.accounts.open("EUR", Decimal("1000.00"), account_id="ACC-1")
    app.portfolio_orders.place("ACC-1", OrderType.BUY, Decimal("100.00"), "growth")
    app.market.run()
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from ports.accounts import Accounts
from ports.allocations import Allocations
from ports.api_keys import ApiKeys
from ports.blocks import Blocks
from ports.followers import Followers
from ports.instruments import Instruments
from ports.investments import Investments
from ports.keys import Keys
from ports.leaders import Leaders
from ports.ledger import Ledger
from ports.liquidations import Liquidations
from ports.market import Market
from ports.portfolio_orders import PortfolioOrders
from ports.queries import Queries
from ports.requests import Requests
from ports.use_cases import DrivenPorts
from ports.webhooks import Webhooks


class Application:
    """The use cases of every aggregate. ``close()`` (or leaving a ``with`` block) releases what the
    composition root opened for it, such as a database connection."""

    def __init__(self, ports: DrivenPorts, on_close: Callable[[], None] = lambda: None) -> None:
        self.ports = ports
        self.accounts = Accounts(ports)
        self.instruments = Instruments(ports)
        self.allocations = Allocations(ports)
        self.portfolio_orders = PortfolioOrders(ports)
        self.liquidations = Liquidations(ports)
        self.keys = Keys(ports)
        self.blocks = Blocks(ports)
        self.market = Market(ports)
        self.webhooks = Webhooks(ports)
        self.queries = Queries(ports)
        self.ledger = Ledger(ports)
        self.api_keys = ApiKeys(ports)
        self.requests = Requests(ports)
        self.leaders = Leaders(ports)
        self.followers = Followers(ports)
        self.investments = Investments(ports)
        self._on_close = on_close

    def close(self) -> None:
        self._on_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
