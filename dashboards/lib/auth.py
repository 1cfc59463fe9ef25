"""Login with Murmuration users, the session timeout and role checks.

The signed-in user lives in `st.session_state["user"]`; every script run calls `current_user()`,
which signs the user out once the session has been idle longer than the timeout
(`[dashboards] session_timeout_minutes` in the secrets, default 30).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from dashboards.lib.connection import _secret, postgres
from murmur.domain.accounts import ROLE_RANK, AmbiguousUser, verify_user_password

DEFAULT_TIMEOUT_MINUTES = 30.0


class NotAllowed(PermissionError):
    """The signed-in user's role does not allow this action."""


@dataclass(frozen=True)
class SessionUser:
    user_id: int
    account_id: str
    account_name: str
    email: str
    role: str

    def can(self, role: str) -> bool:
        """True when the user's role is at least `role` (viewer < editor < admin)."""
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]


def timeout_seconds() -> float:
    value = _secret("dashboards", "session_timeout_minutes")
    try:
        minutes = float(value) if value is not None else DEFAULT_TIMEOUT_MINUTES
    except (TypeError, ValueError):
        minutes = DEFAULT_TIMEOUT_MINUTES
    return max(minutes, 0.0) * 60


def login(email: str, password: str, account_name: str | None = None) -> SessionUser | str:
    """Sign in: the user, or a message saying why not (never which part was wrong)."""
    import sqlalchemy as sa

    from murmur.db.tables import accounts

    if not email.strip() or not password:
        return "Enter your email and password."
    try:
        with postgres().connect() as conn:
            record = verify_user_password(conn, email, password, account_name or None)
            if record is None:
                return "Unknown email or wrong password."
            name = conn.execute(
                sa.select(accounts.c.name).where(accounts.c.account_id == record.account_id)
            ).scalar_one()
    except AmbiguousUser:
        return "This email has users in several accounts: enter the account name too."
    user = SessionUser(record.user_id, str(record.account_id), name, record.email, record.role)
    st.session_state["user"] = user
    st.session_state["last_seen"] = time.monotonic()
    return user


def logout(reason: str | None = None) -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if reason:
        st.session_state["logout_reason"] = reason


def current_user() -> SessionUser | None:
    """The signed-in user (touching the session), or None; signs out an idle session."""
    user = st.session_state.get("user")
    if not isinstance(user, SessionUser):
        return None
    now = time.monotonic()
    last = float(st.session_state.get("last_seen", now))
    if now - last > timeout_seconds():
        logout("Your session timed out: sign in again.")
        return None
    st.session_state["last_seen"] = now
    return user


def require_user() -> SessionUser:
    """The signed-in user; stops the page when there is none (pages are never reachable)."""
    user = current_user()
    if user is None:
        st.warning("Sign in to see this page.")
        st.stop()
    return user


def require_role(user: SessionUser, role: str, action: str) -> None:
    """NotAllowed unless the user's role is at least `role` (checked again at the action)."""
    if not user.can(role):
        raise NotAllowed(f"{action} needs the {role} role; you are a {user.role}")
