-- Send ledger queries, loaded by name (`sender.queries.load("ledger")`).

-- name: claim-batch
-- Claim up to :batch_size rows of one shard: queued ones, and sending ones whose lease lapsed
-- (a crashed worker's; marked possible_duplicate). Other workers skip the locked rows. No
-- ORDER BY: sorting would read every open row of the campaign at each claim (10,000 rows read
-- and sorted to take 500, quadratic over a large campaign); without it the scan stops once the
-- batch is locked. The worker orders its batch itself.
with picked as (
    select email_record_id, status = 'sending' as reclaimed
    from emails
    where campaign_id = :campaign_id
      and (status = 'queued' or (status = 'sending' and lease_until < now()))
      and mod(email_record_id, :shards) = :shard
    limit :batch_size
    for update skip locked
)
update emails e
set status = 'sending',
    lease_until = now() + make_interval(secs => :lease_seconds),
    attempts = e.attempts + 1,
    possible_duplicate = e.possible_duplicate or picked.reclaimed
from picked
where e.campaign_id = :campaign_id and e.email_record_id = picked.email_record_id
returning e.email_record_id, e.contact_id, e.attempts, picked.reclaimed;

-- name: batch-contacts
select contact_id, email, first_name, last_name, custom_fields
from contacts
where account_id = :account_id and contact_id = any(cast(:contact_ids as bigint[]));

-- name: mark-sent
-- :esp is the ESP's label: a configured ESP's name (esp_id found from it) or platform:<kind>.
update emails e
set status = 'sent', esp = :esp, esp_message_id = v.message_id, sent_at = now(),
    lease_until = null, error = null,
    esp_id = (select s.esp_id from esps s where s.account_id = e.account_id and s.name = :esp)
from unnest(cast(:ids as bigint[]), cast(:message_ids as text[])) as v(id, message_id)
where e.campaign_id = :campaign_id and e.email_record_id = v.id and e.status = 'sending';

-- name: mark-failed
update emails e
set status = 'failed', esp = nullif(:esp, ''), error = v.reason, lease_until = null,
    esp_id = (select s.esp_id from esps s where s.account_id = e.account_id and s.name = :esp)
from unnest(cast(:ids as bigint[]), cast(:reasons as text[])) as v(id, reason)
where e.campaign_id = :campaign_id and e.email_record_id = v.id and e.status = 'sending';

-- name: release
-- Give claimed but unsent rows back (SIGTERM, cancel): nothing was sent, so no duplicate.
update emails
set status = 'queued', lease_until = null
where campaign_id = :campaign_id and status = 'sending'
  and email_record_id = any(cast(:ids as bigint[]));

-- name: skip-queued
update emails
set status = 'skipped', error = :reason
where campaign_id = :campaign_id and status = 'queued';

-- name: campaign-status
select status from campaigns where campaign_id = :campaign_id;

-- name: set-status-reason
update campaigns set status_reason = :reason, updated_at = now()
where campaign_id = :campaign_id;

-- name: extend-lease
-- A worker still busy with its batch keeps its claim (no one else may retry these rows yet).
update emails
set lease_until = now() + make_interval(secs => :lease_seconds)
where campaign_id = :campaign_id and status = 'sending'
  and email_record_id = any(cast(:ids as bigint[]));
