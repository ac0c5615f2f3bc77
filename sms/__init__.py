"""SMS door: texts, the Africa's Talking transport, the outbox worker, AT's callbacks.

Modules: gsm (GSM-7/UCS-2), gateway (one send through the SDK, classified), texts + words +
meeting_words (rendering in en/sw/ar; the words are messages of the shared catalogs,
vision_ledger.i18n), outbox (claim/record/reclaim, operators' summary and retry), worker
(thread pool, SQLite single-worker lock), schedule (loan-due reminders, monthly statements),
web (delivery reports, inbound), inbound (commands), cli, models. The operators' outbox routes
(/api/outbox) are the API's (api/views/outbox.py), on top of `outbox`.

Delivery policy (what the worker does with each outcome the gateway reports)
----------------------------------------------------------------------------
- sent: AT accepted it (100/101/102): status 'sent', AT's messageId, cost and statusCode kept.
  A delivery report later makes it 'delivered' (Success) or 'failed' (Rejected/Failed, AT's reason).
- retry (500/501, HTTP 5xx, connection refused): 'pending' again after full-jitter exponential
  backoff (VISION_SMS_BACKOFF_BASE, _CAP); after VISION_SMS_MAX_ATTEMPTS sends it is 'failed'
  with the last reason.
- held (401 RiskHold, 405 InsufficientBalance, a rejected API key, a bad base URL): 'held', logged
  at ERROR for operators, tried again after VISION_SMS_HELD_DELAY; it never gives up on its own.
- failed (402/403/404/406/407/409/502, an empty Recipients list such as InvalidSenderId, an
  invalid number, a payload that cannot be rendered): 'failed' for good, reason kept. Operators
  may retry it (`vision-ledger sms retry ID`, POST /api/outbox/<id>/retry).

Uncertain sends: AT-LEAST-ONCE, after a delay, for every kind of message.
A read timeout, a connection lost after the request went out, or a garbled 2xx body mean AT may
have sent the SMS; its API has no idempotency key, so we cannot ask. Such a message becomes
'uncertain' and is sent again, with the very same stored text, after VISION_SMS_UNCERTAIN_DELAY
(default 10 minutes, long enough for a slow AT to recover), counting against the same attempt
limit; a message whose last allowed attempt was uncertain ends 'failed' with a reason saying it
may have been delivered. A row a worker left in 'sending' (killed mid-batch) is the same case:
on restart (SQLite: at once, since the worker lock proves its owner is dead; PostgreSQL: once it
is older than VISION_SMS_STALE_AFTER) it is reclaimed as 'uncertain'.
Why at-least-once, receipts included: receipts and statements are the members' protection
against a treasurer who writes what did not happen; a missing receipt defeats that, a duplicate
does not. Every text is rendered once and stored, and carries its date and the running totals
("Shares 36 = KES 3,600"), so a repeat reads as the same message, not as a second purchase.
Every attempt is logged in `sms_attempts` (outcome, AT id, reason), so duplicates are countable.

Concurrency: PostgreSQL workers claim rows with SELECT ... FOR UPDATE SKIP LOCKED (claim = status
'sending', claimed_by, claimed_at, committed), send outside any transaction, then record the
outcome. On SQLite one worker runs at a time: a second one is refused (a flock'd lock file next
to the database, released by the kernel even when the worker is SIGKILLed).
"""
