{{ config(order_by='(account_id, contact_id)') }}
{#-
  Per contact: last human open and click, a recency bucket and an engagement score.
  Recency is measured from var as_of (default now). Buckets: engaged_7d, engaged_30d,
  engaged_90d (days since the last human open or click), dormant (longer ago), never.
  Score 0-100 = 100 × min(1, (human-opened sends + 2 × clicked sends) / delivered sends)
  × recency weight (1, 0.7, 0.4, 0.1, 0 for the buckets in that order).
-#}
with contacts as (
    select * from {{ ref('dim_contacts') }}
),

sends as (
    select * from {{ ref('fct_email_sends') }}
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
        {% if var('as_of') %}
        toDateTime64('{{ var("as_of") }}', 3, 'UTC')
        {% else %}
        now64(3, 'UTC')
        {% endif %} as as_of,
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
        as_of as measured_at
    from scored
)

select * from final
