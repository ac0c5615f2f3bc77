"""The words of every SMS text: English messages (gettext msgids, context "sms") that sms.texts
translates through the shared catalogs (vision_ledger/translations, see vision_ledger.i18n).

A text that shows a count is a plural message whose count is {n}; sms.texts says which payload
fact it counts. Keep English and Swahili short: a full statement must fit one 160-character
GSM-7 segment (no curly quotes, no accents); Arabic keeps to two UCS-2 parts, with the shorter
`COMPACT` words when a text would take a third.
"""

from __future__ import annotations

from typing import Final

from vision_ledger.i18n import Message, message, plural

WORDS: Final[dict[str, Message]] = {
    "bought": plural("sms", "you bought {n} share, {amount}.", "you bought {n} shares, {amount}."),
    "shares_total": plural("sms", "Shares {n} = {savings}.", "Shares {n} = {savings}."),
    "loan_due": message("sms", "Loan due {due}: {amount}."),
    "no_loan": message("sms", "No loan."),
    "social_paid": message("sms", "social fund {amount} paid."),
    "social_cycle": message("sms", "Paid this cycle: {amount}."),
    "fine": message("sms", "fine {name} {amount}."),
    "welfare": message("sms", "welfare {amount} paid to you from the social fund."),
    "loan_given": message("sms", "loan of {amount} given. You owe {owed} by {due}."),
    "charge_incl": message("sms", "Includes service charge {charge}."),
    "loan_purpose": message("sms", "For: {purpose}."),
    "repaid": message("sms", "you repaid {amount}."),
    "charged": message("sms", "service charge {amount} added."),
    "rolled": message("sms", "loan not repaid by due date: {amount} added."),
    "loan_cleared": message("sms", "Loan fully repaid."),
    "balance_due": message("sms", "Loan balance {owed}, due {due}."),
    "written_off": message("sms", "the group wrote off your loan balance of {amount}."),
    "left": message("sms", "you left the group."),
    "exit_owed": message("sms", "Savings {savings} less loan {owed}: {payout} paid to you."),
    "exit_paid": message("sms", "{payout} paid to you."),
    "reversed": message("sms", "the entry of {day} ({what}, {amount}) was cancelled by {by}."),
    "reversed_nothing": message("sms", "the entry of {day} ({what}) was cancelled by {by}."),
    "recorded": message("sms", "{what} {amount} recorded."),
    "by_treasurer": message("sms", "the treasurer"),
    "by_staff": message("sms", "programme staff"),
    "statement": message("sms", "statement"),
    "box": message("sms", "Box: {loan_fund}, social fund bag {social}."),
    "social_total": message("sms", "Social fund paid {amount}."),
    "next_meeting": message("sms", "Next meeting {day}."),
    "grant": message("sms", "the programme granted {amount} to the group's loan fund."),
    "share_out": plural("sms", "share-out: {n} share, {payout} paid to you.",
                        "share-out: {n} shares, {payout} paid to you."),
    "per_share": message("sms", "A share is worth {value}."),
    "reminder": message("sms", "reminder"),
    "reminder_due": message("sms", "your loan of {amount} is due {due}. Please repay at the meeting."),
    "loan_head": message("sms", "loan"),
    "lang_set": message("sms", "Your messages will now be in English."),
    "help": message("sms", "Send BAL for your statement, LOAN for your loan, LANG EN, SW or AR to "
                           "change language."),
    "stranger": message("sms", "This number is not in a savings group. Ask your group's treasurer "
                               "to register it."),
}

# The compact form (an Arabic text that would take a third UCS-2 part) uses these shorter words
# and leaves out "No loan.".
COMPACT: Final[dict[str, Message]] = {
    "box": message("sms", "Box {loan_fund}, social {social}."),
    "shares_total": plural("sms", "Shares {n}={savings}.", "Shares {n}={savings}."),
}

# An entry's kind as a text names it ("the entry of 14 Nov (shares, KES 300)...").
KINDS: Final[dict[str, Message]] = {
    "share_purchase": message("sms kind", "shares"),
    "social_fund": message("sms kind", "social fund"),
    "fine": message("sms kind", "fine"),
    "welfare": message("sms kind", "welfare"),
    "loan": message("sms kind", "loan"),
    "repayment": message("sms kind", "repayment"),
    "service_charge": message("sms kind", "service charge"),
    "rollover": message("sms kind", "service charge"),
    "write_off": message("sms kind", "write-off"),
    "member_exit": message("sms kind", "exit"),
    "share_out": message("sms kind", "share-out"),
    "entry": message("sms kind", "entry"),
}
