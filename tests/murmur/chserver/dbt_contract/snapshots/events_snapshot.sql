{% snapshot events_snapshot %}
{{ config(unique_key='event_id', strategy='check', check_cols=['kind']) }}

select * from {{ ref('raw_events') }}

{% endsnapshot %}
