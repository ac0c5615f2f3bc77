"""The USSD door: Africa's Talking's USSD callback turned into menus over the core.

Routes (the Flask blueprint `ussd.web:blueprint`, registered by the app factory):

- ``POST /ussd/<secret>``: a hop. AT posts the form fields ``sessionId``, ``serviceCode``,
  ``phoneNumber`` (E.164), ``networkCode`` and ``text`` (every input of the session joined by
  ``*``); the answer is ``text/plain`` starting ``CON `` (more to come) or ``END ``.
- ``POST /ussd/<secret>/events``: AT's end-of-session notification (``sessionId``, ``status``,
  ``input`` with PINs redacted before it is stored, ``durationInMillis``, ``errorMessage``...).

AT does not sign its requests, so both URLs carry a secret from the configuration
(``USSD_SECRET``; the app factory reads it from ``VISION_USSD_SECRET``). A wrong or missing secret
gets ``403`` (plain text) and changes nothing. Configure AT's callback as
``https://<host>/ussd/<secret>`` and its events URL as ``https://<host>/ussd/<secret>/events``.

Each hop is a function of (phone number, text): see ussd/session.py. PINs: ussd/pin_auth.py.
The terminal client that speaks AT's format: ``vision-ledger ussd-sim`` (ussd/sim.py).
"""

from __future__ import annotations

from . import models  # noqa: F401  (the ORM knows the door's tables)
