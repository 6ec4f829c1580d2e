"""The demo page in Chromium behind deploy/nginx.conf and gunicorn: it stays on WebSocket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import demo_register
from tests.support.deploy import Deployment, deployed, skip_reason
from tests.support.rest import Api

_reason = skip_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """nginx in front of two gunicorn gevent workers, for this module's tests."""
    with deployed(tmp_path_factory.mktemp("deployment")) as running:
        yield running


def test_demo_page_stays_on_websocket_behind_nginx(deployment: Deployment, new_page) -> None:
    """nginx sends ``Host $host`` (no port); the page's origin has the port: with
    ITCOOK_PROXY_COUNT=1 the app sees the public host and port and accepts the WebSocket."""
    page = new_page()
    demo_register(page, deployment, "boris_nginx")
    assert page.text_content("#conn-transport") == "websocket"
    api = Api(deployment)
    anna = api.register("anna_nginx")
    api.call("POST", "/community/posts", anna, expect=201, json={"content": "served by nginx"})
    page.wait_for_selector("#feed li[data-post-id] .content >> text=served by nginx")
    assert page.text_content("#conn-transport") == "websocket"
    assert page.get_attribute("#conn", "data-state") == "open"
