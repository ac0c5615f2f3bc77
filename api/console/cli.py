"""`vision-ledger console link`: an operator issues a one-time sign-in link to the console."""

from __future__ import annotations

import argparse
from typing import Any

from ..cli_support import database, demo_pepper


def register(sub: Any) -> None:
    console = sub.add_parser("console", help="the staff console").add_subparsers(
        dest="console_command", required=True)
    link = console.add_parser("link", help="issue a one-time sign-in link (prints it once)")
    which = link.add_mutually_exclusive_group(required=True)
    which.add_argument("--token", type=int, help="sign in with this existing token (its id)")
    which.add_argument("--programme", type=int, help="a new token for a staff member of this programme")
    which.add_argument("--demo", action="store_true", help="the demo programme's admin (loads the demo)")
    link.add_argument("--role", choices=["admin", "auditor"], default="auditor",
                      help="with --programme: the new token's role (default auditor)")
    link.add_argument("--name", help="with --programme: whose token it is")
    link.add_argument("--minutes", type=int, default=60, help="how long the link is valid (default 60)")
    link.add_argument("--url", default="http://127.0.0.1:8000", help="where the service is reached")
    link.set_defaults(func=cmd_link)


def cmd_link(args: argparse.Namespace) -> int:
    # The command's modules load when it runs, as api/cli.py's: CLI start-up time.
    from vision_ledger.errors import NotFound  # noqa: PLC0415 - CLI start-up time

    from .. import demo  # noqa: PLC0415 - CLI start-up time
    from ..auth import create_token, revoke_token  # noqa: PLC0415 - CLI start-up time
    from ..models import ApiToken  # noqa: PLC0415 - CLI start-up time
    from .signin import issue_link  # noqa: PLC0415 - CLI start-up time

    with database(args).unit_of_work() as s:
        if args.demo:
            programme = demo.existing(s)
            if programme is None:
                demo_pepper(args)
                loaded = demo.load(s)
                for token_id, _secret in loaded.tokens.values():  # issued, never shown: revoked
                    revoke_token(s, token_id)
                programme_id = loaded.programme_id
            else:
                programme_id = programme.id
            token, _ = create_token(s, role="admin", name="demo admin (console link)",
                                    programme_id=programme_id)
        elif args.programme is not None:
            token, _ = create_token(s, role=args.role, name=args.name or f"console {args.role}",
                                    programme_id=args.programme)
        else:
            token = s.get(ApiToken, args.token)
            if token is None:
                raise NotFound("token.not_found", "No such token", token_id=args.token)
        link, secret = issue_link(s, token, minutes=args.minutes)
        role, expires = token.role, link.expires_at
    print(f"Console: sign in as {role} (token {token.id}) once, before {expires:%Y-%m-%d %H:%M} UTC, at")
    print(f"  {args.url.rstrip('/')}/console/link/{secret}")
    print(f"  (or paste an API token at {args.url.rstrip('/')}/console/)", flush=True)
    return 0
