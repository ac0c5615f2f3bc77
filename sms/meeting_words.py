"""The words of the replies to a meeting sent by SMS (sms.meeting_command): English messages
(context "sms") translated through the shared catalogs like sms.words.

Placeholders are filled by sms.texts; amounts arrive formatted, a plural message's count is {n}
(`COUNTED` names the refusal fact it counts). Keep English and Swahili within one GSM-7 segment
(no curly quotes, no accents) and Arabic within two UCS-2 parts.
"""

from __future__ import annotations

from typing import Final

from vision_ledger.i18n import Message, message, plural

EXAMPLE: Final = "M 1234 S 3 2 5 F * C 12500 300"

# The parts of a meeting's preview or record (five amounts, named once: the currency in the head).
HEAD: Final = message("sms", "Meeting {day}")
HEAD_OPENS: Final = message("sms", "Meeting {day} (opens)")
SHARES: Final = plural("sms", "Shares {shares} ({n} member) {amount}.",
                       "Shares {shares} ({n} members) {amount}.")
SOCIAL: Final = plural("sms", "Social fund {n}: {amount}.", "Social fund {n}: {amount}.")
REPAID: Final = plural("sms", "Repaid {n}: {amount}.", "Repaid {n}: {amount}.")
CLOSE: Final = message("sms", "Close {loan_fund} + {social}.")
OK: Final = plural("sms", "Reply OK {code} in {n} min.", "Reply OK {code} in {n} min.")
DONE: Final = message("sms", "recorded.")
ALREADY: Final = message("sms", "Meeting {code} was already recorded. Nothing changed.")
RULE: Final = message("sms", "Nothing recorded ({code}).")
TAIL: Final = message("sms", "Nothing recorded.")

# Why a meeting was not understood or not accepted, by the reason sms.meeting_command gives.
REASONS: Final[dict[str, Message]] = {
    "not_treasurer": message("sms", "Only the group's treasurer can record a meeting by SMS."),
    "which_group": message("sms", "Which group? {groups}. Put its G after M: M G1 1234 S 3 2"),
    "unreadable": message("sms", "Cannot read '{word}'. Example: {example}"),
    "pin_missing": message("sms", "Add your PIN. Example: {example}"),
    "pin_wrong": message("sms", "Wrong PIN. Nothing recorded."),
    "pin_locked": message("sms", "Too many wrong PINs. Try again later."),
    "pin_not_set": message("sms", "No PIN is set. Ask your programme officer."),
    "nothing": message("sms", "Nothing to record. Example: {example}"),
    "section_twice": message("sms", "'{word}' is there twice."),
    "member_twice": message("sms", "Member {number} is there twice in one list."),
    "social_one": message("sms", "Social fund: 1 = paid, 0 = not paid (not '{word}')."),
    "close_two": message("sms", "C takes two counts: loan fund and social fund."),
    "no_member": message("sms", "The group has no member {number}."),
    "bad_amount": message("sms", "'{word}' is not an amount."),
    "bad_date": message("sms", "'{word}' is not a date (day/month)."),
    "date_future": message("sms", "{day} is in the future."),
    "date_too_old": plural("sms", "{day} is more than {n} day ago. Ask your programme officer.",
                           "{day} is more than {n} days ago. Ask your programme officer."),
    "date_before_last": message("sms", "A meeting was already recorded on {last}."),
    "other_meeting_open": message("sms", "The meeting of {day} is open: record into it (no date) or "
                                         "close it."),
    "absent_when_open": message("sms", "The meeting is already open: its attendance is taken."),
    "nothing_pending": message("sms", "No meeting is waiting for OK. Send the meeting again."),
    "expired": plural("sms", "The code expired after {n} minute. Send the meeting again.",
                      "The code expired after {n} minutes. Send the meeting again."),
    "code_wrong": message("sms", "Wrong code. Use the code of our last SMS."),
    "code_cancelled": message("sms", "Wrong code 3 times: cancelled. Send the meeting again."),
}

# A core refusal of a meeting sent by SMS, by its code; an unknown code is said with `RULE`.
REFUSALS: Final[dict[str, Message]] = {
    "shares.above_maximum": plural("sms", "Member {member_number}: at most {n} share a meeting.",
                                   "Member {member_number}: at most {n} shares a meeting."),
    "shares.below_minimum": plural("sms", "Member {member_number}: at least {n} share.",
                                   "Member {member_number}: at least {n} shares."),
    "social_fund.already_paid": message("sms", "Member {member_number} already paid the social fund."),
    "social_fund.none_set": message("sms", "This cycle has no social fund."),
    "loan.none_active": message("sms", "Member {member_number} has no loan to repay."),
    "repayment.above_balance": message("sms", "Member {member_number} owes only {owed}."),
    "member.not_active": message("sms", "Member {member_number} has left the group."),
    "meeting.cash_mismatch": message("sms", "Counts differ from the books: loan fund "
                                            "{expected_loan_fund}, social fund {expected_social_fund}. "
                                            "Recount, or close on USSD."),
    "meeting.no_quorum": message("sms", "{present} of {active} present: no quorum."),
}
# The fact each plural reason or refusal counts (shown as {n}).
COUNTED: Final[dict[str, str]] = {
    "date_too_old": "days", "expired": "minutes",
    "shares.above_maximum": "maximum", "shares.below_minimum": "minimum",
}
