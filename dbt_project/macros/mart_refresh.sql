{#-
  Keyed incremental refresh of the marts downstream of fct_email_sends (the hooks themselves:
  macros/refresh_keys.sql). Each macro here returns the SQL of a model's refresh keys, run by
  its pre-hook against the state before the run.
-#}

{% macro engagement_as_of() -%}
    {#- the instant recency is measured from: var as_of, else the run's start (one instant for
        the pre-hook's checks and the model's rows) -#}
    {%- if var('as_of') -%}
        toDateTime64('{{ var("as_of") }}', 3, 'UTC')
    {%- else -%}
        toDateTime64('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}', 3, 'UTC')
    {%- endif -%}
{%- endmacro %}

{% macro contact_engagement_refresh_keys() -%}
    {#-
      The contacts contact_engagement rebuilds: those of sends built since its last build (new
      or changed sends); those whose stored count of sends no longer matches (sends gone, so no
      send of theirs is newer); those new in dim_contacts, gone from it (deleted, erased) or
      moved to another account; and those whose days since engaged differ at this run's as_of
      (their recency bucket and score age with the clock). Every other contact's row is what a
      full build at this as_of computes, but for measured_at. A table built before the model
      was keyed (no built_at) gets the column and every contact is rebuilt
      (keyed_table_upgrade).
    -#}
    {%- if keyed_table_upgrade() %}
    select contact_id from {{ ref('dim_contacts') }}
    union all
    select contact_id from {{ this }}
    {%- else -%}
    {%- set gone = sends_gone('contact_id', 'contact_id', only_stored=true) -%}
    with mark as (
        select max(built_at) as built from {{ this }}
    ),

    stored as (
        select contact_id, account_id, sends, days_since_engaged, last_engaged_at
        from {{ this }}
    ),

    current_sends as (
        select contact_id, count() as sends from {{ ref('fct_email_sends') }} group by contact_id
    ),

    contacts as (
        select contact_id, account_id from {{ ref('dim_contacts') }}
    )

    select contact_id from {{ ref('fct_email_sends') }}
    where built_at > (select built from mark)
    {%- if gone %}
    union all
    select stored.contact_id as contact_id
    from stored
    left join current_sends on current_sends.contact_id = stored.contact_id
    where coalesce(current_sends.sends, 0) != stored.sends
    {%- endif %}
    union all
    select if(contacts.contact_id is null, stored.contact_id, contacts.contact_id) as contact_id
    from contacts
    full outer join stored on stored.contact_id = contacts.contact_id
    where contacts.contact_id is null
        or stored.contact_id is null
        or contacts.account_id != stored.account_id
    union all
    select contact_id from stored
    where last_engaged_at is not null
        and dateDiff('day', last_engaged_at, {{ engagement_as_of() }}) != days_since_engaged
    {%- endif %}
{%- endmacro %}

{% macro campaign_performance_hourly_refresh_keys() -%}
    {#-
      The campaigns campaign_performance_hourly rebuilds (sends_rollup_refresh_keys). A table
      built before it had the measures campaign_performance reads from it, or before it was
      keyed (no built_at), gets them (zero, null) and every campaign is rebuilt, so no row keeps
      those zeros (keyed_table_upgrade).
    -#}
    {#- (name, type, after), in the model's order: each goes after the one before it (dbt
        inserts by position), the first after unsubscribed -#}
    {%- set added = [] -%}
    {%- set ns = namespace(after='unsubscribed') -%}
    {%- for name, type in [
        ('hard_bounced', 'UInt64'), ('machine_only_opens', 'UInt64'), ('total_opens', 'UInt64'),
        ('unique_human_open_clicks', 'UInt64'), ('total_clicks', 'UInt64'),
        ('first_sent_at', "Nullable(DateTime64(6, 'UTC'))"),
        ('last_sent_at', "Nullable(DateTime64(6, 'UTC'))"),
        ('built_at', "DateTime64(6, 'UTC')"),
    ] -%}
        {%- do added.append((name, type, ns.after)) -%}
        {%- set ns.after = name -%}
    {%- endfor -%}
    {{ sends_rollup_refresh_keys('campaign_id', 'campaign_id', added) }}
{%- endmacro %}
