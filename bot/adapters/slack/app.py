"""The Slack app (slack-bolt): slash commands, questions, buttons and the App Home.

:class:`SlackAdapter` builds a sync bolt :class:`~slack_bolt.App`. In HTTP mode its
requests arrive at ``POST /slack/events`` on briefbot's HTTP server
(:meth:`SlackAdapter.handle_http`, routed by :func:`bot.runtime.slack.route_slack`); bolt
verifies every request's signature with the signing secret (a bad or stale one gets 401).

- **Slash commands** (``/brief``, ``/ask``, ``/subscribe``, ``/unsubscribe``,
  ``/subscriptions``, ``/deals``, ``/stories``, ``/quiet``, ``/digest``, ``/feeds``,
  ``/schedule``, ``/followups``, and the catch-all ``/briefbot COMMAND ...`` reaching every
  command of the layer, ``/mute`` and ``/unmute`` included since Slack keeps ``/mute`` for
  itself; ``/briefbot`` alone is ``/help``) are acked at once;
  the work runs after the ack in bolt's listener thread (``process_before_response`` off).
  The command layer gets ``is_platform_admin`` from ``users.info`` (``is_admin`` or
  ``is_owner``). Replies are rendered by :mod:`bot.adapters.slack.render`: a briefing's
  first message in the channel and the rest in its thread, an answer or text reply in the
  channel, refusals and errors ephemeral (``chat.postEphemeral``).
- **@mentions** (``app_mention``) are questions: answered in a thread (the event's
  ``thread_ts``, else its ``ts``) through the command layer's ``/ask``, whose thread memory
  key is ``slack:<channel>:<thread_ts>``. A mention inside a thread has that thread re-read
  (``conversations.replies``) when the memory holds nothing of it.
- **Direct messages** (``message`` events with ``channel_type`` ``im``) are questions too,
  answered in a thread of the DM, with or without a mention (Slack sends no
  ``app_mention`` in a DM).
- A slash ``/ask`` answer's question and answer are stored as its message's thread turns,
  so a reply in its thread (or its "Ask a follow-up") keeps the question's context.
- **Follow-ups**: in a channel, a reply in a thread the bot answered (its thread id has
  turns in the thread memory) or posted in (``conversations.replies`` shows a message of
  the bot, e.g. a briefing it started) is a question without a new mention, unless the
  channel's own setting (``followups``, a :class:`FollowupSettings`: ``/followups off``) or,
  for a channel without one, ``thread_followups`` (``BRIEFBOT_SLACK_THREAD_FOLLOWUPS``) is off.
  A thread with no stored turns is re-read with ``conversations.replies`` and its earlier
  messages seed the memory, so the command
  layer's ``/ask`` sees them as history. Any bot's messages, edits and other subtypes
  (but ``thread_broadcast``), and channel messages that @mention the bot (``app_mention``
  answers those) are ignored.
- **Buttons** (rendered with ``with_buttons``): 👍/👎 (``feedback_up``/``feedback_down``,
  value the briefing's or answer's key) are stored through ``feedback`` (one vote per
  person and key); "Subscribe: <topic>" runs the command layer's ``/subscribe`` for the
  person who clicked; "Ask a follow-up" opens a modal (``views.open``) whose question is
  answered in the answer's thread. Confirmations are ephemeral.
- **App Home** (``app_home_opened`` on the Home tab): ``views.publish`` of the person's
  subscriptions as toggles (checkboxes: every topic, and the companies, chips and keywords
  they follow; a change runs ``/subscribe`` or ``/unsubscribe`` for them), the digests
  they receive (channels they are in, by ``users.conversations``, and their own by direct
  message) and the latest of those briefings, all from ``home`` (a :class:`HomeSource`).
  A private channel's digest is never shown to someone outside it.
- **Retried events** (Slack resends when it did not see a quick 200, with
  ``X-Slack-Retry-Num``) are de-duplicated by ``event_id`` through ``deduper``: an in-memory
  LRU per process by default; ``briefbot run`` gives it
  :class:`~bot.adapters.slack.dedupe.SharedDeduper`, which also claims each id in the
  database every instance shares, so a restart or a second instance does not answer again.
- **Several workspaces**: with ``oauth_settings``
  (:func:`bot.adapters.slack.oauth.oauth_settings`) there is no bot token; bolt authorises
  each request with its team's stored installation.

The same bolt app also runs over Socket Mode (:mod:`bot.adapters.slack.socket_mode`), where
the app token authenticates the websocket instead of signatures. ``/deals graph`` replies
are uploaded as a PNG (:mod:`bot.adapters.slack.upload`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.error import URLError

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.adapters.ports import Commands, FeedbackRecorder, ThreadMemory
from bot.adapters.slack.render import (
    ASK_FOLLOWUP,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    HOME_TOGGLE,
    SUBSCRIBE_TOPIC,
    Block,
    answer_blocks,
    briefing_blocks,
    briefing_fallback_text,
    briefing_key,
    escape_mrkdwn,
    home_view,
    reply_blocks,
)
from bot.adapters.slack.upload import post_graph
from bot.core.ask import Answer, Turn
from bot.core.commands import CommandContext, Reply

log = logging.getLogger(__name__)


class _NotOurToken(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment on its own and warns that the client
    we pass (which carries that token, or none with OAuth) wins: true, and noise for users."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("As you gave `client` as well")


_BOLT_LOG = logging.getLogger(__name__ + ".bolt")
_BOLT_LOG.addFilter(_NotOurToken())

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
SLASH_COMMANDS = (
    "brief",
    "ask",
    "subscribe",
    "unsubscribe",
    "subscriptions",
    "deals",
    "stories",
    "quiet",
    "digest",
    "feeds",
    "schedule",
    "followups",
    "briefbot",  # the catch-all: /briefbot COMMAND ... (the command layer strips the word)
)
REPLIES_LIMIT = 50  # messages of a thread re-read for context
FOLLOWUP_VIEW = "ask_followup_modal"  # the follow-up modal's callback id
MAX_QUESTION_CHARS = 500
MEMBERSHIP_PAGES = 10  # pages of users.conversations (200 channels each) read for the App Home
DEDUP_SIZE = 10_000  # event ids remembered per process
_LEADING_MENTIONS = re.compile(r"^(?:\s*<@[A-Z0-9]+(?:\|[^>]*)?>)+\s*")

Message = tuple[list[Block], str]


class FollowupSettings(Protocol):
    """Per-channel follow-up settings (``Service.thread_followups``, set by ``/followups``)."""

    def thread_followups(self, platform: str, channel_id: str) -> bool | None:
        """The channel's own setting, or None when it follows the default."""
        ...


@dataclass(frozen=True)
class HomeData:
    """What a person's App Home shows."""

    subscriptions: Sequence[tuple[str, str, str]] = ()  # (kind, value, label)
    channels: Sequence[tuple[str, str]] = ()  # (channel id, schedule) of the digests they get
    briefings: Sequence[tuple[str, datetime, str]] = ()  # (channel id, when, top line), newest first
    topics: Sequence[str] = ()  # every topic, each a toggle


MemberOf = Callable[[Sequence[str]], set[str]]  # which of these channels the person is in


class HomeSource(Protocol):
    """Where the App Home's data comes from (the service and the store, wired at run)."""

    def home(self, user_id: str, member_of: MemberOf) -> HomeData:
        """The person's tab: only digests and briefings of channels ``member_of`` says they
        are in, and their own digest."""
        ...

    def followed(self, user_id: str) -> set[tuple[str, str]]:
        """What the person follows now, as (kind, value)."""
        ...


def answer_key(channel: str, ts: str) -> str:
    """The feedback key of the answer to the message ``ts`` in ``channel``."""
    return f"answer:{PLATFORM}:{channel}:{ts}"


def thread_key(channel: str, thread_ts: str) -> str:
    """The thread id the command layer stores turns under: ``slack:<channel>:<thread_ts>``."""
    return f"{PLATFORM}:{channel}:{thread_ts}"


def web_client(token: str | None, base_url: str, *, deliveries: bool = False) -> WebClient:
    """A WebClient on ``base_url`` (``BRIEFBOT_SLACK_API_URL``) with slack_sdk's retry
    handlers: rate limits (honouring Retry-After), connection errors and 5xx.

    For the outbox's deliveries (``deliveries``) only the retries that can never post twice:
    rate limits (Slack posted nothing) and connections that failed before the request was
    sent (``URLError``); a 5xx or a connection lost while waiting for the answer goes back to
    the publisher, which looks for the post in the channel before posting again."""
    handlers: list[Any] = [RateLimitErrorRetryHandler(max_retry_count=2)]
    if deliveries:
        handlers.append(ConnectionErrorRetryHandler(max_retry_count=2, error_types=[URLError]))
    else:
        handlers += [
            ConnectionErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ]
    return WebClient(token=token, base_url=base_url, timeout=30, retry_handlers=handlers)


class EventDeduper:
    """Event ids seen lately (a thread-safe LRU): ``first(id)`` is True only once per id."""

    def __init__(self, size: int = DEDUP_SIZE) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, event_id: str) -> bool:
        """True when ``event_id`` was recorded (and not forgotten); records nothing."""
        with self._lock:
            return event_id in self._seen

    def first(self, event_id: str) -> bool:
        with self._lock:
            if event_id in self._seen:
                self._seen.move_to_end(event_id)
                return False
            self._seen[event_id] = None
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return True


class SlackAdapter:
    """The bolt app answering Slack commands and mentions through ``commands``."""

    def __init__(
        self,
        commands: Commands,
        *,
        token: str,
        signing_secret: str,
        api_url: str = "https://slack.com/api/",
        client: WebClient | None = None,
        deduper: EventDeduper | None = None,
        threads: ThreadMemory | None = None,
        thread_followups: bool = True,
        feedback: FeedbackRecorder | None = None,
        home: HomeSource | None = None,
        followups: FollowupSettings | None = None,
        oauth_settings: OAuthSettings | None = None,
    ) -> None:
        self.commands = commands
        self.home = home
        self.feedback = feedback
        self.threads = threads
        self.thread_followups = thread_followups
        self.followups = followups
        # With oauth_settings (several workspaces) each request's token comes from the
        # installation store, so the client carries none.
        self.client = client or web_client(None if oauth_settings else token, api_url)
        self.deduper = deduper or EventDeduper()
        self._foreign = EventDeduper()  # channel threads the bot has no part in
        self.app = App(
            client=self.client,
            signing_secret=signing_secret,
            oauth_settings=oauth_settings,
            token_verification_enabled=False,  # no auth.test at construction; bolt calls it on first use
            process_before_response=False,  # ack first, work afterwards
            logger=_BOLT_LOG,
        )
        self.app.middleware(self._dedupe)
        for name in SLASH_COMMANDS:
            self.app.command(f"/{name}")(self._on_command)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.action(FEEDBACK_UP)(self._on_feedback)
        self.app.action(FEEDBACK_DOWN)(self._on_feedback)
        self.app.action(re.compile(rf"^{SUBSCRIBE_TOPIC}_\d+$"))(self._on_subscribe)
        self.app.action(ASK_FOLLOWUP)(self._on_ask_followup)
        self.app.view(FOLLOWUP_VIEW)(self._on_followup_submitted)
        self.app.event("app_home_opened")(self._on_home_opened)
        self.app.action(re.compile(rf"^{HOME_TOGGLE}_\d+$"))(self._on_home_toggle)

    def handle_http(
        self, body: bytes, headers: Mapping[str, str], query: str = ""
    ) -> tuple[int, bytes, dict[str, str]]:
        """One HTTP request to ``/slack/events`` through bolt (signature checked): returns
        the status, body and headers to answer. Blocks until the listener acks (run it in a
        thread from an event loop)."""
        request = BoltRequest(
            body=body.decode("utf-8", errors="replace"),
            query=query,
            headers={name.lower(): [value] for name, value in headers.items()},
        )
        response = self.app.dispatch(request)
        out = {name: values[0] for name, values in response.headers.items() if values}
        out.pop("content-length", None)
        return response.status, response.body.encode("utf-8"), out

    # -- middleware and listeners ----------------------------------------------------------

    def _dedupe(self, body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:
        """Drop an event whose ``event_id`` was handled already (Slack's retries): 200, no work."""
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if isinstance(event_id, str) and event_id and not self.deduper.first(event_id):
            log.info("slack event %s seen already: retry ignored", event_id)
            return BoltResponse(status=200, body="")
        return next()

    def _on_command(self, ack: Callable[..., Any], command: dict[str, Any], client: WebClient) -> None:
        ack()
        channel = str(command.get("channel_id") or "")
        user = str(command.get("user_id") or "")
        text = f"{command.get('command', '')} {command.get('text', '')}".strip()
        ctx = CommandContext(
            PLATFORM, user, channel, None, is_platform_admin=self.is_platform_admin(client, user)
        )
        reply = self.commands.handle(ctx, text)
        key = answer_key(channel, f"{user}:{time.time():.6f}") if reply.answer is not None else None
        posted = self.send(client, reply, channel=channel, user=user, key=key)
        if posted and reply.answer is not None and reply.answer.found:
            self._remember_answer(channel, posted, reply.answer)

    def _remember_answer(self, channel: str, ts: str, answer: Answer) -> None:
        """Store a slash ``/ask``'s question and answer as the first turns of the answer
        message's thread, so a reply there (or "Ask a follow-up") keeps its context."""
        if self.threads is None:
            return
        now = datetime.now(UTC)
        turns = [
            Turn("user", answer.question, answer.entities, now),
            Turn("bot", answer.text, answer.entities, now),
        ]
        try:
            self.threads.add_turns(thread_key(channel, ts), turns)
        except Exception:  # the answer is posted; only its follow-up context is lost; logged
            log.exception("thread memory for the answer %s in %s not stored", ts, channel)

    def _on_mention(self, event: dict[str, Any], client: WebClient, context: Mapping[str, Any]) -> None:
        """A question: answered in the mention's thread. A mention inside a thread has the
        thread's earlier messages re-read as context (whoever wrote them)."""
        channel = str(event.get("channel") or "")
        user = str(event.get("user") or "")
        ts = str(event.get("ts") or "")
        thread_ts = str(event.get("thread_ts") or ts)
        if thread_ts and thread_ts != ts:
            bot_user = str(context.get("bot_user_id") or "")
            self._thread_history(client, channel, thread_ts, ts, bot_user, always=True)
        question = _LEADING_MENTIONS.sub("", str(event.get("text") or "")).strip()
        ctx = CommandContext(PLATFORM, user, channel, thread_ts or None, is_platform_admin=False)
        reply = self.commands.handle(ctx, f"ask {question}" if question else "help")
        key = answer_key(channel, str(event.get("ts") or thread_ts))
        self.send(
            client, reply, channel=channel, user=user, thread_ts=thread_ts or None, in_thread=True, key=key
        )

    def _on_message(self, event: dict[str, Any], client: WebClient, context: Mapping[str, Any]) -> None:
        """A direct message, or a follow-up in a channel thread the bot is part of: a question."""
        bot_user = str(context.get("bot_user_id") or "")
        user = str(event.get("user") or "")
        subtype = event.get("subtype")
        if (subtype and subtype != "thread_broadcast") or event.get("bot_id") or not user or user == bot_user:
            return  # edits, joins, deletions, any bot's posts (a reply also sent to the channel counts)
        text = str(event.get("text") or "")
        is_dm = event.get("channel_type") == "im"
        if not is_dm and bot_user and f"<@{bot_user}" in text:
            return  # app_mention answers it (Slack sends none in direct messages)
        channel = str(event.get("channel") or "")
        ts = str(event.get("ts") or "")
        if is_dm:  # every DM message is a question
            thread_ts = str(event.get("thread_ts") or ts)
        else:
            thread_ts = str(event.get("thread_ts") or "")
            if not thread_ts or thread_ts == ts or not self.followups_on(channel):
                return
        history = self._thread_history(client, channel, thread_ts, ts, bot_user, always=is_dm)
        if history is None:
            return  # a channel thread the bot has no part in
        question = _LEADING_MENTIONS.sub("", text).strip()
        if not question:
            return
        ctx = CommandContext(PLATFORM, user, channel, thread_ts, is_platform_admin=False)
        reply = self.commands.handle(ctx, f"ask {question}")
        key = answer_key(channel, ts)
        self.send(client, reply, channel=channel, user=user, thread_ts=thread_ts, in_thread=True, key=key)

    def _thread_history(
        self,
        client: WebClient,
        channel: str,
        thread_ts: str,
        current_ts: str,
        bot_user: str,
        *,
        always: bool,
    ) -> list[Turn] | None:
        """The thread's turns before the current message, seeding the thread memory from
        ``conversations.replies`` when it has none; None when a channel thread is not one
        the bot has posted in, unless ``always`` (a direct message, a mention, a follow-up
        modal). Threads found to be someone else's are remembered (an LRU), so chatter costs
        one re-read per thread."""
        key = thread_key(channel, thread_ts)
        try:
            stored = self.threads.thread_turns(key) if self.threads is not None else []
        except Exception:  # unreachable memory: a DM or mention is still answered; logged
            log.exception("thread memory of %s not read", key)
            return [] if always else None  # a channel thread may not be ours: left alone
        if stored:
            return stored
        if thread_ts == current_ts:
            return [] if always else None  # a new question: nothing to re-read
        if not always and self._foreign.seen(key):
            return None
        try:
            response = client.conversations_replies(channel=channel, ts=thread_ts, limit=REPLIES_LIMIT)
            messages = list(response.get("messages") or [])
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("conversations.replies %s %s failed: %s", channel, thread_ts, exc)
            return [] if always else None
        if not (always or any(_is_bot(m, bot_user) for m in messages)):
            self._foreign.first(key)
            return None
        turns = [
            Turn("bot" if _is_bot(m, bot_user) else "user", _message_text(m), (), _ts_time(m))
            for m in messages
            if str(m.get("ts") or "") != current_ts and not m.get("subtype") and _message_text(m)
        ]
        if turns and self.threads is not None:
            try:
                self.threads.add_turns(key, turns)
            except Exception:  # the memory is unreachable: the question is still answered; logged
                log.exception("thread memory of %s not stored", key)
        return turns

    # -- buttons and the follow-up modal -------------------------------------------------

    def _on_feedback(
        self, ack: Callable[..., Any], body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        """👍/👎: store the vote on the button's key, confirm ephemerally."""
        ack()
        user, channel, thread_ts = _clicked(body)
        key = str(action.get("value") or "")
        up = action.get("action_id") == FEEDBACK_UP
        if not (user and key):
            return
        if self.feedback is not None:
            try:
                self.feedback.record_feedback(PLATFORM, user, key, 1 if up else -1, datetime.now(UTC))
            except Exception:  # a store failure must not break the app; logged
                log.exception("feedback from %s on %s not stored", user, key)
                self._ephemeral(client, channel, user, "Sorry, your feedback could not be saved.", thread_ts)
                return
        self._ephemeral(
            client,
            channel,
            user,
            "Thanks, noted 👍" if up else "Thanks, noted 👎: we'll do better.",
            thread_ts,
        )

    def _on_subscribe(
        self, ack: Callable[..., Any], body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        """ "Subscribe: <topic>": the command layer's /subscribe for the person who clicked."""
        ack()
        user, channel, thread_ts = _clicked(body)
        topic = " ".join(str(action.get("value") or "").split())[:100]
        if not (user and topic):
            return
        ctx = CommandContext(PLATFORM, user, channel, None, is_platform_admin=False)
        reply = self.commands.handle(ctx, f"subscribe topic {topic}")
        self._ephemeral(client, channel, user, reply.text, thread_ts)

    def _on_ask_followup(self, ack: Callable[..., Any], body: dict[str, Any], client: WebClient) -> None:
        """ "Ask a follow-up": a modal with one question field; the thread goes in its metadata."""
        ack()
        user, channel, thread_ts = _clicked(body)
        message = body.get("message") or {}
        thread = thread_ts or str(message.get("ts") or "")
        trigger = str(body.get("trigger_id") or "")
        if not (channel and thread and trigger):
            return
        try:
            client.views_open(trigger_id=trigger, view=followup_view(channel, thread))
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("views.open for %s failed: %s", user, exc)

    def _on_followup_submitted(
        self,
        ack: Callable[..., Any],
        body: dict[str, Any],
        view: dict[str, Any],
        client: WebClient,
        context: Mapping[str, Any],
    ) -> None:
        """The modal's question: answered in the thread it was opened from, with that
        thread's context (re-read when the memory has none)."""
        values = (view.get("state") or {}).get("values") or {}
        question = " ".join(
            str((values.get("question") or {}).get("question", {}).get("value") or "").split()
        )
        if not question:
            ack(response_action="errors", errors={"question": "Type a question first."})
            return
        ack()
        try:
            meta = json.loads(str(view.get("private_metadata") or "{}"))
        except ValueError:
            meta = {}
        channel, thread_ts = str(meta.get("channel") or ""), str(meta.get("thread_ts") or "")
        user = str((body.get("user") or {}).get("id") or "")
        if not (channel and thread_ts and user):
            return
        bot_user = str(context.get("bot_user_id") or "")
        self._thread_history(client, channel, thread_ts, "", bot_user, always=True)
        ctx = CommandContext(PLATFORM, user, channel, thread_ts, is_platform_admin=False)
        reply = self.commands.handle(ctx, f"ask {question[:MAX_QUESTION_CHARS]}")
        digest = hashlib.sha1(f"{user}:{question}".encode(), usedforsecurity=False).hexdigest()[:10]
        asked = Reply(f"Follow-up: {question[:MAX_QUESTION_CHARS]}")
        self.send(client, asked, channel=channel, user=user, thread_ts=thread_ts, in_thread=True)
        self.send(
            client,
            reply,
            channel=channel,
            user=user,
            thread_ts=thread_ts,
            in_thread=True,
            key=answer_key(channel, f"{thread_ts}:{digest}"),
        )

    # -- App Home ----------------------------------------------------------------------------

    def _on_home_opened(self, event: dict[str, Any], client: WebClient) -> None:
        """The Home tab opened: publish it afresh (the Messages tab needs nothing)."""
        user = str(event.get("user") or "")
        if user and event.get("tab", "home") == "home":
            self.publish_home(client, user)

    def _on_home_toggle(
        self, ack: Callable[..., Any], body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        """A subscription toggle ticked or unticked: ``/subscribe`` or ``/unsubscribe`` for the
        person, for each option of that checkbox group whose tick now differs from what they
        follow. The tab stays as the person left it (an unticked company can be ticked again);
        when a change fails it is published afresh, showing what is really followed."""
        ack()
        user = str((body.get("user") or {}).get("id") or "")
        options = _element_options(body.get("view") or {}, str(action.get("action_id") or ""))
        if not user or self.home is None:
            return
        try:
            followed = self.home.followed(user)
        except Exception:  # a store failure: nothing changed; logged
            log.exception("home: subscriptions of %s could not be read", user)
            return
        ticked = {str(o.get("value") or "") for o in action.get("selected_options") or []}
        failed = options is None
        for value in options or []:
            interest = _interest(value)
            if interest is None or (interest in followed) == (value in ticked):
                continue
            kind, name = interest
            what = '"' + name.replace('"', "") + '"' if kind == "keyword" else name
            verb = "subscribe" if value in ticked else "unsubscribe"
            reply = self.commands.handle(CommandContext(PLATFORM, user, ""), f"{verb} {kind} {what}")
            if reply.error:
                log.info("home: %s %s %s for %s: %s", verb, kind, name, user, reply.text)
                failed = True
        if failed:
            self.publish_home(client, user)

    def publish_home(self, client: WebClient, user: str) -> None:
        """``views.publish`` the person's Home tab (digests of the channels they are in)."""

        def member_of(channels: Sequence[str]) -> set[str]:
            return self.member_channels(client, user, channels)

        try:
            data = self.home.home(user, member_of) if self.home is not None else HomeData()
        except Exception:  # a store failure shows an empty tab rather than none; logged
            log.exception("home for %s could not be read", user)
            data = HomeData()
        view = home_view(data.subscriptions, data.channels, data.briefings, data.topics)
        try:
            client.views_publish(user_id=user, view=view)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("views.publish for %s failed: %s", user, exc)

    def member_channels(self, client: WebClient, user: str, channels: Sequence[str]) -> set[str]:
        """Which of ``channels`` the person is in (``users.conversations``: their public
        channels, and private ones the bot shares). None of them when Slack cannot say
        (logged): the tab then shows no channel rather than one they may not be in."""
        wanted, found = set(channels), set[str]()
        cursor: str | None = None
        try:
            for _ in range(MEMBERSHIP_PAGES):
                response = client.users_conversations(
                    user=user,
                    types="public_channel,private_channel",
                    exclude_archived=True,
                    limit=200,
                    cursor=cursor,
                )
                found |= {str(c.get("id")) for c in response.get("channels") or []} & wanted
                cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "") or None
                if cursor is None or found == wanted:
                    break
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("users.conversations for %s failed: %s", user, exc)
            return set()
        return found

    def _ephemeral(
        self, client: WebClient, channel: str, user: str, text: str, thread_ts: str | None
    ) -> None:
        """``text`` (escaped) shown only to ``user`` in ``channel`` (in the thread, if any)."""
        if not (channel and user):
            return
        try:
            client.chat_postEphemeral(
                channel=channel,
                user=user,
                thread_ts=thread_ts,
                blocks=reply_blocks(text),
                text=escape_mrkdwn(text)[:3000] or "briefbot",
            )
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("ephemeral reply to %s in %s failed: %s", user, channel, exc)

    # -- helpers -------------------------------------------------------------------------

    def followups_on(self, channel: str) -> bool:
        """Whether replies in ``channel``'s threads are answered without a mention: the
        channel's own setting (``/followups``), else ``thread_followups``."""
        if self.followups is not None:
            try:
                own = self.followups.thread_followups(PLATFORM, channel)
            except Exception:  # a store failure falls back to the default; logged
                log.exception("follow-up setting of %s could not be read", channel)
                own = None
            if own is not None:
                return own
        return self.thread_followups

    def is_platform_admin(self, client: WebClient, user: str) -> bool:
        """True when ``users.info`` says the person is a workspace admin or owner."""
        if not user:
            return False
        try:
            info = client.users_info(user=user).get("user") or {}
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("users.info %s failed: %s", user, exc)
            return False
        return bool(info.get("is_admin") or info.get("is_owner"))

    def send(
        self,
        client: WebClient,
        reply: Reply,
        *,
        channel: str,
        user: str,
        thread_ts: str | None = None,
        in_thread: bool = False,
        key: str | None = None,
    ) -> str | None:
        """Post ``reply``: ephemeral for refusals and errors (outside a thread), else in the
        channel (or ``thread_ts``'s thread); a briefing continues in its first message's thread.
        A briefing, and an answer with a ``key``, get the feedback buttons. A deal graph is
        uploaded as a picture (:func:`~bot.adapters.slack.upload.post_graph`). Returns the
        ``ts`` of the first message posted in the channel, if any."""
        if reply.graph is not None:
            post_graph(client, reply.graph, reply.text, channel=channel, user=user, thread_ts=thread_ts)
            return None
        messages = reply_messages(reply, key=key, with_buttons=not (reply.ephemeral or reply.error))
        first: str | None = None
        try:
            if (reply.ephemeral or reply.error) and not in_thread:
                blocks, text = messages[0]
                client.chat_postEphemeral(channel=channel, user=user, blocks=blocks, text=text)
                return None
            for blocks, text in messages:
                response = client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    blocks=blocks,
                    text=text,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                first = first or str(response.get("ts") or "") or None
                thread_ts = thread_ts or first
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack reply in %s failed: %s", channel, exc)
        return first


def _element_options(view: Mapping[str, Any], action_id: str) -> list[str] | None:
    """The option values of the checkboxes ``action_id`` in the published ``view`` (the
    interaction carries it), or None when it is not there."""
    for block in view.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, Mapping) and element.get("action_id") == action_id:
                return [str(o.get("value") or "") for o in element.get("options") or []]
    return None


def _interest(value: str) -> tuple[str, str] | None:
    """(kind, value) from a toggle's value, or None when it is not one of ours."""
    try:
        data = json.loads(value)
        kind, name = str(data["kind"]), " ".join(str(data["value"]).split())
    except (ValueError, KeyError, TypeError):
        return None
    return (kind, name) if kind in ("topic", "company", "chip", "keyword") and name else None


def _clicked(body: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(who clicked, the channel, the clicked message's thread) of an interactive payload."""
    user = str((body.get("user") or {}).get("id") or "")
    channel = str(
        (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    )
    message = body.get("message") or {}
    thread = str(message.get("thread_ts") or "") or None
    return user, channel, thread


def followup_view(channel: str, thread_ts: str) -> dict[str, Any]:
    """The "Ask a follow-up" modal: one question field; the thread in ``private_metadata``."""
    return {
        "type": "modal",
        "callback_id": FOLLOWUP_VIEW,
        "private_metadata": json.dumps({"channel": channel, "thread_ts": thread_ts}),
        "title": {"type": "plain_text", "text": "Ask a follow-up"},
        "submit": {"type": "plain_text", "text": "Ask"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "question",
                "label": {"type": "plain_text", "text": "Your question"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "question",
                    "multiline": True,
                    "max_length": MAX_QUESTION_CHARS,
                    "placeholder": {"type": "plain_text", "text": "and how much did AMD put in?"},
                },
            }
        ],
    }


def _is_bot(message: Mapping[str, Any], bot_user: str) -> bool:
    """True when ``message`` was posted by this app's bot user."""
    return bool(bot_user) and message.get("user") == bot_user


def _message_text(message: Mapping[str, Any]) -> str:
    """A message's text on one line, leading mentions removed, capped."""
    return " ".join(_LEADING_MENTIONS.sub("", str(message.get("text") or "")).split())[:2000]


def _ts_time(message: Mapping[str, Any]) -> datetime:
    """When a message was posted (its ``ts``), in UTC."""
    try:
        return datetime.fromtimestamp(float(str(message.get("ts") or "0")), UTC)
    except (ValueError, OverflowError):
        return datetime.now(UTC)


def reply_messages(reply: Reply, *, key: str | None = None, with_buttons: bool = False) -> list[Message]:
    """A command layer reply as Slack messages (blocks, fallback text); with ``with_buttons``
    a briefing (rated as ``key`` or its own :func:`briefing_key`) and an answer with a
    ``key`` end in buttons."""
    if reply.briefing is not None:
        fallback = briefing_fallback_text(reply.briefing)
        key = key or f"{PLATFORM}:{briefing_key(reply.briefing)}"
        messages = briefing_blocks(reply.briefing, with_buttons=with_buttons, key=key)
        return [(blocks, fallback) for blocks in messages]
    text = escape_mrkdwn(reply.text)[:3000] or "briefbot"
    if reply.answer is not None:
        buttons = with_buttons and key is not None and reply.answer.found
        return [(answer_blocks(reply.answer, with_buttons=buttons, key=key), text)]
    return [(reply_blocks(reply.text), text)]
