"""ROTATE keys and model portfolios on every storage adapter: the history is stored, moved on, announced, and
explained; PLAIN keys and models behave as before."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import attrs
import pytest

from core.errors import NotFound
from core.explain import Reason
from core.fairness import Fairness
from core.instruments import AllocationLine, Instrument, Side
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.portfolio import OrderType
from core.records import StoredKey, subject_of
from core.webhooks import EventQuery
from ports.application import Application
from tests.application.conftest import World

ACCOUNTS = ("P1", "P2", "P3")


@pytest.fixture
def app(world: World) -> Application:
    service = world.open()
    for account_id in ("BLOCK", "ERROR", *ACCOUNTS):
        service.accounts.open("EUR", Decimal("100000.00"), account_id=account_id)
    service.instruments.add(Instrument("FX", Decimal("1.00"), Decimal("1")))
    return service


def thirds(fairness: Fairness) -> AllocationKey:
    """Three equal accounts that all accept remainders, priorities 1, 2, 3: a block of 10 leaves 1 over."""
    return AllocationKey(
        "thirds", UnitType.UNIT, MarginHandling.REJECT, False, "BLOCK", "ERROR",
        tuple(Participant(a, Decimal(1), True, rank) for rank, a in enumerate(ACCOUNTS, start=1)),
        fairness=fairness,
    )  # fmt: skip


def received(app: Application, block_ids: list[str]) -> dict[str, int]:
    """What each account got over the blocks, from the orders the blocks placed."""
    totals = dict.fromkeys(ACCOUNTS, 0)
    for block_id in block_ids:
        for order in app.blocks.show(block_id).orders:
            totals[order.account_id] += int(order.quantity or 0)
    return totals


def test_a_rotate_key_gives_the_remainder_to_each_account_in_turn(app: Application) -> None:
    key = app.keys.create(thirds(Fairness.ROTATE))
    blocks = [app.blocks.place(key.id, "FX", Side.BUY, Decimal(10)).id for _ in range(6)]
    # 6 blocks of 10: each account's exact share is 20, and rotation hands the 6 leftover steps out 2 each.
    assert received(app, blocks) == dict.fromkeys(ACCOUNTS, 20)


def test_a_plain_key_gives_the_remainder_to_the_first_priority_every_time(app: Application) -> None:
    key = app.keys.create(thirds(Fairness.PLAIN))
    blocks = [app.blocks.place(key.id, "FX", Side.BUY, Decimal(10)).id for _ in range(6)]
    assert received(app, blocks) == {"P1": 18 + 6, "P2": 18, "P3": 18}


def test_the_rotate_keys_history_is_stored_with_the_key_and_shown_as_lead_or_lag(app: Application) -> None:
    key = app.keys.create(thirds(Fairness.ROTATE))
    for _ in range(4):
        app.blocks.place(key.id, "FX", Side.BUY, Decimal(10))
    report = app.keys.fairness(key.id)
    assert report.rounds == 4
    # The remainder of each block is one step; after four, each account's exact share of the remainders is 4/3.
    assert [(a.account_id, a.quota) for a in report.accounts] == [(a, Fraction(4, 3)) for a in ACCOUNTS]
    assert sum(a.allocated for a in report.accounts) == 4
    assert all(abs(a.lead) < 1 and a.lead == a.allocated - a.quota for a in report.accounts)


def test_each_block_of_a_rotate_key_announces_the_keys_new_history(app: Application) -> None:
    key = app.keys.create(thirds(Fairness.ROTATE))
    for _ in range(3):
        app.blocks.place(key.id, "FX", Side.BUY, Decimal(10))
    events = [e for _, e in app.queries.events(EventQuery(limit=1000)) if subject_of(e.object) == key.id]
    rotated = [e for e in events if e.type == "ALLOCATION_KEY.ROTATED"]
    keys = [e.object for e in rotated if isinstance(e.object, StoredKey) and e.object.history is not None]
    assert [k.history.rounds for k in keys if k.history is not None] == [1, 2, 3]
    assert [e.type for e in events].count("ALLOCATION_KEY.ACTIVE") == 1  # created, not re-announced per block


def test_a_plain_key_keeps_no_history_and_announces_no_rotation(app: Application) -> None:
    key = app.keys.create(thirds(Fairness.PLAIN))
    app.blocks.place(key.id, "FX", Side.BUY, Decimal(10))
    assert app.keys.get(key.id).history is None
    assert app.keys.fairness(key.id).accounts == ()
    types = [e.type for _, e in app.queries.events(EventQuery(limit=1000))]
    assert "ALLOCATION_KEY.ROTATED" not in types


def test_replacing_a_rotate_key_carries_its_history_over(app: Application) -> None:
    key = app.keys.create(thirds(Fairness.ROTATE))
    app.blocks.place(key.id, "FX", Side.BUY, Decimal(10))
    before = app.keys.get(key.id).history
    replacement = app.keys.replace(key.id, attrs.evolve(thirds(Fairness.ROTATE), name="thirds again"))
    assert app.keys.get(replacement.id).history == before


def test_a_block_records_how_the_key_split_it(app: Application) -> None:
    key = app.keys.create(thirds(Fairness.PLAIN))
    block = app.blocks.place(key.id, "FX", Side.BUY, Decimal(10))
    explanation = app.blocks.get(block.id).explanation
    assert explanation is not None
    base, remainder = explanation.stages
    assert [line.share for line in base.lines] == [Decimal(3)] * 3
    # Equal remainders: the tie goes to priority 1, and the others lose it by priority.
    assert [(line.recipient, line.won_step, line.reason) for line in remainder.lines] == [
        ("P1", True, Reason.TIE_BY_PRIORITY),
        ("P2", False, Reason.TIE_BY_PRIORITY),
        ("P3", False, Reason.TIE_BY_PRIORITY),
    ]


def test_the_fairness_of_a_key_that_does_not_exist_is_not_found(app: Application) -> None:
    with pytest.raises(NotFound):
        app.keys.fairness("nope")


def test_a_rotate_model_rotates_the_leftover_cent_over_its_instruments(app: Application) -> None:
    for instrument_id in ("A", "B", "C"):
        app.instruments.add(Instrument(instrument_id, Decimal("1.00"), Decimal("0.000001")))
    weights = [Decimal("0.333333"), Decimal("0.333333"), Decimal("0.333334")]
    model = app.allocations.create(
        "thirds",
        [AllocationLine(i, w) for i, w in zip("ABC", weights, strict=True)],
        fairness=Fairness.ROTATE,
    )
    got = dict.fromkeys("ABC", Decimal(0))
    for _ in range(3):
        order = app.portfolio_orders.place("P1", OrderType.BUY, Decimal("0.10"), model.id)
        for ref in app.portfolio_orders.get(order.id).orders:
            child = app.queries.order(ref.id)
            got[child.instrument_id] += child.cash_amount or Decimal(0)
    # 3 × 0.10 = 0.30 over three near-equal weights: each instrument's exact share is about 0.10, and rotation
    # hands each of the three leftover cents to a different instrument.
    assert got == dict.fromkeys("ABC", Decimal("0.10"))
    assert app.allocations.get(model.id).history is not None


def test_a_remainder_step_cut_by_margin_is_not_counted_as_given(app: Application) -> None:
    key = app.keys.create(attrs.evolve(thirds(Fairness.ROTATE), margin_handling=MarginHandling.REDUCE))
    app.accounts.withdraw("P1", Decimal("99999.00"))  # P1 can pay for one unit at 1.00, no more
    app.blocks.place(key.id, "FX", Side.BUY, Decimal(4))  # base 1 each; the one step left goes to P1 (rank 1)
    standings = {a.account_id: (a.quota, a.allocated) for a in app.keys.fairness(key.id).accounts}
    # The margin cut P1 back to its base: it kept no remainder step, and stays due one.
    assert standings == {"P1": (Fraction(1, 3), 0), "P2": (Fraction(1, 3), 0), "P3": (Fraction(1, 3), 0)}
