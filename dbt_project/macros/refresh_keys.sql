{#-
  Keyed incremental refresh (see README "Incremental refresh"): a model whose rows are rebuilt
  per key (a send, a contact) computes, in a pre-hook and against the state before the run, the
  keys this run rebuilds into `<model>__refresh_keys`; the model's incremental SQL selects the
  rows of those keys only and is appended (incremental_strategy 'append'); the post-hook deletes
  the older rows of those keys (every row carries the run's `built_at`), so a key whose row must
  disappear (a deleted ledger row) disappears too. A full build creates the table and skips both
  hooks.
-#}

{% macro run_stamp() -%}
    {#- the invocation's start (UTC) as DateTime64(6): every row a run writes carries it -#}
    toDateTime64('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}', 6, 'UTC')
{%- endmacro %}

{% macro refresh_keys_relation() -%}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__refresh_keys"})) }}
{%- endmacro %}

{% macro refresh_keys_pre(key, keys_sql) %}
    {#- pre-hook: (re)create the key table from keys_sql; renders no SQL of its own -#}
    {% if execute and is_incremental() %}
        {% set keys = refresh_keys_relation() %}
        {% do run_query("drop table if exists " ~ keys) %}
        {% do run_query(
            "create table " ~ keys ~ " engine = Memory as select distinct " ~ key
            ~ " from (" ~ keys_sql ~ ") where " ~ key ~ " is not null"
            ~ " settings join_use_nulls = 1"
        ) %}
    {% endif %}
{% endmacro %}

{% macro refresh_keys_post(key) %}
    {#- post-hook: drop the rows of the refreshed keys that this run did not write, then the keys -#}
    {% if execute and is_incremental() %}
        {% set keys = refresh_keys_relation() %}
        {% set stale_where = key ~ " in (select " ~ key ~ " from " ~ keys ~ ") and built_at != "
            ~ run_stamp() %}
        {% set stale = run_query("select count() from " ~ this ~ " where " ~ stale_where) %}
        {% if stale.rows[0][0] > 0 %}
            {% do run_query("delete from " ~ this ~ " where " ~ stale_where) %}
        {% endif %}
        {% do run_query("drop table if exists " ~ keys) %}
    {% endif %}
{% endmacro %}

{% macro refreshed_keys(key) -%}
    {#- in a model's incremental SQL: `key in (the keys of this run)` -#}
    {{ key }} in (select {{ key }} from {{ refresh_keys_relation() }})
{%- endmacro %}

{% macro outcomes_refresh_keys() -%}
    {#-
      The sends of int_email_sends__outcomes a refresh rebuilds: those with an event ingested
      since the last build, and those of every other copy of such an event. "Since" is the
      newest event already built, or the last build's start minus var ingest_lag_seconds when
      earlier (an event stamped just before a build may become visible just after it).
    -#}
    with mark as (
        select least(
            max(last_ingested_at),
            max(built_at) - toIntervalSecond({{ var('ingest_lag_seconds') }})
        ) as since
        from {{ this }}
    ),

    new_events as (
        select event_id from {{ ref('stg_ingestion__email_events') }}
        where ingested_at > (select since from mark)
    )

    select email_record_id
    from {{ ref('stg_ingestion__email_events') }}
    where event_id in (select event_id from new_events)
{%- endmacro %}

{% macro fct_email_sends_refresh_keys() -%}
    {#-
      The sends of fct_email_sends a refresh rebuilds: outcomes rebuilt since its last build or
      gone; ledger rows replicated after the newest replication stamp already built, or with
      that stamp but not built in that version (the replication may still have been writing
      rows with it; replications of one database do not overlap), or gone; sends whose stored
      sending domain, recipient domain (of a contact with a domain) or mailbox provider no
      longer matches the campaigns, accounts, contacts or the mailbox_providers seed.
    -#}
    with mark as (
        select max(built_at) as built, max(ledger_synced_at) as synced from {{ this }}
    ),

    built as (
        select
            email_record_id, account_id, campaign_id, contact_id, has_events,
            recipient_domain, mailbox_provider, sending_domain, ledger_synced_at
        from {{ this }}
    ),

    outcomes as (
        select email_record_id, built_at from {{ ref('int_email_sends__outcomes') }}
    ),

    raw_ledger as (
        select email_record_id, _synced_at from {{ source('postgres', 'raw_emails') }}
    ),

    stale_sending_domains as (
        select stored.account_id as account_id, stored.campaign_id as campaign_id
        from (
            select account_id, campaign_id, sending_domain
            from built
            group by account_id, campaign_id, sending_domain
        ) as stored
        left join {{ ref('stg_postgres__campaigns') }} as campaigns
            on campaigns.campaign_id = stored.campaign_id
        left join {{ ref('stg_postgres__accounts') }} as accounts
            on accounts.account_id = stored.account_id
        where coalesce(campaigns.sending_domain, accounts.default_sending_domain, 'unknown')
            != stored.sending_domain
    ),

    stale_contact_domains as (
        select stored.contact_id as contact_id
        from (
            select contact_id, recipient_domain from built group by contact_id, recipient_domain
        ) as stored
        inner join {{ ref('stg_postgres__contacts') }} as contacts
            on contacts.contact_id = stored.contact_id
        where contacts.email_domain is not null
            and contacts.email_domain != coalesce(stored.recipient_domain, '')
    ),

    stale_providers as (
        select stored.recipient_domain as recipient_domain
        from (
            select recipient_domain, mailbox_provider
            from built
            group by recipient_domain, mailbox_provider
        ) as stored
        left join {{ ref('mailbox_providers') }} as providers
            on providers.domain = stored.recipient_domain
        where coalesce(providers.mailbox_provider, 'Other') != stored.mailbox_provider
    )

    select email_record_id from outcomes where built_at > (select built from mark)
    union all
    select email_record_id from built
    where has_events and email_record_id not in (select email_record_id from outcomes)
    union all
    select email_record_id from raw_ledger
    where _synced_at > (select synced from mark)
        or (
            _synced_at = (select synced from mark)
            and (email_record_id, _synced_at) not in (
                select email_record_id, ledger_synced_at from built
                where ledger_synced_at = (select synced from mark)
            )
        )
    union all
    select email_record_id from built
    where email_record_id not in (select email_record_id from raw_ledger)
    union all
    select email_record_id from built
    where (account_id, campaign_id) in (select account_id, campaign_id from stale_sending_domains)
    union all
    select email_record_id from built
    where contact_id in (select contact_id from stale_contact_domains)
    union all
    select email_record_id from built
    where recipient_domain in (select recipient_domain from stale_providers)
{%- endmacro %}

{% macro sends_rollup_refresh_keys(key, key_expr) -%}
    {#-
      The keys of a rollup of fct_email_sends (rows per `key`, `key_expr` over a send, with a
      `sends` count) that a refresh rebuilds: those of sends built since the rollup's last build
      (new or changed sends), and those whose stored `sends` no longer match their count of
      sends (sends gone). Exact because every send counts in `sends`: a send's sent_at is never
      null (the ledger's queued_at at least). Runs after fct_email_sends in the same build.
    -#}
    with mark as (
        select max(built_at) as built from {{ this }}
    ),

    current_totals as (
        select {{ key_expr }} as k, count() as sends
        from {{ ref('fct_email_sends') }}
        group by k
    ),

    stored_totals as (
        select {{ key }} as k, sum(sends) as sends from {{ this }} group by k
    )

    select {{ key_expr }} as {{ key }}
    from {{ ref('fct_email_sends') }}
    where built_at > (select built from mark)
    union all
    select if(current_totals.k is null, stored_totals.k, current_totals.k) as {{ key }}
    from current_totals
    full outer join stored_totals on current_totals.k = stored_totals.k
    where current_totals.k is null
        or stored_totals.k is null
        or current_totals.sends != stored_totals.sends
{%- endmacro %}
