"""dbt's events built without protobuf's JSON parser; the same messages.

Every event dbt fires (about 450 in a refresh: a node's start, each SQL statement and its
status, results, connection names) goes twice through `json_format.ParseDict`, protobuf's
pure-Python JSON walker: `BaseEvent.__init__` parses its keyword arguments into the event's
message (up to 65 µs for a statement with its node info), and
`dbt_common.events.base_types.msg_from_base_event` its `info` header (level, message,
invocation id, timestamp, pid, thread, ...) into the envelope (60-120 µs). Here

- the event's message is built by its class's constructor (3 µs), which takes the same
  keyword arguments (nested dicts, lists, None for unset, a Struct from a dict);
- the envelope's header is set field by field, the timestamp from the same string through
  `Timestamp.FromJsonString` as ParseDict does.

The messages are equal to dbt's (tests/pipelines/test_dbt_fast_events.py compares both on every
event of real invocations). Whatever the fast path cannot build (a value ParseDict would
convert, such as a number in a string or a timestamp string, a field dbt added) falls back to
dbt's own code for that event, so the result, its warnings and its errors are dbt's.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_DBT_MSG_FROM_BASE_EVENT: list[Any] = []  # dbt's own, once replaced
_DBT_EVENT_INIT: list[Any] = []  # dbt's own BaseEvent.__init__, once replaced


def event_init(self: Any, *args: Any, **kwargs: Any) -> None:
    """`BaseEvent.__init__` with the message built by its constructor (same message)."""
    if not args:
        msg_cls = getattr(self.PROTO_TYPES_MODULE, type(self).__name__, None)
        if msg_cls is not None:
            for key in ("base_msg", "msg"):  # as dbt's: their str()
                if key in kwargs:
                    kwargs[key] = str(kwargs[key])
            try:
                self.pb_msg = msg_cls(**kwargs)
                return
            except Exception:  # a value only ParseDict converts, or none can: dbt's own
                pass
    _DBT_EVENT_INIT[0](self, *args, **kwargs)


def msg_from_base_event(event: Any, level: Any = None) -> Any:
    """`dbt_common.events.base_types.msg_from_base_event` without ParseDict (same message)."""
    from dbt_common.events import base_types

    module: Any = base_types  # its helpers are looked up there, where dbt (and tests) set them
    try:
        msg_cls = getattr(event.PROTO_TYPES_MODULE, f"{type(event).__name__}Msg")
        msg_level: str = level.value if level else event.level_tag().value
        if msg_level is None:
            raise ValueError("no level")  # dbt's own asserts it
        new_event = msg_cls()
        info = new_event.info
        info.level = msg_level
        info.msg = event.message()
        info.invocation_id = module.get_invocation_id()
        extra = module.get_global_metadata_vars()
        if extra:
            info.extra.update(extra)
        info.ts.FromJsonString(module.get_json_string_utcnow())
        info.pid = module.get_pid()
        info.thread = module.get_thread_name()
        info.code = event.code()
        info.name = type(event).__name__
        new_event.data.CopyFrom(event.pb_msg)
    except Exception:  # anything unusual: dbt's own builds it (or raises) as before
        return _DBT_MSG_FROM_BASE_EVENT[0](event, level)
    return new_event


def install() -> None:
    """Use `event_init` and `msg_from_base_event` in dbt (idempotent)."""
    from dbt_common.events import base_types, event_manager

    init = base_types.BaseEvent.__dict__.get("__init__")
    if init is not event_init and callable(init):
        _DBT_EVENT_INIT[:] = [init]
        base_types.BaseEvent.__init__ = event_init  # type: ignore[method-assign]

    current = getattr(event_manager, "msg_from_base_event", None)
    if current is msg_from_base_event:
        return
    if current is not base_types.msg_from_base_event or not callable(current):
        # a dbt-common whose event manager builds its messages some other way: keep it
        log.debug("dbt-common's event manager has no msg_from_base_event; kept as it is")
        return
    _DBT_MSG_FROM_BASE_EVENT[:] = [current]
    event_manager.msg_from_base_event = msg_from_base_event  # type: ignore[attr-defined]
