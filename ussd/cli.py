"""`vision-ledger ussd-sim`: registered by the CLI (api/cli.py) through `register(subparsers)`."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "ussd-sim", help="dial the USSD menu from this terminal (speaks Africa's Talking's format)")
    parser.add_argument("--phone", required=True, help="the caller's number, E.164 (+254...)")
    parser.add_argument("--url", default=None,
                        help="the USSD callback, http://127.0.0.1:8000/ussd/<secret> "
                             "(default: from VISION_USSD_SECRET)")
    parser.add_argument("--service-code", default="*384*44135#")
    parser.set_defaults(func=ussd_sim)


def ussd_sim(args: argparse.Namespace) -> int:
    from .sim import run  # noqa: PLC0415 (the simulator loads requests: only for this command)

    url = args.url or f"http://127.0.0.1:8000/ussd/{args.settings.ussd_secret or ''}"
    return run(url, args.phone, args.service_code, sys.stdout)
