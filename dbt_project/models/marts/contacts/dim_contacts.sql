{#- tag static: it reads only sources and seeds, so a refresh that finds them as this model's last
    build left them does not build it again (pipelines/lib/dbt/unchanged.py) -#}
{{ config(order_by='(account_id, contact_id)', tags=['static']) }}

with contacts as (
    select * from {{ ref('stg_postgres__contacts') }}
),

suppressions as (
    select * from {{ ref('stg_postgres__suppressions') }}
),

providers as (
    select * from {{ ref('mailbox_providers') }}
),

suppressed as (
    select account_id, email_sha256, groupArray(suppression_reason) as suppression_reasons
    from suppressions
    group by account_id, email_sha256
),

final as (
    select
        -- ids
        contacts.contact_id as contact_id,
        contacts.account_id as account_id,
        -- dimensions
        contacts.email_sha256 as email_sha256,
        contacts.email_domain as email_domain,
        coalesce(providers.mailbox_provider, 'Other') as mailbox_provider,
        contacts.contact_status as contact_status,
        contacts.consent_source as consent_source,
        contacts.custom_fields as custom_fields,
        suppressed.email_sha256 is not null as is_suppressed,
        coalesce(suppressed.suppression_reasons, []) as suppression_reasons,
        -- timestamps
        contacts.consent_at as consent_at,
        contacts.created_at as created_at,
        contacts.updated_at as updated_at
    from contacts
    left join providers on providers.domain = contacts.email_domain
    left join suppressed
        on suppressed.account_id = contacts.account_id
        and suppressed.email_sha256 = contacts.email_sha256
)

select * from final
