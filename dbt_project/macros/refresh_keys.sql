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

{% macro keyed_table_upgrade(added=none) -%}
    {#-
      In a keyed model's refresh keys: a table built before the model had the columns `added`
      ((name, type, after) in the model's order; `after`: the column it follows, none = last;
      default: `built_at`, last), e.g. a table built before the model was keyed, gets them,
      and true is returned: the caller then keys every row (a new column holds zeros or nulls,
      and `built_at` 1970, older than any run, so the post-hook deletes every older row).
      dbt's on_schema_change cannot do it: dbt-clickhouse applies it only to incremental
      strategies with a unique_key (these append), and after the pre-hooks, whose key queries
      read `built_at`. One look-up of the table's columns per refresh.
    -#}
    {%- set added = added if added is not none else [('built_at', "DateTime64(6, 'UTC')", none)] -%}
    {%- set missing = [] -%}
    {%- if execute and is_incremental() -%}
        {%- set have = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
        {%- for name, type, after in added if name not in have -%}
            {%- do missing.append(name) -%}
            {%- do run_query(
                "alter table " ~ this ~ " add column " ~ name ~ " " ~ type
                ~ (" after " ~ after if after else "")
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(missing | length > 0) }}
{%- endmacro %}

{% macro refresh_keys_relation() -%}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__refresh_keys"})) }}
{%- endmacro %}

{% macro refresh_keys_pre(key, keys_sql, comment='') %}
    {#- pre-hook: (re)create the key table from keys_sql (with `comment`); renders no SQL -#}
    {% if execute and is_incremental() %}
        {#- one statement: `create or replace` also replaces a table a failed run left -#}
        {% do run_query(
            "create or replace table " ~ refresh_keys_relation() ~ " engine = Memory comment '"
            ~ comment ~ "'"
            ~ " as select distinct " ~ key
            ~ " from (" ~ keys_sql ~ ") where " ~ key ~ " is not null"
            ~ " settings join_use_nulls = 1"
        ) %}
    {% endif %}
{% endmacro %}

{% macro refresh_keys_post(key, count_first=true, rewrite=false) %}
    {#-
      post-hook: drop the rows of the refreshed keys that this run did not write, then the keys.
      `count_first`: count those rows first and skip the delete when there are none (a delete
      finding nothing costs about what the count does, plus a mutation); a model whose refresh
      nearly always replaces older rows (its keys are sends already built) passes false and
      saves the count, one scan of the table's keys per refresh.
      `rewrite` (a small table: a rollup, one row per contact): instead of a lightweight delete,
      copy the rows kept into a new table and exchange it for the old one (rewrite_without).
      A delete is a mutation of every part, run by the server's background pool: on a server
      whose pool is busy merging (the events just ingested, say) it waited 0.03-1.2 s for a
      few rows; the copy of a small table takes what its size takes, and leaves one part
      without deleted rows. A large table keeps the delete, then drops its parts left without
      a row (drop_dead_parts).
    -#}
    {% if execute and is_incremental() %}
        {% if rewrite %}
            {#- the old table a run left when it stopped between its exchange and its drop: it
                may hold rows (and contact ids) that are gone from the model, and the next
                rewrite, which would replace it, waits for a stale row -#}
            {% do run_query("drop table if exists " ~ rewrite_copy()) %}
        {% endif %}
        {% set keys = refresh_keys_relation() %}
        {% set stale_where = key ~ " in (select " ~ key ~ " from " ~ keys ~ ") and built_at != "
            ~ run_stamp() %}
        {% if count_first %}
            {% set stale = run_query("select count() from " ~ this ~ " where " ~ stale_where) %}
        {% endif %}
        {% if not count_first or stale.rows[0][0] > 0 %}
            {% if rewrite %}
                {% do rewrite_without(stale_where) %}
            {% else %}
                {% do run_query("delete from " ~ this ~ " where " ~ stale_where) %}
            {% endif %}
        {% endif %}
        {% do run_query("drop table if exists " ~ keys) %}
        {% if not rewrite %}
            {% do drop_dead_parts() %}
        {% endif %}
    {% endif %}
{% endmacro %}

{% macro rewrite_copy() -%}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__rewrite"})) }}
{%- endmacro %}

{% macro rewrite_without(where) %}
    {#- `this` without the rows matching `where`: a copy of the others (same structure, engine,
        sorting key and settings) exchanged for it atomically (readers see one or the other) -#}
    {% set copy = rewrite_copy() %}
    {#- `or replace`: also replaces a copy a failed run left -#}
    {% do run_query("create or replace table " ~ copy ~ " as " ~ this) %}
    {% do run_query("insert into " ~ copy ~ " select * from " ~ this ~ " where not (" ~ where ~ ")") %}
    {% do run_query("exchange tables " ~ copy ~ " and " ~ this) %}
    {% do run_query("drop table if exists " ~ copy) %}
{% endmacro %}

{% macro drop_dead_parts() %}
    {#-
      Drop the parts of `this` whose every row a lightweight delete removed. A refresh that
      rebuilds most rows (the one after a full build, a day's re-scoring) leaves its large
      predecessor part holding only deleted rows; the server merges parts of similar sizes, so
      that part would stay, read by every scan and rewritten by every later delete, for good.
      Merges run meanwhile, so the part names are read first and the live rows' parts after:
      a part merged in between is missing from the second list but was never in the first, so
      it is never taken for dead (one statement reading both lists could read them in either
      order, and drop a merge's result holding live rows). A candidate is looked up again
      just before its drop and left alone when it is gone or being merged; one merged away in
      the last instant makes its drop fail (NO_SUCH_DATA_PART: nothing is dropped), and with
      it this run of the model, not the data.
    -#}
    {% set where = "database = '" ~ this.schema ~ "' and table = '" ~ this.identifier ~ "'" %}
    {% set named = run_query(
        "select name from system.parts where " ~ where ~ " and active and rows > 0"
    ) %}
    {% set live_parts = run_query("select _part from " ~ this ~ " group by _part") %}
    {% set live = [] %}
    {% for row in live_parts.rows %}
        {% do live.append(row[0]) %}
    {% endfor %}
    {% set candidates = [] %}
    {% for row in named.rows %}
        {% if row[0] not in live %}
            {% do candidates.append("'" ~ row[0] ~ "'") %}
        {% endif %}
    {% endfor %}
    {% if candidates %}
        {% set dead = run_query(
            "select name from system.parts where " ~ where ~ " and active"
            ~ " and name in (" ~ candidates | join(", ") ~ ")"
            ~ " and name not in (select arrayJoin(source_part_names) from system.merges"
            ~ " where " ~ where ~ ")"
        ) %}
        {% for row in dead.rows %}
            {% do run_query("alter table " ~ this ~ " drop part '" ~ row[0] ~ "'") %}
        {% endfor %}
    {% endif %}
{% endmacro %}

{% macro refreshed_keys(key) -%}
    {#- in a model's incremental SQL: `key in (the keys of this run)` -#}
    {{ key }} in (select {{ key }} from {{ refresh_keys_relation() }})
{%- endmacro %}

{% macro moved_events_relation() -%}
    {#- int_email_sends__outcomes__moved_events: the events whose copies name different sends -#}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__moved_events"})) }}
{%- endmacro %}

{% macro outcomes_refresh_pre() %}
    {#-
      Pre-hook of int_email_sends__outcomes. A full build drops the moved-events table; a
      refresh (re)creates it when missing (every event whose copies name more than one send,
      or a send and none: one pass over every event, once after a full build), then finds the
      copies of the events ingested since the last build (outcomes_new_copies), adds those of
      them that name different sends to the moved events, and keys the sends they name.
      The refresh then reads the events of its sends by email_record_id, plus every copy of
      the moved events: each event of a send is read with all its copies, so the latest copy
      wins exactly as in int_email_events__deduplicated, without looking up event ids.
    -#}
    {% if execute %}
        {% set moved = moved_events_relation() %}
        {% if not is_incremental() %}
            {% do run_query("drop table if exists " ~ moved) %}
        {% else %}
            {% set events = ref('stg_ingestion__email_events') %}
            {% if run_query("exists table " ~ moved).rows[0][0] | int == 0 %}
                {% do run_query(
                    "create table " ~ moved ~ " engine = MergeTree order by event_id as"
                    ~ " select event_id from " ~ events ~ " group by event_id"
                    ~ " having uniqExact(coalesce(email_record_id, -1)) > 1"
                ) %}
            {% endif %}
            {% set copies = this.incorporate(path={"identifier": this.identifier ~ "__new_copies"}) %}
            {% do run_query(
                "create or replace table " ~ copies ~ " engine = Memory as "
                ~ outcomes_new_copies()
            ) %}
            {% do run_query(
                "insert into " ~ moved ~ " select event_id from " ~ copies ~ " group by event_id"
                ~ " having uniqExact(coalesce(email_record_id, -1)) > 1"
            ) %}
            {{ refresh_keys_pre('email_record_id', 'select email_record_id from ' ~ copies) }}
            {% do run_query("drop table if exists " ~ copies) %}
        {% endif %}
    {% endif %}
{% endmacro %}

{% macro outcomes_new_copies() -%}
    {#-
      Every copy (event_id, email_record_id) of the events ingested since the last build of
      int_email_sends__outcomes. "Since" is the newest event already built, or the last build's
      start minus var ingest_lag_seconds when earlier (an event stamped just before a build may
      become visible just after it).
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

    select event_id, email_record_id
    from {{ ref('stg_ingestion__email_events') }}
    where event_id in (select event_id from new_events)
{%- endmacro %}

{% macro input_states(names) %}
    {#-
      Per table of `names` (current database): a fingerprint of its data, its UUID and active
      parts (name, rows): every insert, merge, mutation, lightweight delete, truncate or
      re-creation changes it. A table outside the MergeTree family gets a new one every time
      (it always counts as changed). Returns a dict name -> fingerprint.
    -#}
    {% set sql %}
        select t.name, if(
            t.engine like '%MergeTree%',
            toString(cityHash64(
                toString(t.uuid), toString(arraySort(groupArrayIf((p.name, p.rows), p.active)))
            )),
            concat('volatile-', toString(generateUUIDv4()))
        )
        from system.tables as t
        left join system.parts as p on p.database = t.database and p.table = t.name
        where t.database = currentDatabase()
            and t.name in ('{{ names | join("', '") }}')
        group by t.name, t.uuid, t.engine
        settings join_use_nulls = 0
    {% endset %}
    {% set states = {} %}
    {% for row in run_query(sql).rows %}
        {% do states.update({row[0]: row[1]}) %}
    {% endfor %}
    {{ return(states) }}
{% endmacro %}

{% macro stored_input_states(relation) %}
    {#- the input states recorded in `relation`'s comment ("name=state,..."), as a dict -#}
    {% set rows = run_query(
        "select comment from system.tables where database = currentDatabase()"
        ~ " and name = '" ~ relation.identifier ~ "'"
    ).rows %}
    {% set states = {} %}
    {% if rows and rows[0][0] %}
        {% for item in rows[0][0].split(',') %}
            {% set pair = item.split('=') %}
            {% if pair | length == 2 %}
                {% do states.update({pair[0]: pair[1]}) %}
            {% endif %}
        {% endfor %}
    {% endif %}
    {{ return(states) }}
{% endmacro %}

{% macro fct_email_sends_refresh_pre() %}
    {#-
      Pre-hook of fct_email_sends: its refresh keys (fct_email_sends_refresh_keys). The checks
      of the ledger, the sending domains, the contact domains and the mailbox providers run only
      when their source tables changed since the start of the last refresh that ran to its end
      (their states, kept in the table's comment by the post-hook): unchanged, they find
      nothing that refresh did not already rebuild.
    -#}
    {% if execute and is_incremental() %}
        {% set inputs = ['raw_emails', 'raw_campaigns', 'raw_accounts', 'raw_contacts',
                         'mailbox_providers'] %}
        {% set now = input_states(inputs) %}
        {% set before = stored_input_states(this) %}
        {% set changed = [] %}
        {% for name in inputs %}
            {% if name not in now or now[name] != before.get(name) %}
                {% do changed.append(name) %}
            {% endif %}
        {% endfor %}
        {% set state = [] %}
        {% for name in now | sort %}
            {% do state.append(name ~ '=' ~ now[name]) %}
        {% endfor %}
        {{ refresh_keys_pre(
            'email_record_id', fct_email_sends_refresh_keys(changed), state | join(',')
        ) }}
    {% endif %}
{% endmacro %}

{% macro fct_email_sends_refresh_post() %}
    {#- post-hook: record the input states the pre-hook saw (the key table's comment) -#}
    {% if execute and is_incremental() %}
        {% set state = stored_input_states(refresh_keys_relation()) %}
        {% set items = [] %}
        {% for name in state | sort %}
            {% do items.append(name ~ '=' ~ state[name]) %}
        {% endfor %}
        {{ refresh_keys_post('email_record_id', count_first=false) }}
        {% do run_query("alter table " ~ this ~ " modify comment '" ~ items | join(',') ~ "'") %}
    {% endif %}
{% endmacro %}

{% macro fct_email_sends_refresh_keys(changed) -%}
    {#-
      The sends of fct_email_sends a refresh rebuilds: outcomes rebuilt since its last build or
      gone; ledger rows replicated after the newest replication stamp already built, or with
      that stamp but not built in that version (the replication may still have been writing
      rows with it; replications of one database do not overlap), or gone; sends whose stored
      sending domain, recipient domain (of a contact with a domain) or mailbox provider no
      longer matches the campaigns, accounts, contacts or the mailbox_providers seed. `changed`:
      the source tables changed since the last refresh; the checks of the others are left out.
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
    {%- if 'raw_emails' in changed %}
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
    {%- endif %}
    {%- if 'raw_campaigns' in changed or 'raw_accounts' in changed %}
    union all
    select email_record_id from built
    where (account_id, campaign_id) in (select account_id, campaign_id from stale_sending_domains)
    {%- endif %}
    {%- if 'raw_contacts' in changed %}
    union all
    select email_record_id from built
    where contact_id in (select contact_id from stale_contact_domains)
    {%- endif %}
    {%- if 'mailbox_providers' in changed %}
    union all
    select email_record_id from built
    where recipient_domain in (select recipient_domain from stale_providers)
    {%- endif %}
{%- endmacro %}

{% macro sends_gone(key, key_expr, only_stored=false) -%}
    {#-
      In the refresh keys of a rollup of fct_email_sends by `key` (`key_expr` over a send, a
      `sends` count per row): whether a key that no send built since the rollup's last build
      keys anyway may have lost sends; false says the per-key comparison of counts would find
      nothing. Such a key's stored rows counted every send it had then, and each of its sends
      now was built no later (a send built later keys its key): its count now is at most its
      stored one, equal unless a send left it, so the two sums over those keys are equal only
      when every key's counts are. `only_stored`: count only the sends of keys with stored
      rows (a contact gone from dim_contacts keeps its sends). Two column scans, no join or
      aggregation per key; the sends built since, which every refresh has, do not count (a
      comparison including them always differed).
    -#}
    {%- if not (execute and is_incremental()) -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set sends = ref('fct_email_sends') -%}
    {%- set since = "select " ~ key_expr ~ " from " ~ sends ~ " where built_at > (select"
        ~ " max(built_at) from " ~ this ~ ")" -%}
    {%- set totals = run_query(
        "select (select sum(sends) from " ~ this ~ " where " ~ key ~ " not in (" ~ since
        ~ ")), (select count() from " ~ sends ~ " where " ~ key_expr ~ " not in (" ~ since ~ ")"
        ~ (" and " ~ key_expr ~ " in (select " ~ key ~ " from " ~ this ~ ")" if only_stored else "")
        ~ ")"
    ).rows[0] -%}
    {{ return(totals[0] | int != totals[1] | int) }}
{%- endmacro %}

{% macro sends_rollup_refresh_keys(key, key_expr, added=none) -%}
    {#-
      The keys of a rollup of fct_email_sends (rows per `key`, `key_expr` over a send, with a
      `sends` count) that a refresh rebuilds: those of sends built since the rollup's last build
      (new or changed sends), and those whose stored `sends` no longer match their count of
      sends (sends gone). Exact because every send counts in `sends`: a send's sent_at is never
      null (the ledger's queued_at at least). Runs after fct_email_sends in the same build.
      `added`: keyed_table_upgrade's; a table that lacked one of them has every key rebuilt.
    -#}
    {%- if keyed_table_upgrade(added) %}
    select {{ key_expr }} as {{ key }} from {{ ref('fct_email_sends') }}
    union all
    select {{ key }} from {{ this }}
    {%- else %}
    with mark as (
        select max(built_at) as built from {{ this }}
    ){% if sends_gone(key, key_expr) %},

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
    {%- else %}

    select {{ key_expr }} as {{ key }}
    from {{ ref('fct_email_sends') }}
    where built_at > (select built from mark)
    {%- endif %}
    {%- endif %}
{%- endmacro %}
