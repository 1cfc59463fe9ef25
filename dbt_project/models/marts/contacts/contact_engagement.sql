{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        order_by='(account_id, contact_id)',
        pre_hook="{{ refresh_keys_pre('contact_id', contact_engagement_refresh_keys()) }}",
        post_hook="{{ refresh_keys_post('contact_id', rewrite=true) }}",
    )
}}
{#-
  Per contact: last human open and click, a recency bucket and an engagement score.
  Recency is measured from var as_of (default: the run's start), kept in measured_at. Buckets:
  engaged_7d, engaged_30d, engaged_90d (days since the last human open or click), dormant
  (longer ago), never. Score 0-100 = 100 × min(1, (human-opened sends + 2 × clicked sends) /
  delivered sends) × recency weight (1, 0.7, 0.4, 0.1, 0 for the buckets in that order).
  Incremental by contact (macros/mart_refresh.sql): a refresh rebuilds the contacts whose sends
  changed or left, those new, changed or gone in dim_contacts, and those whose days since
  engaged changed since their row was measured, so every row holds what a full build at this
  run's as_of holds (measured_at says when the row's own values were computed).
-#}
with contacts as (
    select * from {{ ref('dim_contacts') }}
    {% if is_incremental() %}
    where {{ refreshed_keys('contact_id') }}
    {% endif %}
),

sends as (
    select * from {{ ref('fct_email_sends') }}
    {% if is_incremental() %}
    where {{ refreshed_keys('contact_id') }}
    {% endif %}
),

per_contact as (
    select
        contact_id,
        count() as sends,
        countIf(is_delivered) as delivered,
        countIf(is_human_opened) as human_opened_sends,
        countIf(is_clicked) as clicked_sends,
        maxOrNull(last_opened_at) as last_opened_at,
        maxOrNull(last_human_opened_at) as last_human_opened_at,
        maxOrNull(last_clicked_at) as last_clicked_at
    from sends
    group by contact_id
),

joined as (
    select
        contacts.contact_id as contact_id,
        contacts.account_id as account_id,
        coalesce(per_contact.sends, 0) as sends,
        coalesce(per_contact.delivered, 0) as delivered,
        coalesce(per_contact.human_opened_sends, 0) as human_opened_sends,
        coalesce(per_contact.clicked_sends, 0) as clicked_sends,
        per_contact.last_opened_at as last_opened_at,
        per_contact.last_human_opened_at as last_human_opened_at,
        per_contact.last_clicked_at as last_clicked_at,
        case
            when per_contact.last_human_opened_at is null then per_contact.last_clicked_at
            when per_contact.last_clicked_at is null then per_contact.last_human_opened_at
            else greatest(per_contact.last_human_opened_at, per_contact.last_clicked_at)
        end as last_engaged_at
    from contacts
    left join per_contact on per_contact.contact_id = contacts.contact_id
),

scored as (
    select
        *,
        {{ engagement_as_of() }} as as_of,
        dateDiff('day', last_engaged_at, as_of) as days_since_engaged,
        multiIf(
            last_engaged_at is null, 'never',
            days_since_engaged <= 7, 'engaged_7d',
            days_since_engaged <= 30, 'engaged_30d',
            days_since_engaged <= 90, 'engaged_90d',
            'dormant'
        ) as recency_bucket
    from joined
),

final as (
    select
        -- ids
        contact_id,
        account_id,
        -- dimensions
        recency_bucket,
        -- measures
        sends,
        delivered,
        human_opened_sends,
        clicked_sends,
        days_since_engaged,
        toUInt8(round(
            100 * least(1, (human_opened_sends + 2 * clicked_sends) / greatest(delivered, 1))
            * multiIf(
                recency_bucket = 'engaged_7d', 1.0,
                recency_bucket = 'engaged_30d', 0.7,
                recency_bucket = 'engaged_90d', 0.4,
                recency_bucket = 'dormant', 0.1,
                0.0
            )
        )) as engagement_score,
        -- timestamps
        last_opened_at,
        last_human_opened_at,
        last_clicked_at,
        last_engaged_at,
        as_of as measured_at,
        -- lineage: the run that built this row
        {{ run_stamp() }} as built_at
    from scored
)

select * from final
