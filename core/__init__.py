"""allot's pure domain core: value objects and pure functions, no I/O, no clock, no ids.

Import what you need from here::

    from decimal import Decimal
    from core import apportion
    apportion(Decimal("100.00"), [Decimal(1), Decimal(1), Decimal(1)], Decimal("0.01"))
"""

from core.apportion import apportion, apportion_units, split_off_step
from core.errors import AllotError, IllegalTransition, ValidationError

__all__ = [
    "AllotError",
    "IllegalTransition",
    "ValidationError",
    "apportion",
    "apportion_units",
    "split_off_step",
]
