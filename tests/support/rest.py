"""The REST client of the tests and the benchmarks: calls made the way a real client makes them."""

from __future__ import annotations

from typing import Any

import requests


class Api:
    """REST calls against the live server, the way a real client makes them."""

    def __init__(self, server: Any) -> None:
        self.base = server.url + "/api/v1"
        self.http = requests.Session()
        self.server = server  # an in-process LiveServer has ``app``; a cluster process does not

    def close(self) -> None:
        """Close the kept-alive connections."""
        self.http.close()

    def register(self, username: str, password: str = "secret123") -> dict[str, Any]:
        """A new user: the register answer (``user``, ``access_token``) plus auth ``headers``."""
        response = self.http.post(f"{self.base}/auth/register",
                                  json={"username": username, "password": password}, timeout=10)
        assert response.status_code == 201, response.text
        user = response.json()
        user["headers"] = {"Authorization": f"Bearer {user['access_token']}"}
        return user

    def login(self, username: str, password: str = "secret123") -> dict[str, Any]:
        """Log a user in (registered here or in a page): the answer plus auth ``headers``."""
        user = self.call("POST", "/auth/login", expect=200,
                         json={"username": username, "password": password}).json()
        user["headers"] = {"Authorization": f"Bearer {user['access_token']}"}
        return user

    def register_admin(self, username: str = "root") -> dict[str, Any]:
        """Register a user and make them an administrator (no route does that: the database)."""
        from itcook.extensions import db
        from itcook.models import User

        user = self.register(username)
        with self.server.app.app_context():
            db.session.get(User, user["user"]["id"]).role = "admin"
            db.session.commit()
        return user

    def call(self, method: str, path: str, user: dict[str, Any] | None = None,
             expect: int | None = None, **kwargs: Any) -> requests.Response:
        """``method`` on ``/api/v1`` + ``path`` as ``user`` (if given); asserts ``expect`` if given."""
        headers = user["headers"] if user else {}
        response = self.http.request(method, f"{self.base}{path}", headers=headers, timeout=10, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        return response
