{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        order_by='(account_id, campaign_id, email_record_id)',
        pre_hook="{{ fct_email_sends_refresh_pre() }}",
        post_hook="{{ fct_email_sends_refresh_post() }}",
    )
}}
{#-
  One row per send (the seed's Emails entity): a ledger row that was sent, or is being sent, or
  that events already speak of. `status` follows the seed's vocabulary, the furthest the send got:
  clicked > opened > bounced > delivered > sent (a machine open counts as opened).
  Incremental by send (macros/refresh_keys.sql): a refresh rebuilds the sends whose outcome, ledger
  row, campaign or account sending domain, contact domain or mailbox provider changed since the
  last build (fct_email_sends_refresh_keys), and drops those that left the ledger; the checks of
  source tables unchanged since the last refresh are left out (fct_email_sends_refresh_pre).
-#}
-- depends_on: {{ source('postgres', 'raw_emails') }}
with ledger as (
    select * from {{ ref('stg_postgres__emails') }}
    {% if is_incremental() %}
    where {{ refreshed_keys('email_record_id') }}
    {% endif %}
),

outcomes as (
    select * from {{ ref('int_email_sends__outcomes') }}
    {% if is_incremental() %}
    where {{ refreshed_keys('email_record_id') }}
    {% endif %}
),

campaigns as (
    select * from {{ ref('stg_postgres__campaigns') }}
),

accounts as (
    select * from {{ ref('stg_postgres__accounts') }}
),

contacts as (
    select * from {{ ref('stg_postgres__contacts') }}
    {% if is_incremental() %}
    where contact_id in (select contact_id from ledger)
    {% endif %}
),

providers as (
    select * from {{ ref('mailbox_providers') }}
),

sends as (
    select
        ledger.email_record_id as email_record_id,
        ledger.account_id as account_id,
        ledger.campaign_id as campaign_id,
        ledger.contact_id as contact_id,
        ledger.ledger_status as ledger_status,
        ledger.esp as esp,
        ledger.queued_at as queued_at,
        ledger.sent_at as sent_at,
        ledger.synced_at as ledger_synced_at,
        outcomes.email_record_id is not null as has_events,
        outcomes.bounce_type as bounce_type,
        outcomes.is_delivered as is_delivered,
        outcomes.is_bounced as is_bounced,
        outcomes.is_hard_bounced as is_hard_bounced,
        outcomes.is_opened as is_opened,
        outcomes.is_human_opened as is_human_opened,
        outcomes.is_clicked as is_clicked,
        outcomes.is_complained as is_complained,
        outcomes.is_unsubscribed as is_unsubscribed,
        outcomes.open_count as open_count,
        outcomes.machine_open_count as machine_open_count,
        outcomes.click_count as click_count,
        outcomes.first_send_event_at as first_send_event_at,
        outcomes.first_delivered_at as first_delivered_at,
        outcomes.bounced_at as bounced_at,
        outcomes.first_opened_at as first_opened_at,
        outcomes.first_human_opened_at as first_human_opened_at,
        outcomes.last_opened_at as last_opened_at,
        outcomes.last_human_opened_at as last_human_opened_at,
        outcomes.first_clicked_at as first_clicked_at,
        outcomes.last_clicked_at as last_clicked_at,
        outcomes.first_complained_at as first_complained_at,
        outcomes.first_unsubscribed_at as first_unsubscribed_at,
        coalesce(contacts.email_domain, outcomes.event_recipient_domain) as recipient_domain,
        coalesce(campaigns.sending_domain, accounts.default_sending_domain) as sending_domain
    from ledger
    left join outcomes on outcomes.email_record_id = ledger.email_record_id
    left join campaigns on campaigns.campaign_id = ledger.campaign_id
    left join accounts on accounts.account_id = ledger.account_id
    left join contacts on contacts.contact_id = ledger.contact_id
    where ledger.ledger_status in ('sending', 'sent') or outcomes.email_record_id is not null
),

final as (
    select
        -- ids
        sends.email_record_id as email_record_id,
        sends.account_id as account_id,
        sends.campaign_id as campaign_id,
        sends.contact_id as contact_id,
        -- dimensions
        sends.ledger_status as ledger_status,
        sends.esp as esp,
        sends.recipient_domain as recipient_domain,
        coalesce(providers.mailbox_provider, 'Other') as mailbox_provider,
        coalesce(sends.sending_domain, 'unknown') as sending_domain,
        sends.bounce_type as bounce_type,
        case
            when coalesce(sends.is_clicked, false) then 'clicked'
            when coalesce(sends.is_opened, false) then 'opened'
            when coalesce(sends.is_bounced, false) then 'bounced'
            when coalesce(sends.is_delivered, false) then 'delivered'
            else 'sent'
        end as status,
        -- flags
        sends.has_events as has_events,
        coalesce(sends.is_delivered, false) as is_delivered,
        coalesce(sends.is_bounced, false) as is_bounced,
        coalesce(sends.is_hard_bounced, false) as is_hard_bounced,
        coalesce(sends.is_opened, false) as is_opened,
        coalesce(sends.is_human_opened, false) as is_human_opened,
        coalesce(sends.is_clicked, false) as is_clicked,
        coalesce(sends.is_complained, false) as is_complained,
        coalesce(sends.is_unsubscribed, false) as is_unsubscribed,
        -- measures
        coalesce(sends.open_count, 0) as open_count,
        coalesce(sends.machine_open_count, 0) as machine_open_count,
        coalesce(sends.click_count, 0) as click_count,
        -- timestamps
        sends.queued_at as queued_at,
        coalesce(sends.sent_at, sends.first_send_event_at, sends.queued_at) as sent_at,
        sends.first_delivered_at as delivered_at,
        sends.bounced_at as bounced_at,
        sends.first_opened_at as first_opened_at,
        sends.first_human_opened_at as first_human_opened_at,
        sends.last_opened_at as last_opened_at,
        sends.last_human_opened_at as last_human_opened_at,
        sends.first_clicked_at as first_clicked_at,
        sends.last_clicked_at as last_clicked_at,
        sends.first_complained_at as complained_at,
        sends.first_unsubscribed_at as unsubscribed_at,
        -- lineage: when the ledger row was replicated, and the run that built this row
        sends.ledger_synced_at as ledger_synced_at,
        {{ run_stamp() }} as built_at
    from sends
    left join providers on providers.domain = sends.recipient_domain
)

select * from final
