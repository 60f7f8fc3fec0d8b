"""A client generated from the served document with openapi-python-client: the generator reads it without a
warning, every operation comes out as a typed function (a model for every body and every answer), and the client
drives a portfolio order and a block order on a real server, as a platform would with it.

The generated package is written to a temporary folder and imported from there; it is not allot's code, so its
modules are reached through ``importlib`` and held as ``Any`` here.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import subprocess
import sys
import typing
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import httpx
import pytest

from adapters.serialization import spelled
from core.instruments import Side
from core.lifecycle import KeyStatus
from core.numbers import MINOR_UNITS
from tests.http.conftest import Api, running_api

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "allot_client"
#: The generator takes a few seconds; past this it is taken to hang.
DEADLINE = 120.0
#: No post-hooks: the generated code is not formatted (that would run ruff over it, which these tests do not need;
#: without ruff on the PATH the generator would warn "ruff is not in PATH").
CONFIG = f"project_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\npost_hooks: []\n"
#: The generator runs with the system's default PATH, as on a fresh machine where ruff is only in the venv: what
#: it prints must not depend on what else this machine has installed.
GENERATOR_ENV = {**os.environ, "PATH": os.defpath}


@attrs.frozen
class Generated:
    document: dict[str, Any]
    output: str  #: what the generator printed, stdout and stderr
    folder: Path  #: the folder that holds the package


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """The package generated from the document a sandbox server serves, importable for the module's tests."""
    folder = tmp_path_factory.mktemp("generated")
    with running_api(folder / "serve.db") as api:
        served = api.anonymous.get("/openapi.json")
    assert served.status_code == 200
    (folder / "openapi.json").write_text(served.text, encoding="utf-8")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    done = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(folder / "openapi.json"), "--output-path",
         str(folder / PACKAGE), "--meta", "none", "--config", str(folder / "config.yaml")],
        capture_output=True, text=True, timeout=DEADLINE, check=False, cwd=folder, env=GENERATOR_ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(folder))
    try:
        yield Generated(served.json(), done.stdout + done.stderr, folder)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def generated_module(name: str) -> Any:
    """A module of the generated package (``api.portfolio_orders.post_portfolios_orders``, ``models``)."""
    module: ModuleType = importlib.import_module(f"{PACKAGE}.{name}")
    return module


def operation_module(tag: str, operation_id: str) -> Any:
    folder = re.sub(r"\W+", "_", tag.lower())  # the generator's module of a tag: block_trading
    return generated_module(f"api.{folder}.{operation_id}")


@pytest.fixture
def clients(api: Api) -> Iterator[Callable[[httpx.Client], Any]]:
    """The generated client for the key of one of ``api``'s clients (``clients(api.alice)``), closed after the
    test."""
    with contextlib.ExitStack() as opened:

        def client_for(keyed: httpx.Client) -> Any:
            key = str(keyed.headers["Authorization"]).removeprefix("Bearer ")
            made = generated_module("client").AuthenticatedClient(base_url=api.base_url, token=key)
            return opened.enter_context(made)

        yield client_for


def new_key() -> str:
    return str(uuid.uuid4())


# -- the generator and what it makes ---------------------------------------------------------------------------


def test_the_generator_reads_the_served_document_without_a_single_warning(generated: Generated) -> None:
    printed = [line for line in generated.output.splitlines() if line.strip()]
    assert printed == [f"Generating {generated.folder / PACKAGE}"], generated.output
    assert re.search(r"(?i)warning|duplicate|unable|cannot|skip", generated.output) is None


def test_the_component_names_and_titles_are_unique_and_one_and_the_same(generated: Generated) -> None:
    schemas = generated.document["components"]["schemas"]
    titles = [schema["title"] for schema in schemas.values()]
    assert titles == list(schemas)
    assert len(set(titles)) == len(titles)


def test_every_operation_is_a_typed_function_with_a_model_for_its_body_and_its_answer(
    generated: Generated,
) -> None:
    models = generated_module("models")
    operations = [(method, path, op) for path, methods in generated.document["paths"].items()
                  for method, op in methods.items()]  # fmt: skip
    assert len(operations) > 40
    for method, path, op in operations:
        module = operation_module(op["tags"][0], op["operationId"])
        hints = typing.get_type_hints(module.sync, vars(module))
        answers = set(typing.get_args(hints["return"])) - {type(None)}
        success = next(status for status in op["responses"] if status.startswith("2"))
        content = op["responses"][success]["content"]
        if "application/json" in content:
            typed = [kind for kind in answers if attrs.has(kind) and kind is not models.Error]
            assert len(typed) == 1, f"{method.upper()} {path} answers {answers}"
        else:
            assert str in answers, f"{method.upper()} {path} answers {answers}"
        if "requestBody" in op:
            body = hints["body"]
            assert attrs.has(body), f"{method.upper()} {path} takes {body}"
            assert getattr(models, body.__name__) is body
            named = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            assert body.__name__ == named
        else:
            assert "body" not in hints, f"{method.upper()} {path}"


def test_every_enumeration_of_a_request_is_a_generated_enum_of_the_documents_spellings(
    generated: Generated,
) -> None:
    models = generated_module("models")

    def values(kind: Any) -> set[str]:
        return {member.value for member in kind}

    assert (
        values(models.NewBlockOrderPascalInputBuySell) == {spelled(side) for side in Side} == {"Buy", "Sell"}
    )
    assert values(models.NewAllocationKeyPascalInputAllocationUnitType) == {"Percentage", "Unit"}
    assert values(models.GetTradeV1AllocationkeysStatusesItem) == {spelled(status) for status in KeyStatus}
    assert values(models.Currency) == set(MINOR_UNITS)


# -- driving the API with it ---------------------------------------------------------------------------------


def test_a_portfolio_order_is_placed_and_read_back_through_the_generated_client(
    generated: Generated, api: Api, clients: Callable[[httpx.Client], Any]
) -> None:
    models = generated_module("models")
    alice = clients(api.alice)
    opened = operation_module("accounts", "post_accounts").sync(
        client=alice, idempotency_key=new_key(),
        body=models.NewAccountInput(currency=models.Currency.EUR, account_id="ACC-7", cash="1000.00"),
    )  # fmt: skip
    assert isinstance(opened, models.AccountView)
    assert (opened.account.id, opened.account.currency, opened.available_cash) == ("ACC-7", "EUR", "1000.00")
    lines = [models.AllocationLineInput(instrument_id="AAA", weight="0.6"),
             models.AllocationLineInput(instrument_id="BBB", weight="0.4")]  # fmt: skip
    model = operation_module("models", "post_models").sync(
        client=alice, idempotency_key=new_key(), body=models.NewModelInput(name="sixty-forty", lines=lines)
    )
    assert isinstance(model, models.ModelPortfolio)

    order = models.NewPortfolioOrderInput(
        account_id="ACC-7", type_=models.NewPortfolioOrderInputTypeType0.BUY, cash_amount="400.00",
        allocation_id=model.id, client_reference="rebalance-7",
    )  # fmt: skip
    placed = operation_module("portfolio orders", "post_portfolios_orders").sync(
        client=alice, body=order, idempotency_key=new_key()
    )
    assert isinstance(placed, models.PortfolioOrder)
    read = operation_module("portfolio orders", "get_portfolios_orders_portfolio_order_id").sync(
        placed.id, client=alice
    )
    assert isinstance(read, models.PortfolioOrder)
    assert read.id == read.portfolio_order_id == placed.id
    assert (read.account_id, read.type_.value, read.currency, read.cash_amount) == (
        "ACC-7",
        "BUY",
        "EUR",
        "400.00",
    )
    assert (read.allocation_id, read.client_reference, read.state.value) == (
        model.id,
        "rebalance-7",
        "SUBMITTED",
    )
    assert read.user_id == "alice"
    assert len(read.orders) == 2
    assert read.explanation is generated_module("types").UNSET  # not asked for


def test_a_block_order_is_placed_with_a_desks_key_and_allocated_through_the_generated_client(
    generated: Generated, api: Api, clients: Callable[[httpx.Client], Any]
) -> None:
    models = generated_module("models")
    trade = "block trading"
    for user, account_id in [(api.alice, "BLOCK-1"), (api.alice, "FIRST-1"), (api.bob, "SECOND-1")]:
        opened = operation_module("accounts", "post_accounts").sync(
            client=clients(user), idempotency_key=new_key(),
            body=models.NewAccountInput(currency=models.Currency.EUR, account_id=account_id, cash="100000.00"),
        )  # fmt: skip
        assert isinstance(opened, models.AccountView)
    desk = clients(api.desk)  # keys over several users' accounts are the client's
    participants = [
        models.ParticipatingAccountInfoPascalInput(account_key="FIRST-1", unit_value=1, accept_remainder_amount=True,
                                                   priority=1),
        models.ParticipatingAccountInfoPascalInput(account_key="SECOND-1", unit_value=2),
    ]  # fmt: skip
    key = models.NewAllocationKeyPascalInput(
        allocation_key_name="one-two", allocation_unit_type=models.NewAllocationKeyPascalInputAllocationUnitType.UNIT,
        margin_handling=models.NewAllocationKeyPascalInputMarginHandling.REJECT, owner_account_key="BLOCK-1",
        participating_accounts_info=participants,
    )  # fmt: skip
    created = operation_module(trade, "post_trade_v1_allocationkeys").sync(
        client=desk, body=key, idempotency_key=new_key()
    )
    assert isinstance(created, models.AllocationKeyCreatedPascal)

    block = models.NewBlockOrderPascalInput(
        allocation_key_id=created.allocation_key_id, uic="AAA", buy_sell=models.NewBlockOrderPascalInputBuySell.BUY,
        amount=301, order_type=models.NewBlockOrderPascalInputOrderType.MARKET,
    )  # fmt: skip
    placed = operation_module(trade, "post_trade_v2_orders").sync(
        client=desk, body=block, idempotency_key=new_key()
    )
    assert isinstance(placed, models.OrderPlacedPascal)
    run = operation_module("sandbox", "post_sandbox_market_run").sync(client=clients(api.admin))
    assert isinstance(run, models.MarketRun)
    assert [(b.id, b.outcome.value) for b in run.blocks] == [(placed.order_id, "FILLED")]

    allocated = []
    for account_id in ("FIRST-1", "SECOND-1"):
        page = operation_module(trade, "get_port_v1_orders").sync(client=desk, account_key=account_id)
        assert isinstance(page, models.GetPortV1OrdersResponse200)
        assert page.next_ is None
        allocated += [(o.account_key, o.instrument_id, o.buy_sell.value, o.status.value, o.correlation_key,
                       o.filled_amount) for o in page.data]  # fmt: skip
    assert allocated == [
        ("FIRST-1", "AAA", "Buy", "Filled", placed.order_id, "101"),
        ("SECOND-1", "AAA", "Buy", "Filled", placed.order_id, "200"),
    ]


def test_the_event_feed_comes_back_as_typed_events_through_the_generated_client(
    generated: Generated, api: Api, clients: Callable[[httpx.Client], Any]
) -> None:
    models = generated_module("models")
    alice = clients(api.alice)
    operation_module("accounts", "post_accounts").sync(
        client=alice, idempotency_key=new_key(),
        body=models.NewAccountInput(currency=models.Currency.EUR, account_id="ACC-8", cash="5.00"),
    )  # fmt: skip
    page = operation_module("webhooks", "get_events").sync(client=alice)
    assert isinstance(page, models.FeedPage)
    assert page.data, "opening an account with cash is an event"
    assert all(isinstance(event, models.FeedEvent) for event in page.data)
    assert page.next_ == page.data[-1].sequence
    assert all(event.type_.split(".")[0] in {"ACCOUNT", "FUNDING"} for event in page.data), [
        event.type_ for event in page.data
    ]
