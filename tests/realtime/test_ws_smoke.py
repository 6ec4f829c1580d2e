from tests.realtime.wsclient import Api, ws_connect


def test_connect_and_receive_post(live_server) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    bob = api.register("bob")
    client = ws_connect(live_server, bob["access_token"])
    api.call("POST", "/community/posts", anna, expect=201, json={"content": "Borscht tonight"})
    frame = client.recv()
    assert frame["type"] == "NewCommunityPost", frame
    assert frame["data"]["content"] == "Borscht tonight"
    assert frame["channel"] == "community" and frame["id"] >= 1
    client.close()
