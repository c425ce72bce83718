"""The database schema as typed SQLAlchemy models; Alembic migrations follow this file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Account",
    "AuditEntry",
    "Base",
    "ConversationState",
    "Identity",
    "Invitation",
    "OrgUnit",
    "OutboxMessage",
    "PeriodReopening",
    "ProcessedUpdate",
    "Question",
    "ReportBaseline",
    "RoleAssignment",
    "Submission",
    "SubmissionRevision",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back an aware datetime, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # The value bound last and its text, as one tuple: replaced whole, never half-read.
        memo: list[tuple[datetime | None, str | None]] = [(None, None)]

        def to_text(value: datetime | None) -> str | None:
            # The text SQLAlchemy's SQLite DATETIME writes, made in one call. A batch binds
            # the same moment to every row, so the last one is remembered (a datetime is
            # immutable: the same object is the same text).
            seen, text = memo[0]
            if value is seen:
                return text
            naive = self.process_bind_param(value, dialect)
            text = None if naive is None else naive.isoformat(" ", "microseconds")
            memo[0] = (value, text)
            return text

        return to_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class OrgUnit(Base):
    """A node of the administrative tree; ``level`` is a free label (province, commune...)."""

    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_folded: Mapped[str] = mapped_column(String(200), index=True)
    level: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    # Materialised path "/1/7/42/" makes "is X inside Y's subtree" one string prefix test.
    path: Mapped[str] = mapped_column(String(400), index=True)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Account(Base):
    """A person, whatever channels they come from. Personal fields are wiped on deletion."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    locale: Mapped[str | None] = mapped_column(String(8))
    consent_at: Mapped[datetime | None]
    kind: Mapped[str | None] = mapped_column(String(20))  # household | official
    home_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    onboarded_at: Mapped[datetime | None]
    push_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted_at: Mapped[datetime | None]


class Identity(Base):
    """One way to reach an account: a Telegram chat, a Zalo user, a web chat sender."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoleAssignment(Base):
    """A role over an org unit and everything below it."""

    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("account_id", "role", "org_unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    role: Mapped[str] = mapped_column(String(30))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    """A single-use, expiring code; only its hash is stored."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(30))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))


class ConversationState(Base):
    """Where an unfinished conversation stands, so a restart resumes it."""

    __tablename__ = "conversation_states"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProcessedUpdate(Base):
    """Each incoming update once: recorded in the same transaction as its effects."""

    __tablename__ = "processed_updates"
    __table_args__ = (UniqueConstraint("channel", "update_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    update_key: Mapped[str] = mapped_column(String(120))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """Every message out, written in the transaction that decided to send it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(100), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    update_id: Mapped[int | None] = mapped_column(ForeignKey("processed_updates.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="reply")  # reply | bulk
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # pending -> claimed -> sending -> sent | pending (retry) | failed | uncertain | cancelled
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When due; while claimed or sending, when the claim lapses.
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who did what and when; details never hold personal data."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(60))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Submission(Base):
    """A structured submission (a form's answers); its values live in revisions."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[str] = mapped_column(String(60), index=True)
    form_version: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="submitted")
    receipt_code: Mapped[str | None] = mapped_column(String(20), unique=True)
    natural_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SubmissionRevision(Base):
    """One version of a submission's answers; never overwritten."""

    __tablename__ = "submission_revisions"
    __table_args__ = (UniqueConstraint("submission_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    author_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Question(Base):
    """A question a person passed to the officials of their place ("Hỏi cán bộ"), and the
    answer one of them gave with /traloi. Both stay; audited."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | answered
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]


# --- deadlines, reminders, announcements, forwarding (issue 8) ----------------------------


class ReminderSlot(Base):
    """One reminder step of one occurrence (deadline, occurrence, step), acted on once.

    Inserted first in the transaction that sends the step's reminders: a second worker, a
    restart or a clock jump that reaches the same slot hits the unique key and does nothing.
    """

    __tablename__ = "reminder_slots"
    __table_args__ = (UniqueConstraint("deadline_id", "occurrence", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[str] = mapped_column(String(40))
    occurrence: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(30))
    fire_at: Mapped[datetime]
    processed_at: Mapped[datetime]
    units_missing: Mapped[int] = mapped_column(Integer, default=0)
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class ReminderOccurrence(Base):
    """A reminder to one person: unique by (deadline, occurrence, step, recipient).

    Regular steps are written as ``sent``; a snooze ("Nhắc lại sau") is written ``pending``
    with ``due_at`` and decided when it comes due (still missing? stopped? muted?).
    """

    __tablename__ = "reminder_occurrences"
    __table_args__ = (
        UniqueConstraint("deadline_id", "occurrence", "step", "account_id"),
        Index("ix_reminder_occurrences_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[str] = mapped_column(String(40))
    occurrence: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(30))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    # pending (a snooze) | sent | skipped (done, stopped or muted by then) | superseded
    status: Mapped[str] = mapped_column(String(12), default="sent")
    units: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"ids": [...]}
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class ReminderMute(Base):
    """An official turned off reminders of one deadline kind for themselves."""

    __tablename__ = "reminder_mutes"
    __table_args__ = (UniqueConstraint("account_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeadlineDone(Base):
    """A unit declared a deadline's occurrence done ("Đã nộp"), where the rule allows it."""

    __tablename__ = "deadline_done"
    __table_args__ = (UniqueConstraint("deadline_id", "occurrence", "org_unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[str] = mapped_column(String(40))
    occurrence: Mapped[str] = mapped_column(String(20))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Announcement(Base):
    """An official's message to a subtree and role, sent now or at a time, as bulk."""

    __tablename__ = "announcements"
    __table_args__ = (Index("ix_announcements_due", "status", "send_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    author_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    roles: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"roles": [...]}
    text: Mapped[str] = mapped_column(Text)
    send_at: Mapped[datetime]
    # scheduled | sent | cancelled
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class ApiKey(Base):
    """A bearer key for the read API, scoped to an org-unit subtree; only its hash is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WebhookEndpoint(Base):
    """Where submissions are forwarded; the signing secret is kept encrypted."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    secret_enc: Mapped[str] = mapped_column(String(400))
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    forms: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"forms": [...]} or {}
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportBaseline(Base):
    """A unit's start-of-period figures ("đầu kỳ") for a data set, set by an official.

    Setting it again adds a row; the newest one counts, the earlier ones stay as history.
    """

    __tablename__ = "report_baselines"
    __table_args__ = (Index("ix_report_baselines_unit", "dataset_id", "org_unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(60))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    set_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class PeriodReopening(Base):
    """An official reopened a locked period of a data set for one unit, until a day."""

    __tablename__ = "period_reopenings"
    __table_args__ = (Index("ix_period_reopenings_unit", "dataset_id", "org_unit_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(60))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    period: Mapped[str] = mapped_column(String(7))  # 2026-10
    until: Mapped[date] = mapped_column(Date)  # the last day it is open, local time
    reopened_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    reopened_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------- Zalo channels


class ZaloChatMenu(Base):
    """The choices a Zalo chat was last shown as a text menu, so a typed "2" means the 2nd.

    ``options`` is ``{"options": [{"n": 1 | None, "title": ..., "payload": ...}]}``; ``n`` is
    None for choices offered by name only. ``numbers`` says whether typed numbers choose
    (not when the latest message asks for a number); ``fresh`` that the person wrote since,
    so the next menu starts again at 1.
    """

    __tablename__ = "zalo_chat_menus"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    numbers: Mapped[bool] = mapped_column(Boolean, default=False)
    fresh: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ZaloOAToken(Base):
    """The Official Account's current token pair (encrypted), changed by one worker at a time.

    A refresh token works once: a worker takes the lease, refreshes, and stores the new pair
    with ``version + 1`` before using it. A refusal is kept in ``failed_at``/``last_error``
    so that nobody retries the spent token; a new pair in settings (another
    ``seed_fingerprint``) replaces it.
    """

    __tablename__ = "zalo_oa_tokens"

    app_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    access_token_enc: Mapped[str] = mapped_column(Text)
    refresh_token_enc: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    seed_fingerprint: Mapped[str] = mapped_column(String(64))
    lease_owner: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None]
    refreshed_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))


class ZaloOAUser(Base):
    """When a person last wrote to the Official Account: the customer-service reply window."""

    __tablename__ = "zalo_oa_users"

    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Customer-service messages sent since that message (the window allows a few).
    replies_since: Mapped[int] = mapped_column(Integer, default=0)


class ZaloOAInboxEvent(Base):
    """A webhook event, stored before Zalo gets its answer and processed afterwards.

    The content is erased once processed; the key stays so a re-delivery is ignored.
    """

    __tablename__ = "zalo_oa_inbox"
    __table_args__ = (Index("ix_zalo_oa_inbox_due", "processed_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_key: Mapped[str] = mapped_column(String(120), unique=True)
    user_id: Mapped[str] = mapped_column(String(100), index=True)
    event_name: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))


class ZaloFile(Base):
    """A file offered on Zalo as an expiring link (Zalo bots cannot upload files).

    ``channel``/``chat_id`` say whom it was made for, so erasing the person removes it.
    """

    __tablename__ = "zalo_files"
    __table_args__ = (Index("ix_zalo_files_chat", "channel", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    mime_type: Mapped[str] = mapped_column(String(100))
    content_b64: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    channel: Mapped[str | None] = mapped_column(String(20))
    chat_id: Mapped[str | None] = mapped_column(String(100))


__all__ += ["ZaloChatMenu", "ZaloFile", "ZaloOAInboxEvent", "ZaloOAToken", "ZaloOAUser"]


# --------------------------------------------------------------------------- account linking


class LinkCode(Base):
    """A short-lived one-time code that joins another channel's identity to this account.

    Only the keyed hash of the code is stored, like invitations.
    """

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)


__all__ += ["LinkCode"]


# --------------------------------------------------------------------------- awards (issue 9)


class Nomination(Base):
    """One nominee proposed for one award of one year, and where its dossier stands.

    draft → proposed (a village head's, to the commune) → submitted (or late, until the
    standing agency accepts it) → approved → awarded; returned (more asked for) goes back to
    be completed; rejected and withdrawn end it. Every change is in the audit log.
    """

    __tablename__ = "nominations"
    __table_args__ = (Index("ix_nominations_round", "award", "year", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    award: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    nominee_group: Mapped[str] = mapped_column(String(20))
    # "unit:<code>" or "name:<unit code>:<group>:<folded name>": what award history is keyed by.
    nominee_key: Mapped[str] = mapped_column(String(200), index=True)
    nominee_name: Mapped[str] = mapped_column(String(200))
    # The unit itself for units; the household's village or the nominator's unit otherwise.
    nominee_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    nominee_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    nominator_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    nominator_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    submitting_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    # The achievement report typed in for a unit or a person (households send their own).
    report_submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]


class DossierPart(Base):
    """A file of a nomination's dossier sent in chat; the newest of each part counts."""

    __tablename__ = "dossier_parts"

    id: Mapped[int] = mapped_column(primary_key=True)
    nomination_id: Mapped[int] = mapped_column(ForeignKey("nominations.id"), index=True)
    part: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(200))
    mime_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # photo | document
    file_ref: Mapped[str | None] = mapped_column(String(500))
    uploaded_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AwardHistory(Base):
    """An award someone received: imported for past years or written when one is awarded.

    Prerequisites ("at least 2 chairman's certificates for this movement") read it.
    """

    __tablename__ = "award_history"
    __table_args__ = (UniqueConstraint("nominee_key", "award", "year", "movement"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    nominee_key: Mapped[str] = mapped_column(String(200))
    nominee_name: Mapped[str] = mapped_column(String(200))
    nominee_group: Mapped[str] = mapped_column(String(20))
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    award: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    movement: Mapped[str] = mapped_column(String(60))
    decision: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))  # import | nomination
    nomination_id: Mapped[int | None] = mapped_column(ForeignKey("nominations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


__all__ += ["AwardHistory", "DossierPart", "Nomination"]
