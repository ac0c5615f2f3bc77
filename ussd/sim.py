"""A terminal handset that speaks Africa's Talking's USSD format to a running server.

Each session gets a real-looking id (`ATUid_` + 32 hex); every hop posts the URL-encoded form AT
posts (sessionId, serviceCode, phoneNumber, networkCode, text) with the cumulative text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import TextIO

Post = Callable[[str, dict[str, str]], str]


def session_id() -> str:
    return "ATUid_" + uuid.uuid4().hex


def http_post(timeout: float = 15.0) -> Post:
    """POST a form with `requests` (URL-encoded, as AT sends it); the body of the answer."""
    import requests  # noqa: PLC0415 (tests hand in their own post; only the terminal needs it)

    http = requests.Session()
    http.headers["User-Agent"] = "at-ussd-api/1.0 (vision-ledger ussd-sim)"

    def post(url: str, form: dict[str, str]) -> str:
        response = http.post(url, data=form, timeout=timeout)
        if response.status_code != 200:
            return f"END HTTP {response.status_code}: {response.text[:100]}"
        return response.text

    return post


def dial(url: str, phone: str, inputs: Iterator[str], out: TextIO, *, post: Post,
         service_code: str = "*384*44135#", network_code: str = "63902") -> list[str]:
    """One session: show each page, read the next input, until END (or the inputs run out)."""
    sid = session_id()
    typed: list[str] = []
    pages = []
    while True:
        form = {"sessionId": sid, "serviceCode": service_code, "phoneNumber": phone,
                "networkCode": network_code, "text": "*".join(typed)}
        body = post(url, form)
        pages.append(body)
        kind, _, page = body.partition(" ")
        out.write("\n" + "-" * 30 + "\n" + page + "\n" + "-" * 30 + "\n")
        if kind != "CON":
            out.write("(session ended)\n")
            return pages
        try:
            value = next(inputs)
        except StopIteration:
            out.write("(hung up)\n")
            return pages
        typed.append(value.strip())


def typed_lines(prompt: str = "> ") -> Iterator[str]:
    while True:
        try:
            yield input(prompt)
        except EOFError:
            return


def run(url: str, phone: str, service_code: str, out: TextIO) -> int:
    post = http_post()
    out.write(f"Dialling {service_code} as {phone} ({url})\n")
    while True:
        dial(url, phone, typed_lines(), out, post=post, service_code=service_code)
        try:
            again = input("Dial again? [y/N] ")
        except EOFError:
            return 0
        if again.strip().lower() not in ("y", "yes"):
            return 0
