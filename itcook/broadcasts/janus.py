"""The app as Janus's control plane: VideoRoom rooms and the tokens that let one user in.

Janus runs with ``token_auth = true``: every request of its API must carry a token the admin API
added, so nobody reaches the media server without the app's say. A core token is per plugin,
not per room, so each room also has its own ACL: it is created with an empty ``allowed`` list
(VideoRoom then refuses a ``join`` whose ``token`` is not on it) and ``require_pvtid`` (a
subscription must name the ``private_id`` of a participant who joined the room, so also passed
the ACL). ``grant`` adds a token of one user (the VideoRoom plugin alone) and puts it on one
room's list; ``revoke`` takes it off and removes it. The app's own calls run in a session whose
token it grants itself for that call and removes after. Rooms are private (not listed), take one
publisher and have a random ``secret`` without which they cannot be changed or destroyed. Every
call is bounded by ``JANUS_TIMEOUT``; a Janus that does not answer is a ``JanusError`` (503),
one that refuses is a ``JanusError`` (502).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from typing import Any

import requests
from flask import Flask

from itcook.errors import ApiError

PLUGIN = "janus.plugin.videoroom"
#: Room ids stay below 2**53: the browser's numbers are doubles.
ROOM_ID_LIMIT = 2**52
#: VideoRoom's "room already exists" (a random id taken: draw another); "no such room".
_ROOM_EXISTS, _NO_SUCH_ROOM = 427, 426
#: Seconds a process keeps "the host publishes in this room" before asking Janus again: a
#: crowd of waiting viewers costs Janus one ``listparticipants`` a second, not one each.
PUBLISHING_TTL = 1.0


def publisher_id(secret: str) -> int:
    """The VideoRoom participant id the host publishes as: derived from the room's secret, so
    only the app (and the host it tells) knows it, and it needs no column of its own."""
    digest = hashlib.sha256(f"publisher:{secret}".encode()).digest()
    return int.from_bytes(digest[:6], "big") + 1  # 48 bits: below 2**52, never 0


class JanusError(ApiError):
    """Janus could not be reached (503 ``media_unavailable``) or refused (502 ``media_error``)."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(503 if unreachable else 502, "media_unavailable" if unreachable else "media_error",
                         message)


class Janus:
    """One Janus server: its public URL, its API for the app, its admin API."""

    def __init__(self, public_url: str, api_url: str, admin_url: str, admin_secret: str,
                 timeout: float = 5.0) -> None:
        self.public_url = public_url.rstrip("/")
        self.api_url = (api_url or public_url).rstrip("/")
        self.admin_url = admin_url.rstrip("/")
        self.admin_secret = admin_secret
        self.timeout = timeout
        self.http = requests.Session()
        #: room -> (when asked, whether its host published then): ``publishing``'s answers.
        self._publishing: dict[int, tuple[float, bool]] = {}

    # -- the admin API: tokens ------------------------------------------------------------------

    def grant(self, room: int, secret: str, user_id: int) -> str:
        """A new token for ``user_id`` alone: valid for the VideoRoom plugin, on ``room``'s list."""
        # Unguessable; the prefix only makes Janus's token list readable to an operator.
        token = f"u{int(user_id)}r{int(room)}-{secrets.token_urlsafe(24)}"
        self._admin("add_token", token=token, plugins=[PLUGIN])
        try:
            self._allowed(room, secret, "add", [token])
        except BaseException:
            self._admin("remove_token", token=token)
            raise
        return token

    def revoke(self, token: str, room: int | None = None, secret: str | None = None) -> None:
        """Remove ``token`` (from ``room``'s list too, if given): Janus refuses every later
        request that carries it, and every later ``join`` of the room."""
        try:
            if room is not None and secret is not None:
                self._allowed(room, secret, "remove", [token])
        finally:
            self._admin("remove_token", token=token)

    def _allowed(self, room: int, secret: str, action: str, tokens: list[str]) -> None:
        with _Control(self) as control:
            data = control.request({"request": "allowed", "room": int(room), "secret": secret,
                                    "action": action, "allowed": tokens})
        gone = action == "remove" and data.get("error_code") == _NO_SUCH_ROOM  # nothing left to remove
        if data.get("videoroom") != "success" and not gone:
            raise JanusError(f"Janus refused to {action} a token of room {room}: {data.get('error') or data}")

    def publishing(self, room: int, participant: int) -> bool:
        """Whether ``participant`` publishes in ``room`` now (its media flows), asked of Janus at
        most once per ``PUBLISHING_TTL`` per room and process."""
        seen = self._publishing.get(int(room))
        if seen is not None and time.monotonic() - seen[0] < PUBLISHING_TTL:
            return seen[1]
        with _Control(self) as control:
            data = control.request({"request": "listparticipants", "room": int(room)})
        if data.get("videoroom") != "participants":
            raise JanusError(f"Janus refused to list room {room}: {data.get('error') or data}")
        found = any(p.get("id") == participant and p.get("publisher") is True
                    for p in data.get("participants") or [])
        self._publishing[int(room)] = (time.monotonic(), found)
        return found

    def _admin(self, verb: str, **fields: Any) -> dict[str, Any]:
        body = {"janus": verb, "transaction": uuid.uuid4().hex, "admin_secret": self.admin_secret, **fields}
        answer = self._post(self.admin_url, body)
        if answer.get("janus") != "success":
            raise JanusError(f"Janus refused {verb}: {_reason(answer)}")
        return answer

    # -- the Janus API: rooms -------------------------------------------------------------------

    def create_room(self, live_id: int) -> tuple[int, str]:
        """A new private VideoRoom room for broadcast ``live_id``: ``(room id, room secret)``."""
        secret = secrets.token_urlsafe(24)
        with _Control(self) as control:
            for _ in range(5):
                room = secrets.randbelow(ROOM_ID_LIMIT - 1) + 1
                data = control.request({"request": "create", "room": room, "secret": secret,
                                        "description": f"itcook live {int(live_id)}", "is_private": True,
                                        "publishers": 1, "permanent": False,
                                        "allowed": [], "require_pvtid": True})
                if data.get("videoroom") == "created":
                    return room, secret
                if data.get("error_code") != _ROOM_EXISTS:
                    raise JanusError(f"Janus refused to create a room: {data.get('error') or data}")
        raise JanusError("Janus refused to create a room: every id drawn was taken")

    def destroy_room(self, room: int, secret: str) -> None:
        """Destroy ``room`` (its publisher and viewers are hung up); an already gone room is fine."""
        self._publishing.pop(int(room), None)
        with _Control(self) as control:
            data = control.request({"request": "destroy", "room": int(room), "secret": secret})
        if data.get("videoroom") != "destroyed" and data.get("error_code") != _NO_SUCH_ROOM:
            raise JanusError(f"Janus refused to destroy room {room}: {data.get('error') or data}")

    def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.post(url, json=body, timeout=self.timeout)
            answer = response.json()
        except requests.RequestException as exc:
            raise JanusError(f"Janus did not answer: {type(exc).__name__}", unreachable=True) from exc
        except ValueError as exc:
            raise JanusError("Janus answered something that is not JSON") from exc
        if not isinstance(answer, dict):
            raise JanusError("Janus answered something that is not a JSON object")
        return answer


class _Control:
    """A short session of the app's own: a token granted for it, a VideoRoom handle, cleanup."""

    def __init__(self, janus: Janus) -> None:
        self.janus = janus
        self.token = "app-" + secrets.token_urlsafe(24)
        self.session: int | None = None
        self.handle: int | None = None

    def __enter__(self) -> _Control:
        self.janus._admin("add_token", token=self.token, plugins=[PLUGIN])
        try:
            self.session = int(self._call(self.janus.api_url, {"janus": "create"})["data"]["id"])
            answer = self._call(f"{self.janus.api_url}/{self.session}", {"janus": "attach", "plugin": PLUGIN})
            self.handle = int(answer["data"]["id"])
        except BaseException:
            self.__exit__()
            raise
        return self

    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous VideoRoom request; the plugin's data (``videoroom`` or ``error_code``)."""
        answer = self._call(f"{self.janus.api_url}/{self.session}/{self.handle}",
                            {"janus": "message", "body": body})
        data = answer.get("plugindata", {}).get("data")
        if not isinstance(data, dict):
            raise JanusError(f"Janus answered without the plugin's data: {answer}")
        return data

    def _call(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.janus._post(url, {**body, "transaction": uuid.uuid4().hex, "token": self.token})
        if answer.get("janus") != "success":
            raise JanusError(f"Janus refused {body['janus']}: {_reason(answer)}")
        return answer

    def __exit__(self, *exc: object) -> None:
        try:
            if self.session is not None:
                self._call(f"{self.janus.api_url}/{self.session}", {"janus": "destroy"})
        except JanusError:
            pass  # the session times out by itself; the token's removal below matters more
        finally:
            self.janus._admin("remove_token", token=self.token)


def _reason(answer: dict[str, Any]) -> str:
    error = answer.get("error")
    return f"{error.get('code')} {error.get('reason')}" if isinstance(error, dict) else str(answer)[:200]


def janus_for(app: Flask) -> Janus | None:
    """The app's Janus (one per app, made on first use), or None when ``JANUS_URL`` is unset."""
    if not app.config.get("JANUS_URL"):
        return None
    janus = app.extensions.get("janus")
    if janus is None:
        config = app.config
        janus = app.extensions["janus"] = Janus(
            config["JANUS_URL"], config.get("JANUS_API_URL", ""), config.get("JANUS_ADMIN_URL", ""),
            config.get("JANUS_ADMIN_SECRET", ""), float(config.get("JANUS_TIMEOUT", 5.0)))
    return janus
