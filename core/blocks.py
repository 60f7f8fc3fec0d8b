"""Block trades allocated to accounts by an allocation key.

``allocate(request)`` is the one entry point: targets from the key (base + remainder, or the error
account), margin handling, partial fills (``PRO_RATA`` or ``PRIORITY``) and average-price booking.
Every split goes through ``core.apportion``; the result always sums to what was filled.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

import attrs

from core.apportion import apportion, apportion_units, decimals_of_shares, units_of_claims
from core.errors import MarginRejected, ValidationError
from core.explain import Explanation, Line, Method, Reason, Stage, split
from core.fairness import FairHistory, Fairness
from core.keys import AllocationKey, MarginHandling, UnitType
from core.numbers import (
    ONE,
    ZERO,
    check_decimal,
    check_decimals,
    check_positive,
    currency_exponent,
    decimal_input,
    divide_to,
    exact,
    fmt,
    from_units,
    half_even_to,
    minor_unit,
    optional_decimal_input,
    to_units,
    whole_steps,
)
from core.validators import (
    NamedEnum,
    each,
    each_is,
    optional_currency,
    optional_non_negative,
    optional_positive,
    positive,
)

#: Average prices are booked with this many decimals (half-even).
AVERAGE_PRICE_DECIMALS = 8


class PartialFillPolicy(NamedEnum):
    PRO_RATA = "PRO_RATA"  #: a partial fill is apportioned over the targets
    PRIORITY = "PRIORITY"  #: participants are filled one after another in priority order


#: How a partial fill is shared unless the block says otherwise.
DEFAULT_POLICY = PartialFillPolicy.PRO_RATA


@attrs.frozen
class Execution:
    """One execution of the block in the market."""

    quantity: Decimal = attrs.field(converter=decimal_input, validator=positive)
    price: Decimal = attrs.field(converter=decimal_input, validator=positive)


@attrs.frozen
class BlockRequest:
    """A block of ``amount`` to allocate with ``key``; optionally partly filled, margin-checked and priced."""

    key: AllocationKey = attrs.field(validator=attrs.validators.instance_of(AllocationKey))
    amount: Decimal = attrs.field(converter=decimal_input, validator=positive)
    quantity_step: Decimal = attrs.field(default=ONE, converter=decimal_input, validator=positive)
    filled: Decimal | None = attrs.field(
        default=None, converter=optional_decimal_input, validator=optional_non_negative
    )
    partial_fill_policy: PartialFillPolicy = attrs.field(default=DEFAULT_POLICY, converter=PartialFillPolicy)
    price: Decimal | None = attrs.field(
        default=None, converter=optional_decimal_input, validator=optional_positive
    )
    contract_size: Decimal = attrs.field(default=ONE, converter=decimal_input, validator=positive)
    #: Each participant's buying power (Decimals or ints), for the key's margin handling.
    buying_power: Mapping[str, Decimal] | None = None
    fills: tuple[Execution, ...] = attrs.field(default=(), validator=each(Execution))
    #: The currency of the traded values; needed with ``fills``.
    currency: str | None = attrs.field(default=None, validator=optional_currency)
    #: A ROTATE key's fairness history before this block (none: the key's first block).
    history: FairHistory | None = None


@attrs.frozen
class AccountAllocation:
    """What one account receives. Price fields are set when executions were given."""

    account_id: str
    quantity: Decimal
    average_price: Decimal | None = None
    traded_value: Decimal | None = None


@attrs.frozen
class BlockAllocation:
    """The outcome: ``allocations`` (key order) and ``error_account`` together hold ``allocated_amount``.

    ``block_amount`` is the block after margin reduction; ``remainder`` what the key's base left over.
    """

    block_amount: Decimal
    allocated_amount: Decimal
    remainder: Decimal
    allocations: tuple[AccountAllocation, ...]
    error_account: AccountAllocation
    #: How every share came about (``allocate(..., explain=True)``).
    explanation: Explanation | None = None
    #: A ROTATE key's fairness history after this block (from the request's ``history``).
    history: FairHistory | None = None


@attrs.frozen
class Targets:
    """Each participant's share of a full fill (the key's base plus its part of the remainder), and the error
    account's part."""

    participants: tuple[Decimal, ...]
    error: Decimal
    remainder: Decimal

    @property
    def total(self) -> Decimal:
        return sum(self.participants, self.error)


@attrs.frozen
class KeySplit:
    """How a key splits a block: the targets, a ROTATE key's history after it, and the explanation's stages."""

    targets: Targets
    history: FairHistory | None
    stages: tuple[Stage, ...]
    #: Per participant (key order): the steps of the key's remainder it was given.
    extra: tuple[int, ...] = ()


@exact
def targets(key: AllocationKey, amount: Decimal, step: Decimal) -> Targets:
    """Base by unit type, then the remainder to remainder accounts (by unit value) or to the error account (a
    ROTATE key as if it had never been used: ``split_by_key`` takes its history)."""
    return split_by_key(key, amount, step).targets


@exact
def split_by_key(
    key: AllocationKey, amount: Decimal, step: Decimal, history: FairHistory | None = None
) -> KeySplit:
    """Base by unit type, then the remainder to the remainder accounts in proportion to their unit values (a
    ROTATE key rotates it with its ``history``) or, when none accepts remainders, to the error account."""
    units = to_units(amount, step, "amount")
    if history is not None and key.fairness is not Fairness.ROTATE:
        raise ValidationError("a history is only used with a ROTATE key", {"field": "history"})
    unit_values = [p.unit_value for p in key.participants]
    if key.unit_type is UnitType.PERCENTAGE:
        quotas = [Fraction(units) * Fraction(v) / 100 for v in unit_values]
        base_units = [int(units * v // 100) for v in unit_values]
    else:
        steps = [
            to_units(v, step, f"unit_value of {p.account_id}")
            for v, p in zip(unit_values, key.participants, strict=True)
        ]
        whole = sum(steps)  # once: summed for each participant, a key of n participants took n² additions
        quotas = [Fraction(units * u, whole) for u in steps]
        times = units // whole
        base_units = [times * u for u in steps]
    base = Stage(
        name="base of the key",
        method=Method.BASE,
        total=amount,
        step=step,
        lines=tuple(
            Line(
                recipient=p.account_id, claim=p.unit_value, quota=q * Fraction(step),
                floor=from_units(b, step), remainder=(q - b) * Fraction(step), share=from_units(b, step),
                reason=Reason.BASE, rank=p.priority,
            )
            for p, q, b in zip(key.participants, quotas, base_units, strict=True)
        ),
        note=(
            "percentages of the block, rounded down to the step" if key.unit_type is UnitType.PERCENTAGE
            else "the largest whole multiple of the unit values that fits in the block"
        ),
    )  # fmt: skip
    remainder = units - sum(base_units)
    takers = [i for i, p in enumerate(key.participants) if p.accept_remainder]
    after: FairHistory | None = history
    extra_units = [0] * len(key.participants)
    if takers and remainder:
        shared_out = split(
            "remainder of the key over the accounts that accept remainders", from_units(remainder, step),
            [unit_values[i] for i in takers], step, [key.participants[i].account_id for i in takers],
            ranks=[key.participants[i].rank for i in takers], fairness=key.fairness, history=history,
        )  # fmt: skip
        shared, after = shared_out.stage, shared_out.history
        for i, share in zip(takers, shared_out.shares, strict=True):
            extra_units[i] = to_units(share, step)
            base_units[i] += extra_units[i]
        error = 0
    else:
        error = remainder
        shared = Stage(
            name="remainder of the key to the error account",
            method=Method.BASE,
            total=from_units(remainder, step),
            step=step,
            lines=(
                Line(
                    recipient=key.error_account_id, claim=ZERO, quota=Fraction(remainder) * Fraction(step),
                    floor=from_units(remainder, step), remainder=Fraction(0), share=from_units(remainder, step),
                    reason=Reason.ERROR_ACCOUNT,
                ),
            ),
            note="no participant accepts remainders" if not takers else "",
        )  # fmt: skip
    wanted = Targets(
        tuple(from_units(b, step) for b in base_units), from_units(error, step), from_units(remainder, step)
    )
    return KeySplit(wanted, after, (base, shared), tuple(extra_units))


def after_margin(key: AllocationKey, split: KeySplit, reduced: Targets, step: Decimal) -> KeySplit:
    """The split as the margin cut left it: a ROTATE key's history counts only the remainder steps each account
    kept. One cut below its base and remainder share gives back the steps it could not take; its exact share stays,
    so it is behind, and due before the others next time."""
    if split.history is None:
        return attrs.evolve(split, targets=reduced)
    lost = {
        p.account_id: min(extra, to_units(wanted - cut, step))
        for p, wanted, cut, extra in zip(
            key.participants, split.targets.participants, reduced.participants, split.extra, strict=True
        )
        if extra and cut < wanted
    }
    return attrs.evolve(split, targets=reduced, history=split.history.given_back(lost))


def margin_stage(key: AllocationKey, wanted: Targets, reduced: Targets, step: Decimal) -> Stage | None:
    """The participants the key's margin handling cut, or ``None`` if it cut nobody."""
    lines = tuple(
        Line(
            recipient=p.account_id, claim=before, quota=Fraction(before), floor=after, remainder=Fraction(0),
            share=after, reason=Reason.MARGIN_REDUCED, rank=p.priority,
        )
        for p, before, after in zip(key.participants, wanted.participants, reduced.participants, strict=True)
        if after != before
    )  # fmt: skip
    if not lines:
        return None
    return Stage(
        name="margin: cut to what the buying power pays for",
        method=Method.MARGIN,
        total=reduced.total,
        step=step,
        lines=lines,
        note="claim: the target before the cut; share: what the buying power pays for, rounded down to the step",
    )


@exact
def apply_margin(
    key: AllocationKey,
    wanted: Targets,
    buying_power: Mapping[str, Decimal],
    price: Decimal,
    contract_size: Decimal,
    step: Decimal,
) -> Targets:
    """REJECT: refuse the block if any participant cannot pay for its target. REDUCE: cut those to what they
    can pay for (rounded down to the step); the block shrinks by as much."""
    missing = [p.account_id for p in key.participants if p.account_id not in buying_power]
    if missing:
        raise ValidationError(
            "buying_power must name every participant", {"field": "buying_power", "missing": missing}
        )
    unit_cost = price * contract_size
    short: list[dict[str, str]] = []
    reduced: list[Decimal] = []
    for participant, target in zip(key.participants, wanted.participants, strict=True):
        power = check_decimal(
            buying_power[participant.account_id], f"buying_power of {participant.account_id}"
        )
        affordable = from_units(whole_steps(max(power, ZERO), unit_cost * step), step)
        if target * unit_cost > power:
            short.append(
                {
                    "account_id": participant.account_id,
                    "required": fmt(target * unit_cost),
                    "buying_power": fmt(power),
                    "affordable_quantity": fmt(affordable),
                }
            )
        reduced.append(min(target, affordable))
    if short and key.margin_handling is MarginHandling.REJECT:
        raise MarginRejected(
            f"{len(short)} participant(s) cannot pay for their share; the key rejects the whole block",
            {"accounts": short},
        )
    return attrs.evolve(wanted, participants=tuple(reduced))


@exact
def distribute_fill(
    key: AllocationKey, wanted: Targets, filled: Decimal, step: Decimal, policy: PartialFillPolicy
) -> tuple[tuple[Decimal, ...], Decimal]:
    """Share a fill of ``filled`` over the targets; returns (participants' quantities, error account's)."""
    policy = PartialFillPolicy(policy)
    target_sum = sum(wanted.participants, ZERO)
    if filled >= target_sum:
        return wanted.participants, filled - target_sum
    if policy is PartialFillPolicy.PRO_RATA:
        ranks = [p.rank for p in key.participants]
        if target_sum == 0:
            return wanted.participants, filled
        return tuple(apportion(filled, wanted.participants, step, ranks=ranks)), ZERO
    order = sorted(range(len(key.participants)), key=lambda i: key.participants[i].rank)
    quantities = [ZERO] * len(key.participants)
    left = filled
    for i in order:
        quantities[i] = min(left, wanted.participants[i])
        left -= quantities[i]
    return tuple(quantities), ZERO


@exact
def allocate_fill(
    key: AllocationKey,
    wanted: Targets,
    allocated: Sequence[Decimal],
    fill: Decimal,
    step: Decimal,
    policy: PartialFillPolicy,
) -> tuple[Decimal, ...]:
    """Share one fill of a block over what each participant (key order) and the error account (last) have
    still to receive, so that successive fills add up to the allocation of their sum's targets."""
    policy = PartialFillPolicy(policy)
    remaining = Targets(
        tuple(t - a for t, a in zip(wanted.participants, allocated, strict=False)),
        wanted.error - allocated[-1] if allocated else wanted.error,
        wanted.remainder,
    )
    quantities, error = distribute_fill(key, remaining, fill, step, policy)
    return (*quantities, error)


@exact
def book_prices(
    quantities: Sequence[Decimal], executions: Sequence[Execution], contract_size: Decimal, currency: str
) -> list[tuple[Decimal, Decimal]]:
    """Average price and traded value per quantity: every account books at the block's volume-weighted
    average price, and the block's traded value (half-even to the minor unit) is apportioned by quantity,
    so the accounts' values sum exactly to the block's."""
    if not executions:
        raise ValidationError("prices are booked from executions: give at least one", {"field": "executions"})
    executions = each_is(Execution, executions, "executions")
    quantities, scale = check_decimals(quantities, "quantities", non_negative=True)
    contract_size = check_positive(contract_size, "contract_size")
    executed = sum((e.quantity for e in executions), ZERO)
    if sum(quantities, ZERO) != executed:
        raise ValidationError(
            f"the quantities booked sum to {fmt(sum(quantities, ZERO))}, not to the {fmt(executed)} executed",
            {"field": "quantities", "booked": fmt(sum(quantities, ZERO)), "executed": fmt(executed)},
        )
    notional = _notional(executions)
    block_value = _valued(notional, contract_size, currency)
    step = Decimal(1).scaleb(-AVERAGE_PRICE_DECIMALS)
    average = divide_to(notional, executed, step, decimal.ROUND_HALF_EVEN)
    # The kernel's integer entry over the quantities as checked above (``apportion`` would check them again).
    unit = minor_unit(currency)
    values = apportion_units(to_units(block_value, unit, "total"), units_of_claims(quantities, scale))
    return [(average, value) for value in decimals_of_shares(values, unit)]


@exact
def allocate(request: BlockRequest, *, explain: bool = False) -> BlockAllocation:
    """Allocate a block trade with an allocation key: targets, margin handling, the fill, prices; with
    ``explain``, how every share came about."""
    key, step = request.key, request.quantity_step
    to_units(request.amount, step, "amount")
    split = split_by_key(key, request.amount, step, request.history)
    wanted = split.targets
    stages = list(split.stages)
    if request.buying_power is not None:
        if request.price is None:
            raise ValidationError("margin handling needs an estimated price", {"field": "price"})
        reduced = apply_margin(key, wanted, request.buying_power, request.price, request.contract_size, step)
        stages.extend(stage for stage in [margin_stage(key, wanted, reduced, step)] if stage is not None)
        split = after_margin(key, split, reduced, step)
        wanted = reduced
    block_amount = wanted.total
    filled = _filled(request, block_amount)
    quantities, error = distribute_fill(key, wanted, filled, step, request.partial_fill_policy)
    if explain:
        stages.extend(fill_stages(key, wanted, filled, step, request.partial_fill_policy, quantities))

    everyone = [*quantities, error]
    priced: list[tuple[Decimal | None, Decimal | None]] = [(None, None)] * len(everyone)
    accounts = [p.account_id for p in key.participants] + [key.error_account_id]
    if request.fills:
        if request.currency is None:
            raise ValidationError(
                "give the currency of the traded values with the fills", {"field": "currency"}
            )
        currency_exponent(request.currency)
        priced = list(book_prices(everyone, request.fills, request.contract_size, request.currency))
        if explain:
            stages.append(
                value_stage(accounts, everyone, request.fills, request.contract_size, request.currency)
            )
    booked = [
        AccountAllocation(account, quantity, price, value)
        for account, quantity, (price, value) in zip(accounts, everyone, priced, strict=True)
    ]
    return BlockAllocation(
        block_amount,
        filled,
        wanted.remainder,
        tuple(booked[:-1]),
        booked[-1],
        Explanation(tuple(stages)) if explain else None,
        split.history if key.fairness is Fairness.ROTATE else None,
    )


def fill_stages(
    key: AllocationKey,
    wanted: Targets,
    filled: Decimal,
    step: Decimal,
    policy: PartialFillPolicy,
    quantities: Sequence[Decimal],
) -> list[Stage]:
    """How a fill of ``filled`` was shared over the targets into ``quantities`` (``distribute_fill``'s); nothing
    to explain when it filled them all."""
    target_sum = sum(wanted.participants, ZERO)
    if filled >= target_sum or target_sum == 0:
        return []
    ids = [p.account_id for p in key.participants]
    if PartialFillPolicy(policy) is PartialFillPolicy.PRO_RATA:
        pro_rata = split(
            "partial fill, pro rata to the targets", filled, wanted.participants, step, ids,
            ranks=[p.rank for p in key.participants],
        )  # fmt: skip
        return [pro_rata.stage]
    lines = tuple(
        Line(
            recipient=p.account_id, claim=target, quota=Fraction(target), floor=quantity, remainder=Fraction(0),
            share=quantity, reason=Reason.PRIORITY_ORDER, rank=p.priority,
        )
        for p, target, quantity in zip(key.participants, wanted.participants, quantities, strict=True)
    )  # fmt: skip
    return [
        Stage(
            name="partial fill, in priority order", method=Method.PRIORITY, total=filled, step=step, lines=lines,
            note="claim: the target; each is filled in full before the next, by priority, until the fill runs out",
        )
    ]  # fmt: skip


def value_stage(
    accounts: Sequence[str],
    quantities: Sequence[Decimal],
    executions: Sequence[Execution],
    contract_size: Decimal,
    currency: str,
) -> Stage:
    """How the block's traded value was shared over the quantities (``book_prices``: largest remainder, in minor
    units)."""
    value = traded_value(executions, contract_size, currency)
    return split(
        f"traded value ({currency}) over the quantities", value, quantities, minor_unit(currency), accounts
    ).stage


def traded_value(executions: Sequence[Execution], contract_size: Decimal, currency: str) -> Decimal:
    """A block's traded value: its executions' notional × the contract size, half-even to the minor unit."""
    return _valued(_notional(executions), contract_size, currency)


def _notional(executions: Sequence[Execution]) -> Decimal:
    return sum((e.quantity * e.price for e in executions), ZERO)


def _valued(notional: Decimal, contract_size: Decimal, currency: str) -> Decimal:
    return half_even_to(notional * contract_size, minor_unit(currency))


def _filled(request: BlockRequest, block_amount: Decimal) -> Decimal:
    executed = sum((e.quantity for e in request.fills), ZERO) if request.fills else None
    filled = request.filled if request.filled is not None else executed
    if filled is None:
        return block_amount
    if executed is not None and executed != filled:
        raise ValidationError(
            f"the fills add up to {fmt(executed)}, not the filled amount {fmt(filled)}",
            {"field": "fills", "executed": fmt(executed), "filled": fmt(filled)},
        )
    to_units(filled, request.quantity_step, "filled")
    if filled > block_amount:
        raise ValidationError(
            f"filled {fmt(filled)} is more than the block of {fmt(block_amount)}",
            {"field": "filled", "filled": fmt(filled), "block_amount": fmt(block_amount)},
        )
    return filled
