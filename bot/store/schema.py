"""Table definitions (SQLAlchemy Core). Migrations in ``bot.store.migrations`` create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns timezone-aware UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("description", String(200), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", Text, nullable=False, unique=True),
    Column("title", Text),
    Column("site_url", Text),
    Column("topic", String(100)),
    Column("status", String(20), nullable=False, default="new"),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("item_digests", Text),  # migration 15
    Column("last_fetch", UTCDateTime),
    Column("last_success", UTCDateTime),
    Column("next_fetch", UTCDateTime),
    Column("error_count", Integer, nullable=False, default=0),
    Column("failing_since", UTCDateTime),
    Column("last_error", Text),
    Column("interval_seconds", Integer, nullable=False, default=900),
    Column("created_at", UTCDateTime, nullable=False),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="SET NULL")),
    # One article per story URL: the canonical URL, or "item:<feed id>:<item id>" for an
    # entry without a link.
    Column("dedupe_key", Text, nullable=False, unique=True),
    Column("url", Text),
    Column("canonical_url", Text),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("author", Text),
    Column("published", UTCDateTime),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("backfill", Boolean, nullable=False, default=False),
    Index("ix_articles_fetched_at", "fetched_at"),
    Index("ix_articles_published", "published"),
)

# Which items each feed has already delivered: an item seen once is never new again,
# even when its article was first stored from another feed.
feed_items = Table(
    "feed_items",
    metadata,
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True),
    Column("item_id", Text, primary_key=True),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(50), nullable=False),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="SET NULL")),
    Column("message", Text, nullable=False),
    Column("reported_at", UTCDateTime),
)


# ---- stories (migration 2) -------------------------------------------------------------

stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # ids come from the clusterer
    Column("headline", Text, nullable=False),
    Column("first_seen", UTCDateTime),
    Column("last_seen", UTCDateTime),
    # last_seen, or when the story was stored when none of its articles has a date: the
    # column every "since" filter and the restore window use
    Column("seen_at", UTCDateTime, nullable=False),
    Column("state", String(10), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("article_count", Integer, nullable=False),
    Column("topics", JSON, nullable=False),
    Column("companies", JSON, nullable=False),
    Column("chips", JSON, nullable=False),
    Column("chip_roles", JSON, nullable=False),
    Index("ix_stories_seen_at", "seen_at"),
)

# An analysed article: its story, its extracted facts (bot.core.facts JSON) and why it joined.
story_members = Table(
    "story_members",
    metadata,
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),  # order the article joined its story
    Column("facts", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("analyzed_at", UTCDateTime, nullable=False),
    Index("ix_story_members_story", "story_id"),
)

# Topics, companies and chips of each story, for filtering ("--topic chips", "--company Nvidia").
story_entities = Table(
    "story_entities",
    metadata,
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(10), primary_key=True),  # topic | company | chip
    Column("name", String(200), primary_key=True),
    Index("ix_story_entities_name", "kind", "name"),
)

# The deal ledger: each story's merged deals (bot.core.deals).
deals = Table(
    "deals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("parties", JSON, nullable=False),
    Column("amount_usd", Float),
    Column("amount_usd_high", Float),
    Column("amount_text", Text),
    Column("qualifier", String(50)),
    Column("currency", String(10)),
    Column("announced", UTCDateTime),
    Column("support", Integer, nullable=False),
    Column("article_ids", JSON, nullable=False),
    Column("sentence", Text, nullable=False),
    Index("ix_deals_story", "story_id"),
)


# ---- passages (migration 3) ------------------------------------------------------------

# Articles cut into passages (bot.core.passages) for full-text search; position 0 starts
# with the title. ``dated`` copies the article's date (published, else fetched; articles
# never change) so date filters need no lookup in the wide articles table. The full-text
# index is made by migration 3 (bot.store.search_sql) and differs per backend: on SQLite an
# FTS5 table ``passages_fts`` (external content, kept in sync by triggers) and a narrow
# covering index for filters; on PostgreSQL a generated ``tsv`` tsvector column with a GIN
# index, left out of this definition so ordinary selects never read it.
passages = Table(
    "passages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("dated", UTCDateTime, nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_passages_article_position", "article_id", "position", unique=True),
    Index("ix_passages_dated", "dated"),
)


# ---- conversations (migration 4) -------------------------------------------------------

# Each question and answer of a thread, keyed by the platform's thread id
# ("slack:C123:1700000000.000100", "discord:987654321", "cli:mythread").
thread_turns = Table(
    "thread_turns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("thread_id", String(200), nullable=False),
    Column("role", String(10), nullable=False),
    Column("text", Text, nullable=False),
    Column("entities", JSON, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_thread_turns_thread", "thread_id", "id"),
)


# ---- model calls (migration 5) ---------------------------------------------------------

# One row per model request made through bot.llm (a cache hit is a row too, with no
# tokens): what ``briefbot usage`` sums per day and what the daily token budget reads.
# ``prompt`` names the prompt ("briefing", "answer", "embeddings"); ``status`` is "ok",
# "invalid", "budget" or "error: ...".
llm_calls = Table(
    "llm_calls",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("prompt", String(100), nullable=False),
    Column("version", String(50), nullable=False),
    Column("model", String(200), nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("cache_hit", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),  # HTTP requests made (retries, corrections)
    Column("status", Text, nullable=False),
    Index("ix_llm_calls_at", "at"),
)

# Validated model replies by request: the same prompt, version, model and input give the
# stored data without calling the model again, across runs and restarts.
llm_cache = Table(
    "llm_cache",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 hex, bot.llm.cache.cache_key
    Column("model", String(200), nullable=False),
    Column("prompt", String(100), nullable=False),
    Column("version", String(50), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)


# ---- briefings (migration 6) -----------------------------------------------------------

# Each briefing composed for a channel (kept for history and the chat apps' home views).
briefings = Table(
    "briefings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("since", UTCDateTime),
    Column("mode", String(30), nullable=False),
    Column("story_count", Integer, nullable=False),
    Column("top_line", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Index("ix_briefings_channel", "channel", "created_at"),
)

# What each channel was told about each story: a changed fingerprint makes an "Update:".
briefed_stories = Table(
    "briefed_stories",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("briefed_at", UTCDateTime, nullable=False),
)


# ---- channels, subscriptions and mutes (migration 7) ----------------------------------

# Digest destinations: "slack:C123" posts at ``at`` (HH:MM) in the IANA zone ``tz`` on
# ``days`` ("weekdays", "daily" or "mon,wed"); ``topics`` is a JSON list, empty for all.
channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(20), nullable=False),
    Column("channel_id", String(100), nullable=False),
    Column("at", String(5), nullable=False),
    Column("tz", String(64), nullable=False),
    Column("days", String(40), nullable=False),
    Column("topics", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("platform", "channel_id", name="uq_channels_destination"),
)

# One person's interests: ``kind`` is topic, company, chip or keyword; ``value`` is the
# canonical name (gazetteer / taxonomy spelling) or the lower-case keyword.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(20), nullable=False),
    Column("user_id", String(100), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("value", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("platform", "user_id", "kind", "value", name="uq_subscriptions_interest"),
    Index("ix_subscriptions_value", "kind", "value"),
)

# Words that leave stories out: ``scope`` is "channel:<platform>:<id>" or "user:<platform>:<id>".
mutes = Table(
    "mutes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("scope", String(220), nullable=False),
    Column("word", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("scope", "word", name="uq_mutes_scope_word"),
)


# ---- passage vectors (migration 8) -----------------------------------------------------

# One unit-normalised float32 vector per passage and embeddings model (bot.core.semantic).
passage_vectors = Table(
    "passage_vectors",
    metadata,
    Column("passage_id", Integer, ForeignKey("passages.id", ondelete="CASCADE"), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("vector", LargeBinary, nullable=False),
)


# ---- delivery outbox (migration 9) -----------------------------------------------------

# Every digest and alert, claimed under a unique key before it is posted (bot.core.delivery):
# ``state`` is claimed, posted or failed; ``payload`` is the platform-neutral post.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(300), nullable=False, unique=True),
    Column("destination", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("posted_at", UTCDateTime),
    Column("error", Text),
    Index("ix_deliveries_destination", "destination", "kind", "claimed_at"),
    Index("ix_deliveries_state", "state"),
)


# ---- feedback (migration 10) -----------------------------------------------------------

# 👍/👎 on a briefing or an answer (issue #7): one vote per person and key (a later click
# replaces it); ``key`` names what was rated (a delivery key, ``briefing:…`` or ``answer:…``).
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(20), nullable=False),
    Column("user_id", String(100), nullable=False),
    Column("key", String(300), nullable=False),
    Column("vote", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    UniqueConstraint("platform", "user_id", "key", name="uq_feedback_vote"),
    Index("ix_feedback_at", "at"),
)
