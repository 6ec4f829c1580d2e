"""SQLAlchemy 2.0 typed models of the domain tables.

Timestamps are stored as naive UTC (SQLite keeps no zone); ``isoformat`` adds the ``Z``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from itcook.extensions import db


def utcnow() -> dt.datetime:
    """The current time as naive UTC, the form every timestamp column stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_session_key() -> str:
    """A fresh random session key: tokens carry their user's key and die when it changes."""
    return secrets.token_hex(16)


#: Table option of every table whose integer id reaches a client or names a channel: on SQLite
#: AUTOINCREMENT, so the id of a deleted newest row is never given to a new one (without it,
#: SQLite reuses max(rowid) + 1). PostgreSQL sequences never go back anyway.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


def isoformat(value: dt.datetime) -> str:
    """Render a stored (naive UTC) or aware datetime as ISO 8601 with ``Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


class User(db.Model):
    __tablename__ = "users"
    # Usernames are unique case-insensitively: the database says so, since two simultaneous
    # registrations of "anna" and "Anna" both pass the check that precedes the insert.
    __table_args__ = (Index("uq_users_username_lower", func.lower(text("username")), unique=True),
                      NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Every token and ticket carries the key it was issued under; disabling the account draws
    # a new one, which ends them all (auth.services.end_sessions).
    session_key: Mapped[str] = mapped_column(String(32), default=new_session_key)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: The language the user chose ("ru", "en"), or None: their browser's (docs/i18n.md).
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: The language their latest request asked for (Accept-Language), for texts sent with no
    #: request to answer: Web Push.
    request_language: Mapped[str | None] = mapped_column(String(8), nullable=True)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "created_at": isoformat(self.created_at),
            "language": self.language,
        }


class Post(db.Model):
    __tablename__ = "posts"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    content: Mapped[str] = mapped_column(Text)
    # Counters kept in the same transaction as the like/comment rows: the feed reads them
    # without a join per post.
    likes_count: Mapped[int] = mapped_column(Integer, default=0)
    comments_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Like(db.Model):
    __tablename__ = "likes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Comment(db.Model):
    __tablename__ = "comments"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Follow(db.Model):
    __tablename__ = "follows"
    __table_args__ = (CheckConstraint("follower_id <> followed_id", name="no_self_follow"),)

    follower_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                             primary_key=True)
    followed_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                             primary_key=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class FridgeItem(db.Model):
    __tablename__ = "fridge_items"
    __table_args__ = (Index("ix_fridge_items_user_expires", "user_id", "expires_on"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str | None] = mapped_column(String(20), nullable=True)
    expires_on: Mapped[dt.date] = mapped_column(Date, index=True)
    # The day this item was last announced in ExpiringItems: at most once per day.
    last_notified_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Goal(db.Model):
    __tablename__ = "goals"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    target_value: Mapped[float] = mapped_column(Float)
    current_value: Mapped[float] = mapped_column(Float, default=0.0)
    unit: Mapped[str | None] = mapped_column(String(20), nullable=True)
    achieved_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Recipe(db.Model):
    __tablename__ = "recipes"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    ingredients: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    steps: Mapped[list[str]] = mapped_column(JSON)
    generator: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RecipeJob(db.Model):
    __tablename__ = "recipe_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    ingredients: Mapped[list[str]] = mapped_column(JSON)
    recipe_id: Mapped[int | None] = mapped_column(ForeignKey("recipes.id", ondelete="SET NULL"),
                                                  nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Notification(db.Model):
    """A personal event kept in its user's inbox. ``id`` is the event's id in the real-time log,
    so a client that saw the event live can mark it read without listing the inbox first."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_id_id", "user_id", "id"),
                      Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
                      # One a day per (actor, recipient, kind, object): see notifications/services.py.
                      Index("ux_notifications_user_id_dedupe_key", "user_id", "dedupe_key", unique=True))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    #: ``<type>:<actor>:<object>:<UTC day>`` for the kinds one person can repeat by toggling; NULL
    #: (never a duplicate) for the others.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), nullable=True)


class Group(db.Model):
    """A cooking club: an owner, members, posts, and the ``group:<id>`` real-time channel."""

    __tablename__ = "groups"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Open groups can be joined by anyone; closed ones only by accepting an invitation.
    is_open: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class GroupMember(db.Model):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"),
                                          primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")  # owner or member
    joined_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class GroupInvite(db.Model):
    __tablename__ = "group_invites"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"),
                                          primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)
    invited_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class GroupPost(db.Model):
    __tablename__ = "group_posts"
    __table_args__ = (Index("ix_group_posts_group_id_id", "group_id", "id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PushSubscription(db.Model):
    """A browser's Web Push subscription (its ``PushSubscription`` JSON)."""

    __tablename__ = "push_subscriptions"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The endpoint identifies one browser profile: a second login there takes it over.
    endpoint: Mapped[str] = mapped_column(String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(String(100))
    auth: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PushPreference(db.Model):
    """Which notification types a user does not want pushed (absent row: all are pushed)."""

    __tablename__ = "push_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    disabled_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PushBudget(db.Model):
    """Pushes sent to a user in the current clock hour, shared by every process (``PUSH_BUDGET_PER_HOUR``)."""

    __tablename__ = "push_budgets"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime)
    used: Mapped[int] = mapped_column(Integer)


class NearbyArea(db.Model):
    """A user's opt-in to Nearby: a circle around a coarsened point (never the exact one).

    The spatial index beside it is database-specific: see ``itcook/nearby/spatial.py``."""

    __tablename__ = "nearby_areas"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_km: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class NearbyOffer(db.Model):
    """Food offered for pickup near a coarsened point until ``pickup_until``; the first claim wins."""

    __tablename__ = "nearby_offers"
    __table_args__ = (Index("ix_nearby_offers_user_id_created_at", "user_id", "created_at"),
                      Index("ix_nearby_offers_claimed_by_claimed_at", "claimed_by", "claimed_at"),
                      Index("ix_nearby_offers_status_lat", "status", "approx_lat"),
                      NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(120))
    approx_lat: Mapped[float] = mapped_column(Float)
    approx_lon: Mapped[float] = mapped_column(Float)
    pickup_until: Mapped[dt.datetime] = mapped_column(DateTime)
    #: open or claimed; an open offer past ``pickup_until`` has expired.
    status: Mapped[str] = mapped_column(String(16), default="open")
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                   nullable=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class NearbyRecipient(db.Model):
    """Who was told of an offer: they hear when it is taken."""

    __tablename__ = "nearby_recipients"

    offer_id: Mapped[int] = mapped_column(ForeignKey("nearby_offers.id", ondelete="CASCADE"),
                                          primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)


class NearbyBlock(db.Model):
    """``user_id`` does not want ``blocked_id`` to hear of, see or claim their offers."""

    __tablename__ = "nearby_blocks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    blocked_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class MenuPlan(db.Model):
    """A week of meals planned by its owner alone, or by a group's members (``plans/``)."""

    __tablename__ = "menu_plans"
    __table_args__ = (Index("ix_menu_plans_owner_id_week_start", "owner_id", "week_start"),
                      NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    week_start: Mapped[dt.date] = mapped_column(Date)  # a Monday
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"),
                                                 nullable=True, index=True)
    #: One more for every accepted batch of operations: the ``version`` of MenuPlanUpdated.
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class MenuPlanEntry(db.Model):
    """One meal of a plan. A removed entry stays as a tombstone (``removed_at``) so that a late
    edit of it is told "removed" rather than "no such entry"."""

    __tablename__ = "menu_plan_entries"
    __table_args__ = (Index("ix_menu_plan_entries_plan_id_date", "plan_id", "date"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("menu_plans.id", ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    meal: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    recipe_id: Mapped[int | None] = mapped_column(ForeignKey("recipes.id", ondelete="SET NULL"),
                                                  nullable=True)
    servings: Mapped[int] = mapped_column(Integer, default=2)
    cook_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The plan version of the entry's last change (what ``base_version`` names).
    version: Mapped[int] = mapped_column(Integer)
    #: field name -> the plan version that last set it: a stale update conflicts only on the
    #: fields someone else changed since its base.
    field_versions: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class MenuPlanOp(db.Model):
    """An accepted batch of operations, by its client-chosen ``op_id``: a retry answers ``result``."""

    __tablename__ = "menu_plan_ops"

    plan_id: Mapped[int] = mapped_column(ForeignKey("menu_plans.id", ondelete="CASCADE"),
                                         primary_key=True)
    op_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ShoppingCheck(db.Model):
    """A shopping-list item of a plan checked off (absent row: not checked)."""

    __tablename__ = "shopping_checks"

    plan_id: Mapped[int] = mapped_column(ForeignKey("menu_plans.id", ondelete="CASCADE"),
                                         primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    checked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                   nullable=True)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
