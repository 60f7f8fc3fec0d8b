"""allot's pure domain core: value objects and pure functions, no I/O, no clock, no ids.

The entry points, re-exported here::

    from decimal import Decimal
    from core import apportion
    apportion(Decimal("100.00"), [Decimal(1), Decimal(1), Decimal(1)], Decimal("0.01"))

- ``apportion`` / ``apportion_units``: the one rounding kernel; ``apportion_fair``: the same, fair over time
  (a ``FairHistory`` carried from one allocation to the next);
- ``plan(PortfolioRequest)``: a portfolio order (BUY, SELL, LIQUIDATION, REBALANCING) as an ``OrderPlan``;
- ``allocate(BlockRequest)``: a block trade allocated with an ``AllocationKey``;
- ``apply_fill``: a fill booked on an ``AccountBook``, with its position event.
"""

from core.apportion import apportion, apportion_units, split_off_step
from core.blocks import BlockAllocation, BlockRequest, allocate
from core.errors import AllotError, IllegalTransition, ValidationError
from core.fairness import NO_HISTORY, FairHistory, apportion_fair
from core.fills import AccountBook, Fill, apply_fill
from core.keys import AllocationKey, Participant
from core.portfolio import OrderPlan, PortfolioRequest, plan

__all__ = [
    "NO_HISTORY",
    "AccountBook",
    "AllocationKey",
    "AllotError",
    "BlockAllocation",
    "BlockRequest",
    "FairHistory",
    "Fill",
    "IllegalTransition",
    "OrderPlan",
    "Participant",
    "PortfolioRequest",
    "ValidationError",
    "allocate",
    "apply_fill",
    "apportion",
    "apportion_fair",
    "apportion_units",
    "plan",
    "split_off_step",
]
