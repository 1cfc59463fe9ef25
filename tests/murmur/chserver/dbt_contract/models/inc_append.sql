{{ config(materialized='incremental', incremental_strategy='append', order_by='event_id') }}

select * from {{ ref('stg_events') }}
{% if is_incremental() %}
where event_id > (select max(event_id) from {{ this }})
{% endif %}
