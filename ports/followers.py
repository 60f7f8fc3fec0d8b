"""Trade followers: a user's suitability level, its acceptance of the terms and the asset types it may trade."""

from __future__ import annotations

from collections.abc import Sequence

from core import copy_trading
from core.errors import AlreadyExists, NotFound
from core.instruments import AssetType
from core.investments import Suitability
from core.records import TradeFollower
from core.tenants import OPERATOR, Owner, Scope, only_visible, owner_for
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, list_visible, require_visible, transaction

#: ``suitability`` left as it is.
UNCHANGED = "unchanged"


def follower_of(uow: UnitOfWork, scope: Scope) -> TradeFollower | None:
    """The follower of the calling user (``/tradefollowers/me``), if it has one."""
    return next(iter(only_visible(scope, uow.followers.list(**_of_user(scope)))), None)


def _of_user(scope: Scope) -> dict[str, str]:
    return {"client_id": scope.client_id or "", "user_id": scope.user_id or ""}


class Followers(UseCases):
    @transaction
    def set(
        self,
        uow: UnitOfWork,
        follower_id: str | None,
        *,
        owner: Owner | None = None,
        suitability: Suitability | str | None = UNCHANGED,
        terms_accepted: bool | None = None,
        asset_types: Sequence[AssetType] | None = None,
        scope: Scope = OPERATOR,
        create_missing: bool = True,
    ) -> TradeFollower:
        """Create or change a follower: by id (the command line, for the user ``owner``), or the caller's own
        (``follower_id`` None: a user's API key); a missing one is created unless ``create_missing`` is false
        (then ``NotFound``). Revoking the terms or the suitability stops its investments out."""
        if follower_id is None:
            existing = follower_of(uow, scope)
            new_id = existing.id if existing is not None else self.new_id()
            made_for = owner_for(scope, user_owned=True)
        else:
            existing = uow.followers.get(follower_id)
            if existing is not None or not create_missing:
                require_visible(uow.followers, follower_id, "trade follower", scope)
            new_id = follower_id
            made_for = owner or owner_for(scope, user_owned=True)
        investments = [] if existing is None else uow.investments.list(follower_id=existing.id)
        now = self.now()
        decision = copy_trading.save_follower(
            existing, new_id, made_for, investments, suitability=suitability, terms_accepted=terms_accepted,
            asset_types=asset_types, now=now,
        )  # fmt: skip
        return self.save(uow, decision, now)

    @transaction
    def create(
        self,
        uow: UnitOfWork,
        follower_id: str,
        owner: Owner,
        *,
        suitability: Suitability | None = None,
        terms_accepted: bool = False,
        asset_types: Sequence[AssetType] = (),
    ) -> TradeFollower:
        """A new follower for the user ``owner`` (which must exist; no user: the operator's)."""
        if uow.followers.get(follower_id) is not None:
            raise AlreadyExists(
                f"trade follower {follower_id} exists already", {"kind": "trade follower", "id": follower_id}
            )
        if owner.user_id is not None:
            user = uow.users.get(owner.user_id)
            if user is None or user.client_id != owner.client_id:
                raise NotFound(f"user {owner.user_id} of client {owner.client_id} does not exist",
                               {"kind": "user", "id": owner.user_id})  # fmt: skip
        now = self.now()
        decision = copy_trading.save_follower(
            None, follower_id, owner, [], suitability=suitability, terms_accepted=terms_accepted,
            asset_types=asset_types, now=now,
        )  # fmt: skip
        return self.save(uow, decision, now)

    @transaction
    def me(self, uow: UnitOfWork, scope: Scope) -> TradeFollower:
        """The caller's follower; ``NotFound`` until it set its suitability or accepted the terms."""
        found = follower_of(uow, scope)
        if found is None:
            raise NotFound(
                "you are not a trade follower yet: set your suitability level first",
                {"kind": "trade follower"},
            )
        return found

    @transaction
    def get(self, uow: UnitOfWork, follower_id: str, scope: Scope = OPERATOR) -> TradeFollower:
        return require_visible(uow.followers, follower_id, "trade follower", scope)

    @transaction
    def all(self, uow: UnitOfWork, scope: Scope = OPERATOR) -> list[TradeFollower]:
        return list_visible(uow.followers, scope)
