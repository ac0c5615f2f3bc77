"""The ledger: the chart of accounts, `post` (the only code that writes entries), balances and
`verify`, which recomputes everything from the postings. One module per concern:

- `chart`: the accounts, which of them are cash (`CASH_ACCOUNTS`), an entry's lines
- `locking`: `lock_group`, the journal's head under the lock
- `idempotency`: `fingerprint_of`, `find_replay`, `replay_of`
- `posting`: `post` and what it returns (`Posted`); `driver`, `sqlite` and `postgresql` hold the
  SQL it speaks to each database
- `journal`: the hash chain (`entry_hash`); `verify`: `verify`, `verify_chain`, `VerifyReport`
- `outbox`: `queue_message`; `reads`: `balance`, `units`, `holding`, `balances`, `trial_balance`

Callers import the package: `ledger.post`, `ledger.verify`...
"""

from .chart import (
    CASH_ACCOUNTS,
    CHART,
    GROUP_ACCOUNTS,
    MEMBER_ACCOUNTS,
    Line,
    account_key,
    credit,
    debit,
    open_group_accounts,
    open_member_accounts,
)
from .idempotency import find_replay, fingerprint_of, replay_of
from .journal import canonical, entry_body, entry_hash
from .locking import lock_group
from .outbox import queue_message
from .posting import Posted, PostedLine, post
from .reads import balance, balances, holding, trial_balance, units
from .verify import JOURNAL_COLUMNS, VerifyReport, stream_journal, verify, verify_chain

__all__ = [
    "CASH_ACCOUNTS", "CHART", "GROUP_ACCOUNTS", "JOURNAL_COLUMNS", "MEMBER_ACCOUNTS", "Line",
    "Posted", "PostedLine", "VerifyReport", "account_key", "balance", "balances", "canonical",
    "credit", "debit", "entry_body", "entry_hash", "find_replay", "fingerprint_of", "holding",
    "lock_group", "open_group_accounts", "open_member_accounts", "post", "queue_message", "replay_of",
    "stream_journal", "trial_balance", "units", "verify", "verify_chain",
]
