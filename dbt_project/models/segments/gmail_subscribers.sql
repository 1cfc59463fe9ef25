{#- A SQL segment: subscribed, unsuppressed contacts whose mailbox is at Gmail. -#}
with contacts as (
    select * from {{ ref('dim_contacts') }}
),

final as (
    select
        account_id,
        contact_id
    from contacts
    where mailbox_provider = 'Gmail'
        and contact_status = 'subscribed'
        and not is_suppressed
)

select * from final
