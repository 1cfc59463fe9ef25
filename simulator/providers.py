"""Mailbox provider profiles: how each one scales the rates, and what its MTAs answer.

The diagnostics are the SMTP replies each provider really gives (trimmed), so a bounce report
in the dashboards reads like one from production.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    hard: float = 1.0  # multipliers of the base rates
    soft: float = 1.0
    deferral: float = 1.0
    complaint: float = 1.0
    open: float = 1.0
    apple_mpp: bool = False  # opens are prefetched by Apple's proxy, people's opens hidden
    hard_bounce: tuple[str, str] = ("5.1.1", "550 5.1.1 <{rcpt}>: Recipient address rejected")
    soft_bounce: tuple[str, str] = ("4.2.2", "452 4.2.2 <{rcpt}>: Mailbox is full")
    deferral_reply: str = "421 4.7.0 Try again later"
    delivered_reply: str = "250 2.0.0 OK"


GMAIL = Profile(
    "Gmail",
    hard=0.8,
    complaint=0.8,
    open=1.1,
    hard_bounce=(
        "5.1.1",
        "550 5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces. "
        "https://support.google.com/mail/?p=NoSuchUser",
    ),
    soft_bounce=(
        "4.2.2",
        "452 4.2.2 The recipient's inbox is out of storage space and inactive. Please direct "
        "the recipient to https://support.google.com/mail/?p=OverQuotaTemp",
    ),
    deferral_reply="421 4.7.28 Gmail has detected an unusual rate of unsolicited mail "
    "originating from your IP address. To protect our users from spam, mail sent from your IP "
    "address has been temporarily rate limited. https://support.google.com/mail/?p=UnsolicitedRateLimitError",
    delivered_reply="250 2.0.0 OK  {stamp} {token}.{n} - gsmtp",
)
YAHOO = Profile(
    "Yahoo",
    hard=1.2,
    deferral=2.0,
    complaint=2.0,
    open=0.8,
    hard_bounce=(
        "5.0.0",
        "554 delivery error: dd This user doesn't have a {domain} account ({rcpt}) [0] - "
        "mta4208.mail.gq1.yahoo.com",
    ),
    soft_bounce=("4.2.2", "452 4.2.2 Mailbox over quota - mta4208.mail.gq1.yahoo.com"),
    deferral_reply="421 4.7.0 [TSS04] Messages from 203.0.113.25 temporarily deferred due to "
    "unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    delivered_reply="250 ok dirdel",
)
OUTLOOK = Profile(
    "Outlook/Hotmail",
    deferral=1.5,
    complaint=1.5,
    open=0.9,
    hard_bounce=(
        "5.5.0",
        "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
        "[AM4PEPF00027A6C.eurprd04.prod.outlook.com]",
    ),
    soft_bounce=(
        "4.2.2",
        "452 4.2.2 The recipient's mailbox is full and can't accept messages now. "
        "[DB5PEPF00014B9A.eurprd02.prod.outlook.com]",
    ),
    deferral_reply="451 4.7.650 The mail server [203.0.113.25] has been temporarily rate "
    "limited due to IP reputation. For e-mail delivery information, see "
    "https://postmaster.live.com (S775)",
    delivered_reply="250 2.6.0 <{message_id}> [InternalId=1082331449421] Queued mail for delivery",
)
APPLE = Profile(
    "Apple iCloud",
    hard=0.6,
    apple_mpp=True,
    hard_bounce=("5.1.1", "550 5.1.1 <{rcpt}>: user does not exist"),
    soft_bounce=("4.2.2", "452 4.2.2 <{rcpt}>: mailbox full"),
    deferral_reply="421 4.7.0 Message deferred: too many messages from 203.0.113.25 (CS01)",
    delivered_reply="250 2.0.0 Ok: queued as 4Xk2Lm0Qb3z9pQ",
)
CORPORATE = Profile(
    "Other",
    hard=1.75,
    soft=2.0,
    complaint=0.3,
    open=0.8,
    hard_bounce=(
        "5.1.1",
        "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table",
    ),
    soft_bounce=("4.2.2", "452 4.2.2 <{rcpt}>: Recipient address rejected: Mailbox is full"),
    deferral_reply="450 4.7.1 <{rcpt}>: Recipient address rejected: greylisted, try again later",
    delivered_reply="250 2.0.0 Ok: queued as 3F2A61C0B4",
)
_BY_DOMAIN = {
    **dict.fromkeys(("gmail.com", "googlemail.com"), GMAIL),
    **dict.fromkeys(("yahoo.com", "ymail.com", "rocketmail.com", "aol.com"), YAHOO),
    **dict.fromkeys(("outlook.com", "hotmail.com", "live.com", "msn.com"), OUTLOOK),
    **dict.fromkeys(("icloud.com", "me.com", "mac.com"), APPLE),
}
PROFILES: tuple[Profile, ...] = (GMAIL, YAHOO, OUTLOOK, APPLE, CORPORATE)


def profile_for(domain: str) -> Profile:
    """The provider of a recipient domain; any other domain is a corporate mail server."""
    low = domain.lower()
    if low.startswith(("yahoo.", "hotmail.", "outlook.")):
        return YAHOO if low.startswith("yahoo.") else OUTLOOK
    return _BY_DOMAIN.get(low, CORPORATE)
