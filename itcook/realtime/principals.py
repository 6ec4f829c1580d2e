"""Principal checks of ``RealtimeState``: loading users, stream slots, presence, rechecks."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_app_context

from itcook.realtime import ticker
from itcook.realtime.auth import Principal, PrincipalLoader
from itcook.realtime.brokers import ClusterStore
from itcook.realtime.errors import RealtimeError
from itcook.realtime.events import CLOSE_REASONS
from itcook.realtime.hub import Hub


class PrincipalChecks:
    """Who a user id is, whether it may hold one more stream, whether it is online anywhere."""

    app: Flask
    hub: Hub
    cluster: ClusterStore
    config: dict[str, Any]
    process_id: str
    presence_ttl: float
    principal_loader: PrincipalLoader

    def load_principal(self, user_id: Any) -> Principal | None:
        """Resolve a user id through the app's loader (active users only)."""
        if has_app_context() and current_app._get_current_object() is self.app:
            # A handshake is already inside this app's context; pushing another costs a
            # third of the lookup itself.
            return self.principal_loader(user_id)
        with self.app.app_context():
            return self.principal_loader(user_id)

    def reserve_connection(self, user_id: Any) -> bool:
        """Hold one of ``user_id``'s stream slots, counted over every process; False at the cap.

        The local reservation comes first (simultaneous handshakes here), then the cluster
        store's atomic check of what the other processes reported (simultaneous ones elsewhere).
        """
        cap = self.config["max_connections_per_user"]
        hub = self.hub
        if not hub.reserve(user_id, cap):
            return False
        held = hub.user_connection_count(user_id) + hub.admitting[user_id] - 1
        if self.cluster.claim_connection(self.process_id, user_id, held, cap, self.presence_ttl):
            return True
        hub.release(user_id)
        return False

    def is_user_online(self, user_id: Any) -> bool:
        """Whether ``user_id`` holds a live connection here or (as the cluster store knows) elsewhere."""
        return bool(self.hub.user_connection_count(user_id)) or self.cluster.user_present(user_id)

    def recheck_principals(self) -> int:
        """Close (4003) every local connection whose user is no longer active; return how many."""
        return ticker.recheck_principals(self)

    def close_reason(self, code: int | None) -> str:
        """The stats name of a close code."""
        return CLOSE_REASONS.get(code or 0, "connection_lost")


def no_tokens(_token: str) -> Any:
    """The authenticator of a host that gave none and has no flask-jwt-extended."""
    raise RealtimeError(401, "invalid_token", "this server accepts no bearer tokens; use a ticket")
