"""Tenants as pure rules: who sees what, who owns what is made, API keys and idempotent requests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import idempotency, tenants
from core.accounts import open_account
from core.decisions import Changes
from core.errors import (
    AlreadyExists,
    Forbidden,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    LastAdminKey,
    NotFound,
    Unauthorized,
    ValidationError,
)
from core.fills import CostSchedule
from core.keys import error_account_of, error_account_partners
from core.records import Account, RequestState, StoredResponse, User
from core.tenants import OPERATOR, Owner, Scope

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
ALICE = Scope.of_user("acme", "alice")
ACME = Scope.of_client("acme")
CAROL = Scope.of_user("globex", "carol")

names = st.sampled_from(["acme", "globex", None])
users = st.sampled_from(["alice", "bob", "carol", None])


def account(client: str | None, user: str | None, account_id: str = "ACC-1") -> Account:
    return Account(account_id, "EUR", {"EUR": Decimal("0.00")}, client_id=client, user_id=user)


@given(client=names, user=users)
def test_the_operator_sees_every_record(client: str | None, user: str | None) -> None:
    assert tenants.admits(OPERATOR, client, user)


@given(scope_client=st.sampled_from(["acme", "globex"]), scope_user=users, client=names, user=users)
def test_a_caller_sees_a_record_exactly_when_it_is_its_clients_and_a_user_only_its_own(
    scope_client: str, scope_user: str | None, client: str | None, user: str | None
) -> None:
    expected = client == scope_client and (scope_user is None or user == scope_user)
    assert tenants.admits(Scope(scope_client, scope_user), client, user) is expected


def test_another_tenants_record_is_not_found_exactly_like_a_missing_one() -> None:
    with pytest.raises(NotFound) as hidden:
        tenants.visible(CAROL, account("acme", "alice"), "account", "ACC-1")
    with pytest.raises(NotFound) as missing:
        tenants.visible(CAROL, None, "account", "ACC-1")
    assert (hidden.value.message, hidden.value.details) == (missing.value.message, missing.value.details)
    assert (hidden.value.message, hidden.value.details) == (
        "account ACC-1 does not exist",
        {"kind": "account", "id": "ACC-1"},
    )


def test_a_user_sees_its_own_accounts_only_and_its_client_sees_every_users() -> None:
    records = [account("acme", "alice", "A"), account("acme", "bob", "B"), account("acme", None, "C"),
               account("globex", "carol", "D"), account(None, None, "E")]  # fmt: skip
    assert [a.id for a in tenants.only_visible(ALICE, records)] == ["A"]
    assert [a.id for a in tenants.only_visible(ACME, records)] == ["A", "B", "C"]
    assert [a.id for a in tenants.only_visible(OPERATOR, records)] == ["A", "B", "C", "D", "E"]


def test_what_a_caller_makes_belongs_to_its_user_or_to_its_client_when_shared() -> None:
    assert tenants.owner_for(ALICE, user_owned=True) == Owner("acme", "alice")
    assert tenants.owner_for(ALICE, user_owned=False) == Owner("acme", None)
    assert tenants.owner_for(OPERATOR, user_owned=True) == tenants.NOBODY


def test_reference_data_of_the_operator_is_shared_with_every_client() -> None:
    assert tenants.shares(ALICE, None)
    assert tenants.shares(ALICE, "acme")
    assert not tenants.shares(ALICE, "globex")


def test_a_clients_key_may_name_any_of_its_users_accounts_but_no_one_elses() -> None:
    tenants.within(Owner("acme"), account("acme", "bob"))
    tenants.within(tenants.NOBODY, account("globex", "carol"))
    with pytest.raises(NotFound):
        tenants.within(Owner("acme"), account("globex", "carol"))


def test_a_users_key_may_name_only_that_users_accounts() -> None:
    tenants.within(Owner("acme", "alice"), account("acme", "alice"))
    for other in (account("acme", "bob"), account("acme", None), account("globex", "carol")):
        with pytest.raises(NotFound):
            tenants.within(Owner("acme", "alice"), other)


def test_a_record_is_usable_only_when_the_caller_sees_it_and_everything_it_names() -> None:
    own, bobs = account("acme", "alice", "A"), account("acme", "bob", "B")
    assert tenants.reaches(ALICE, own, [own])
    assert not tenants.reaches(ALICE, own, [own, bobs])
    assert not tenants.reaches(ALICE, own, [None])  # a named record that is missing is one nobody sees
    assert tenants.reaches(ACME, own, [own, bobs])
    assert tenants.reaches(OPERATOR, own, [None])


def test_a_record_naming_what_the_caller_may_not_see_is_not_found_exactly_like_a_missing_one() -> None:
    own, bobs = account("acme", "alice", "A"), account("acme", "bob", "B")
    with pytest.raises(NotFound) as hidden:
        tenants.visible(ALICE, own, "allocation key", "K-1", [bobs])
    with pytest.raises(NotFound) as missing:
        tenants.visible(ALICE, None, "allocation key", "K-1")
    assert (hidden.value.message, hidden.value.details) == (missing.value.message, missing.value.details)
    assert "B" not in hidden.value.message
    listed = tenants.only_visible(ALICE, [own, own], lambda record: [bobs] if record is own else [])
    assert listed == []


def test_only_the_operator_manages_reference_data() -> None:
    tenants.require_operator(OPERATOR)
    with pytest.raises(Forbidden):
        tenants.require_operator(ACME)


# -- API keys ---------------------------------------------------------------------------------------------------


def issue(client: str | None = "acme", user: str | None = "alice", admin: bool = False) -> tenants.Issued:
    decision = tenants.issue_key(
        client, user, admin, None, None, key_id="0123456789abcdef", secret="s" * 43, now=NOW
    )
    return decision.result


def test_a_key_is_given_once_in_full_and_stored_only_as_a_digest() -> None:
    issued = issue()
    assert issued.text == "allot_0123456789abcdef_" + "s" * 43
    assert "s" * 43 not in repr(issued.key)
    assert tenants.authenticate(issued.key, "s" * 43) == ALICE


def test_a_wrong_secret_a_revoked_key_and_an_unknown_key_are_all_unauthorized() -> None:
    key = issue().key
    revoked = tenants.revoke_key(key, [], NOW).result
    for stored, secret in ((key, "t" * 43), (revoked, "s" * 43), (None, "s" * 43)):
        with pytest.raises(Unauthorized):
            tenants.authenticate(stored, secret)


@pytest.mark.parametrize(
    "text", ["", "allot_", "Bearer x", "allot_0123456789ABCDEF_" + "s" * 43, "allot_0123_" + "s" * 43]
)
def test_a_malformed_key_is_unauthorized(text: str) -> None:
    with pytest.raises(Unauthorized):
        tenants.parse_key(text)


def test_the_first_key_of_a_client_and_user_registers_them() -> None:
    decision = tenants.issue_key(
        "acme", "alice", False, None, None, key_id="0123456789abcdef", secret="s" * 43, now=NOW
    )
    assert [type(r).__name__ for r in decision.changes.created] == ["Client", "User", "ApiKey"]


def test_a_user_belongs_to_one_client() -> None:
    alice_of_acme = User(id="alice", client_id="acme", created_at=NOW)
    with pytest.raises(AlreadyExists):
        tenants.issue_key("globex", "alice", False, None, alice_of_acme,
                          key_id="0123456789abcdef", secret="s" * 43, now=NOW)  # fmt: skip
    again = tenants.issue_key("acme", "alice", False, None, alice_of_acme,
                              key_id="0123456789abcdef", secret="s" * 43, now=NOW)  # fmt: skip
    assert [type(r).__name__ for r in again.changes.created] == ["Client", "ApiKey"]


@pytest.mark.parametrize(
    ("client", "user", "admin"), [(None, None, False), ("acme", None, True), (None, "alice", False)]
)
def test_a_key_needs_a_client_or_is_an_admin_key_alone(
    client: str | None, user: str | None, admin: bool
) -> None:
    with pytest.raises(ValidationError):
        issue(client, user, admin)


def test_an_admin_key_acts_as_the_operator_and_a_client_key_for_the_whole_client() -> None:
    assert tenants.scope_of(issue(None, None, admin=True).key) == OPERATOR
    assert tenants.scope_of(issue("acme", None).key) == ACME


# -- idempotent requests --------------------------------------------------------------------------------------------


def test_a_request_without_an_idempotency_key_is_refused() -> None:
    for missing in (None, "", "  "):
        with pytest.raises(IdempotencyKeyMissing):
            idempotency.request_key(ALICE, missing)


def test_idempotency_keys_are_scoped_per_client_and_within_it_per_user() -> None:
    assert idempotency.request_key(ALICE, "k") != idempotency.request_key(Scope.of_user("acme", "bob"), "k")
    assert idempotency.request_key(ALICE, "k") != idempotency.request_key(ACME, "k")
    assert idempotency.request_key(ALICE, "k") != idempotency.request_key(CAROL, "k")
    assert idempotency.request_key(OPERATOR, "k") != idempotency.request_key(ALICE, "k")


def kept(
    status: int, code: str | None = None, existing: StoredResponse | None = None
) -> StoredResponse | None:
    """What ``keep_answer`` keeps of an answer to request "fp" with key "k"."""
    return idempotency.keep_answer(existing, "k", "fp", status, code, '{"id": "P1"}', NOW).result


def test_a_new_key_has_no_answer_kept_so_its_request_is_run() -> None:
    assert idempotency.kept_answer(None, "k", "fp") is None


def test_a_kept_answer_is_sent_again_for_the_same_request_and_another_request_is_refused() -> None:
    done = kept(202)
    assert done is not None
    assert (done.state, done.status, done.body) == (RequestState.DONE, 202, '{"id": "P1"}')
    assert idempotency.kept_answer(done, "k", "fp") == done
    with pytest.raises(IdempotencyKeyReused):
        idempotency.kept_answer(done, "k", "other")


@pytest.mark.parametrize("status", [500, 502, 503, 400])
def test_a_server_failure_or_bad_input_is_not_kept_so_the_same_key_may_carry_the_request_again(
    status: int,
) -> None:
    assert kept(status) is None
    assert idempotency.keep_answer(None, "k", "fp", status, None, "{}", NOW).changes == Changes.of()


def test_a_refusal_by_a_rule_is_kept_and_answered_again() -> None:
    refused = kept(422, "INSUFFICIENT_FUNDS")
    assert idempotency.kept_answer(refused, "k", "fp") == refused
    with pytest.raises(IdempotencyKeyReused):
        idempotency.kept_answer(refused, "k", "other")


def test_the_refusal_of_a_key_used_for_another_request_is_not_kept_as_that_keys_answer() -> None:
    assert kept(422, IdempotencyKeyReused.code) is None


def test_the_first_kept_answer_stays_the_keys_when_two_requests_with_it_finish() -> None:
    first = kept(202)
    second = idempotency.keep_answer(first, "k", "fp", 201, None, '{"id": "P2"}', NOW)
    assert (second.result, second.changes) == (None, Changes.of())


@pytest.mark.parametrize("left", [RequestState.IN_FLIGHT, RequestState.ABANDONED])
def test_a_request_an_earlier_release_left_running_or_abandoned_is_run_and_its_answer_kept(
    left: RequestState,
) -> None:
    earlier = StoredResponse(id="k", fingerprint="other", state=left, started_at=NOW)
    assert idempotency.kept_answer(earlier, "k", "fp") is None
    replaced = idempotency.keep_answer(earlier, "k", "fp", 202, None, "{}", NOW)
    assert replaced.changes.updated == (replaced.result,)
    assert replaced.result is not None
    assert replaced.result.fingerprint == "fp"


def test_an_account_named_with_its_own_user_or_with_none_is_that_account() -> None:
    owned = account("acme", "alice")
    assert tenants.named_owner(owned, "alice") is owned
    assert tenants.named_owner(owned, None) is owned


@pytest.mark.parametrize("named", ["bob", "carol", ""])
def test_an_account_named_with_another_user_is_not_found_like_a_missing_one(named: str) -> None:
    with pytest.raises(NotFound) as refused:
        tenants.named_owner(account("acme", "alice"), named)
    assert (refused.value.message, refused.value.details) == (
        "account ACC-1 does not exist", {"kind": "account", "id": "ACC-1"},
    )  # fmt: skip


def test_an_account_of_no_user_named_with_a_user_is_not_found() -> None:
    with pytest.raises(NotFound):
        tenants.named_owner(account("acme", None), "alice")


# -- what mutation testing showed untested --------------------------------------------------------------------------


def test_a_record_the_caller_may_see_is_returned_as_it_is() -> None:
    own = account("acme", "alice")
    assert tenants.visible(ALICE, own, "account", "ACC-1") is own
    assert tenants.visible(ACME, own, "account", "ACC-1") is own


def test_a_client_scope_narrows_lists_to_the_clients_records_and_the_operator_not_at_all() -> None:
    assert tenants.filters(ALICE) == {"client_id": "acme"}
    assert tenants.filters(OPERATOR) == {}


def test_a_well_formed_key_parses_into_its_id_and_secret() -> None:
    assert tenants.parse_key(" allot_0123456789abcdef_" + "s" * 43 + " ") == ("0123456789abcdef", "s" * 43)


def test_every_refusal_of_a_key_says_the_same_thing() -> None:
    for stored, secret in ((issue().key, "t" * 43), (None, "s" * 43)):
        with pytest.raises(Unauthorized) as refused:
            tenants.authenticate(stored, secret)
        assert refused.value.message == "the API key is not valid"


def test_revoking_a_revoked_key_changes_nothing() -> None:
    revoked = tenants.revoke_key(issue().key, [], NOW).result
    again = tenants.revoke_key(revoked, [], NOW + dt.timedelta(days=1))
    assert again.result == revoked
    assert not again.changes.updated


def test_a_key_id_is_the_last_sixteen_hex_digits_of_a_unique_id() -> None:
    assert tenants.key_id_from("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9") == "8695a4b3c2d1e0f9"
    with pytest.raises(ValidationError):
        tenants.key_id_from("not-hex")


def test_a_client_is_registered_once_under_a_usable_name() -> None:
    made = tenants.register_client("initech", None, NOW)
    assert made.result.id == "initech"
    assert made.changes.created == (made.result,)
    with pytest.raises(AlreadyExists):
        tenants.register_client("initech", made.result, NOW)
    with pytest.raises(ValidationError):
        tenants.register_client("-bad", None, NOW)


def test_the_refusals_of_idempotency_keys_tell_the_caller_what_to_do() -> None:
    with pytest.raises(IdempotencyKeyMissing) as missing:
        idempotency.request_key(ALICE, None)
    assert "send an Idempotency-Key header" in missing.value.message
    with pytest.raises(IdempotencyKeyReused) as reused:
        idempotency.kept_answer(kept(202), "k", "other")
    assert "use a new key" in reused.value.message
    assert reused.value.details == {"idempotency_key": "k"}
    with pytest.raises(ValidationError):
        idempotency.request_key(ALICE, "k" * (idempotency.MAX_KEY_LENGTH + 1))
    assert idempotency.request_key(ALICE, "k" * idempotency.MAX_KEY_LENGTH)


def test_another_user_of_the_same_client_does_not_see_an_account_either() -> None:
    with pytest.raises(NotFound):
        tenants.visible(Scope.of_user("acme", "bob"), account("acme", "alice"), "account", "ACC-1")


def test_sixteen_hex_digits_are_enough_for_a_key_id() -> None:
    assert tenants.key_id_from("0123456789abcdef") == "0123456789abcdef"
    with pytest.raises(ValidationError):
        tenants.key_id_from("0123456789abcde")


def test_only_the_operator_lets_a_webhook_reach_a_private_network() -> None:
    from core import webhooks
    from core.errors import UnsafeWebhookUrl

    with pytest.raises(UnsafeWebhookUrl):
        webhooks.subscribe("http://169.254.169.254/latest/", ["ORDER"], "whsec_" + "A" * 32, True,
                           subscription_id="S1", now=NOW, owner=Owner("acme"))  # fmt: skip
    allowed = webhooks.subscribe("http://127.0.0.1:9/hooks", ["ORDER"], "whsec_" + "A" * 32, True,
                                 subscription_id="S1", now=NOW)  # fmt: skip
    assert allowed.result.allow_private_network


def test_the_last_admin_key_in_force_cannot_be_revoked_and_one_of_two_can() -> None:
    only = issue(None, None, admin=True).key
    with pytest.raises(LastAdminKey) as refused:
        tenants.revoke_key(only, [only], NOW)
    assert "allot apikeys create --admin" in refused.value.message
    assert refused.value.details == {"key_id": only.id}
    revoked_other = attrs.evolve(only, id="fedcba9876543210", revoked_at=NOW)
    with pytest.raises(LastAdminKey):
        tenants.revoke_key(only, [only, revoked_other], NOW)
    other = attrs.evolve(only, id="fedcba9876543210")
    revoked = tenants.revoke_key(only, [only, other], NOW)
    assert revoked.result.revoked_at == NOW
    assert revoked.changes.updated == (revoked.result,)
    users = issue().key  # a user's key is revoked whatever admin keys there are
    assert tenants.revoke_key(users, [only], NOW).result.revoked_at == NOW


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("t" * 31, "at least 32"),
        ("", "at least 32"),
        (" " + "t" * 32, "blanks"),
        ("t" * 32 + "\t", "blanks"),
        ("é" * 32, "printable ASCII"),
        ("t" * 16 + " " + "t" * 16, "printable ASCII"),
    ],
)
def test_a_service_token_is_refused_unless_32_characters_without_blanks_around(token: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        tenants.check_service_token(token, "ALLOT_STORE_TOKEN")
    assert says in refused.value.message
    assert "ALLOT_STORE_TOKEN" in refused.value.message
    assert refused.value.details["field"] == "ALLOT_STORE_TOKEN"
    assert refused.value.details.get("minimum") == (32 if says == "at least 32" else None)


def test_a_service_token_of_32_characters_is_taken_as_it_is() -> None:
    assert tenants.check_service_token("t" * 32, "TOKEN") == "t" * 32


def test_an_account_and_its_error_account_name_each_other_as_partners() -> None:
    assert error_account_partners("BLOCK") == ("BLOCK-ERROR",)
    assert error_account_partners("BLOCK-ERROR") == ("BLOCK-ERROR-ERROR", "BLOCK")
    assert error_account_partners("-ERROR") == ("-ERROR-ERROR",)


def test_an_error_account_of_an_error_account_names_every_account_up_its_chain() -> None:
    assert error_account_partners("BLOCK-ERROR-ERROR") == ("BLOCK-ERROR-ERROR-ERROR", "BLOCK-ERROR", "BLOCK")


@pytest.mark.parametrize(
    ("opener", "partner_owner"),
    [(Owner("globex", "carol"), ("acme", "alice")), (Owner("acme", "bob"), ("acme", "alice"))],
    ids=["another client", "another user of the client"],
)
def test_no_one_opens_an_account_whose_partner_someone_else_holds_and_the_refusal_is_that_of_a_taken_id(
    opener: Owner, partner_owner: tuple[str, str]
) -> None:
    held = account(*partner_owner, account_id="BLOCK")
    with pytest.raises(AlreadyExists) as refused:
        open_account("BLOCK-ERROR", "EUR", Decimal(0), None, CostSchedule(), ids=iter(["e"]), now=NOW,
                     owner=opener, partners=[held])  # fmt: skip
    assert (str(refused.value), refused.value.details) == (
        "account BLOCK-ERROR already exists",
        {"id": "BLOCK-ERROR"},
    )


@pytest.mark.parametrize(
    "opener",
    [Owner("acme", "alice"), Owner("acme"), tenants.NOBODY],
    ids=["its owner", "its client", "the operator"],
)
def test_whoever_sees_the_partner_opens_the_account(opener: Owner) -> None:
    held = account("acme", "alice", account_id="BLOCK")
    opened = open_account("BLOCK-ERROR", "EUR", Decimal(0), None, CostSchedule(), ids=iter(["e"]), now=NOW,
                          owner=opener, partners=[held])  # fmt: skip
    assert (opened.result.id, opened.result.client_id, opened.result.user_id) == (
        "BLOCK-ERROR",
        opener.client_id,
        opener.user_id,
    )


def test_a_key_naming_an_account_its_owner_may_not_see_is_refused_as_that_account_missing() -> None:
    with pytest.raises(NotFound) as refused:
        tenants.within(Owner("acme", "bob"), account("acme", "alice", account_id="P1"))
    assert refused.value.details == {"kind": "account", "id": "P1"}


def test_a_keys_error_account_is_the_one_it_names_or_else_the_block_accounts_own() -> None:
    assert error_account_of("BLOCK", None) == "BLOCK-ERROR"
    assert error_account_of("BLOCK", "E1") == "E1"
    assert error_account_of("BLOCK", "") == "", "an empty name is kept, to be refused"
