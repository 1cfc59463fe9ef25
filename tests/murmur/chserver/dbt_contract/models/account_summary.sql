{{ config(materialized='table', order_by='account_id') }}

select
    account_id,
    count() as events,
    countIf(kind = 'open') as opens
from {{ ref('stg_events') }}
group by account_id
