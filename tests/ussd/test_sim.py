"""The terminal handset speaks AT's format: real session ids, cumulative text, URL-encoded form."""

from __future__ import annotations

import argparse
import io
import re
import threading

from werkzeug.serving import make_server

from ussd import cli, sim

from .conftest import PIN, SECRET


def test_the_simulator_posts_what_at_posts(client, world):
    seen = []

    def post(url, form):
        seen.append(dict(form))
        response = client.post(url, data=form)  # the test client URL-encodes the form
        return response.get_data(as_text=True)

    out = io.StringIO()
    pages = sim.dial(f"/ussd/{SECRET}", world.treasurer.phone, iter(["2", "0", "3"]), out, post=post)
    assert [f["text"] for f in seen] == ["", "2", "2*0", "2*0*3"]
    assert len({f["sessionId"] for f in seen}) == 1
    assert re.fullmatch(r"ATUid_[0-9a-f]{32}", seen[0]["sessionId"])
    assert seen[0]["phoneNumber"] == world.treasurer.phone and seen[0]["serviceCode"] == "*384*44135#"
    assert pages[-1].startswith("CON Umoja")
    assert "(hung up)" in out.getvalue()


def test_the_simulator_over_loopback_http(app, world):
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/ussd/{SECRET}"
        out = io.StringIO()
        pages = sim.dial(url, world.treasurer.phone, iter(["3", "1"]), out, post=sim.http_post())
    finally:
        server.shutdown()
        thread.join()
    assert pages[-1].startswith("CON ") and "KES" in pages[-1]
    assert PIN not in out.getvalue()


def test_the_cli_registers_ussd_sim():
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["ussd-sim", "--phone", "+254700000001", "--url", "http://127.0.0.1:1/ussd/x"])
    assert args.func is cli.ussd_sim and args.service_code == "*384*44135#"
