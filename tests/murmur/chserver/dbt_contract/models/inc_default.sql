{{ config(materialized='incremental', unique_key='event_id', order_by='event_id') }}

select * from {{ ref('stg_events') }}
{% if is_incremental() %}
where event_id > (select max(event_id) from {{ this }})
{% endif %}
