"""Console accounts: Argon2 password hashes, sign-in with lockout and backoff, demo accounts."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import overload

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from console.settings import ConsoleSettings
from console.users.models import ROLES, ConsoleUser
from protocol.clock import utcnow
from protocol.errors import Conflict, InvalidRequest

# argon2-cffi's defaults follow RFC 9106's second recommended option (Argon2id, 64 MiB, t=3).
_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("no-such-user-dummy-password")
MIN_PASSWORD_LENGTH = 12

# Development only: printed by `make run`, refused when SHUYUAN_ENVIRONMENT=production.
DEMO_ACCOUNTS: tuple[tuple[str, str, str, str], ...] = (
    ("steward", "steward-demo-2026", "steward", "数据管理员（演示）"),
    ("officer", "officer-demo-2026", "security_officer", "安全审计员（演示）"),
    ("viewer", "viewer-demo-2026", "viewer", "只读用户（演示）"),
)
DEMO_PASSWORDS = frozenset(password for _, password, _, _ in DEMO_ACCOUNTS)


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: the user, or why not (and until when, if locked)."""

    user: ConsoleUser | None
    failure: str | None = None  # "invalid" | "locked" | "demo_password"
    locked_until: datetime | None = None


@overload
def aware(moment: datetime) -> datetime: ...
@overload
def aware(moment: None) -> None: ...
def aware(moment: datetime | None) -> datetime | None:
    """The moment as an aware UTC datetime (SQLite hands back naive ones; everything stored is UTC)."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def check_password(*, password: str, settings: ConsoleSettings) -> None:
    """Refuse a password that is too short, or a demo password in production."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if settings.production and password in DEMO_PASSWORDS:
        raise InvalidRequest("demo passwords are refused in production")


def get_by_username(*, session: Session, username: str) -> ConsoleUser | None:
    """Return the account with this username, or None."""
    return session.exec(select(ConsoleUser).where(ConsoleUser.username == username)).first()


def create(
    *,
    session: Session,
    username: str,
    password: str,
    role: str,
    settings: ConsoleSettings,
    display_name: str = "",
) -> ConsoleUser:
    """Create an account; only the Argon2 hash of the password is stored."""
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
    if not username or len(username) > 64:
        raise InvalidRequest("a username has 1 to 64 characters")
    check_password(password=password, settings=settings)
    if get_by_username(session=session, username=username) is not None:
        raise Conflict(f"user {username!r} already exists")
    user = ConsoleUser(
        username=username, display_name=display_name, role=role, password_hash=_hasher.hash(password)
    )
    session.add(user)
    session.flush()
    return user


def authenticate(*, session: Session, username: str, password: str, settings: ConsoleSettings) -> SignIn:
    """Check a username and password, counting failures and locking the account with backoff.

    An unknown name, a wrong password and a locked account each cost one Argon2 verification, so
    timing does not tell them apart; the sign-in page shows the same message for all three (the
    outcome is still told apart here, for the audit record).
    """
    now = utcnow()
    user = get_by_username(session=session, username=username[:64])
    if user is None or not user.active:
        _verify(_DUMMY_HASH, password)
        return SignIn(None, "invalid")
    assert user.id is not None, "an account read from the database has an id"
    locked_until = aware(user.locked_until)
    if locked_until is not None and locked_until > now:
        # The password is not checked (a locked account is no oracle), but verified against the dummy
        # hash all the same, so a lock takes as long to refuse as a wrong password.
        _verify(_DUMMY_HASH, password)
        return SignIn(None, "locked", locked_until)
    if not _verify(user.password_hash, password):
        failed = _count_failure(session=session, user_id=user.id)
        over = failed - settings.max_failed_logins
        if over < 0:
            return SignIn(None, "invalid")
        # Backoff: the lock doubles with each failure past the threshold, up to lockout_max_s.
        seconds = min(settings.lockout_s * 2 ** min(over, 16), settings.lockout_max_s)
        until = now + timedelta(seconds=seconds)
        _lock_until(session=session, user_id=user.id, until=until)
        return SignIn(None, "locked", until)
    if settings.production and password in DEMO_PASSWORDS:
        return SignIn(None, "demo_password")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    session.flush()
    return SignIn(user)


def _count_failure(*, session: Session, user_id: int) -> int:
    """Add one failed sign-in in the database itself (no read-modify-write: parallel failures all count)."""
    counted = session.exec(
        update(ConsoleUser)
        .where(col(ConsoleUser.id) == user_id)
        .values(failed_logins=col(ConsoleUser.failed_logins) + 1)
        .returning(col(ConsoleUser.failed_logins))
    )
    return int(counted.scalar_one())


def _lock_until(*, session: Session, user_id: int, until: datetime) -> None:
    """Lock the account until `until`, never shortening a longer lock a parallel failure just set."""
    locked = col(ConsoleUser.locked_until)
    session.exec(
        update(ConsoleUser)
        .where(col(ConsoleUser.id) == user_id, or_(locked.is_(None), locked < until))
        .values(locked_until=until)
    )


def end_sessions(*, session: Session, user_id: int) -> None:
    """Sign the account out everywhere: every session cookie issued before now is refused."""
    session.exec(
        update(ConsoleUser)
        .where(col(ConsoleUser.id) == user_id)
        .values(session_version=col(ConsoleUser.session_version) + 1)
    )


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def ensure_demo_accounts(*, session: Session, settings: ConsoleSettings) -> list[tuple[str, str, str]]:
    """Create the demo accounts on an empty user table (development only); return what was created."""
    if settings.production or not settings.demo_accounts:
        return []
    if session.exec(select(func.count()).select_from(ConsoleUser)).one():
        return []
    created = []
    for username, password, role, display_name in DEMO_ACCOUNTS:
        create(
            session=session,
            username=username,
            password=password,
            role=role,
            settings=settings,
            display_name=display_name,
        )
        created.append((username, password, role))
    return created


def list_(*, session: Session) -> list[ConsoleUser]:
    """Every account, by username."""
    return list(session.exec(select(ConsoleUser).order_by(col(ConsoleUser.username))))


def demo_logins(console_url: str, settings: ConsoleSettings) -> str:
    """How to sign in to the console, as `make run` prints it (the demo accounts only in development)."""
    if settings.production or not settings.demo_accounts:
        return f"Stewards' console: {console_url} (create accounts with `shuyuan console create-user`)"
    lines = [f"Stewards' console: {console_url}  (demo accounts, development only):"]
    lines += [f"  {role:<17} {username} / {password}" for username, password, role, _ in DEMO_ACCOUNTS]
    return "\n".join(lines)
