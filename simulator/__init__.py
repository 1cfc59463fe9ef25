"""The ESP simulator of the local stack: mail the SMTP sink accepted comes back as ESP events.

`python -m simulator` watches the sink's Maildir. For every new message it draws an outcome
(seeded per message, so a seed replays the same run) from per-mailbox-provider rates and
posts it back the way a real ESP and real recipients would: SendGrid's signed event webhook
batches (delivered, deferred, bounce, spamreport) to the ingestion receiver, and opens, clicks
and one-click unsubscribes through the tracking URLs found in the message itself. What it
posted is counted in a JSON ledger under its state dir. Only the local stack starts it.

Imports only `murmur` (and never another app), like `ingestion/`.
"""
