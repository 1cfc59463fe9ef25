-- Shared token buckets (`rate_buckets`), loaded by name (`sender.queries.query("ratelimit", …)`).

-- name: ensure-bucket
insert into rate_buckets (bucket, tokens, updated_at)
values (:bucket, :burst, clock_timestamp())
on conflict (bucket) do nothing;

-- name: lease
-- Refill the bucket for the time since its last lease (rate × factor, capped at the burst),
-- then grant up to :want tokens, or none when fewer than :min_grant are there (the caller
-- waits), under the row lock: every worker of every shard leases from the same row.
with t as (select clock_timestamp() as now),
cur as (
    select b.bucket, b.factor,
           least(:burst, b.tokens + :rate * b.factor
                 * greatest(0, extract(epoch from t.now - b.updated_at))) as avail
    from rate_buckets b, t
    where b.bucket = :bucket
    for update of b
),
g as (
    select bucket, factor, avail,
           case when avail >= :min_grant then least(floor(avail), :want) else 0 end as granted
    from cur
)
update rate_buckets r
set tokens = g.avail - g.granted, updated_at = (select now from t)
from g
where r.bucket = g.bucket
returning g.granted, g.avail, g.factor;

-- name: factor
select factor, factor_changed_at from rate_buckets where bucket = :bucket;

-- name: set-factor
-- Change the adaptive factor unless another worker changed it less than :min_interval ago.
update rate_buckets
set factor = :new_factor, factor_changed_at = clock_timestamp()
where bucket = :bucket and factor = :old_factor
  and (factor_changed_at is null
       or factor_changed_at < clock_timestamp() - make_interval(secs => :min_interval))
returning factor_changed_at;

-- name: log-change
insert into rate_limit_changes (bucket, old_factor, new_factor, reason)
values (:bucket, :old_factor, :new_factor, :reason)
returning change_id, changed_at;
