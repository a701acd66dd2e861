"""Every error briefbot raises on purpose derives from :class:`BriefbotError`.

The message of each is one line a user can act on; the command line prints it as
``briefbot: error: <message>`` and never shows a traceback.

    BriefbotError
    ├── ConfigError          a setting has a bad value (names the setting)
    ├── StoreError           the database cannot be opened or migrated
    ├── FeedError            a feed cannot be added, fetched or parsed
    │   ├── UnsafeURLError   a URL is refused by the SSRF guard (scheme, credentials, address)
    │   ├── FetchError       the HTTP exchange failed (timeout, status, size cap, redirects)
    │   └── ParseError       the body holds no feed that can be read
    ├── NotFoundError        the named feed, story or channel does not exist
    └── UsageError           a command was called with arguments that cannot work
"""

from __future__ import annotations


class BriefbotError(Exception):
    """Root of briefbot's errors; ``str(err)`` is a one-line message for users."""


class ConfigError(BriefbotError):
    """A setting from the environment or briefbot.toml has a bad value."""


class StoreError(BriefbotError):
    """The database cannot be reached, opened or migrated."""


class FeedError(BriefbotError):
    """A feed could not be added, fetched or parsed."""


class UnsafeURLError(FeedError):
    """A URL is refused: not http(s), carries credentials, or points at a private address."""


class FetchError(FeedError):
    """The HTTP exchange for a feed failed.

    ``retry_after`` is the number of seconds the server asked us to wait (429/503), if any.
    """

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ParseError(FeedError):
    """A response body holds nothing that can be read as a feed."""


class NotFoundError(BriefbotError):
    """The named feed, story, channel or other object does not exist."""


class UsageError(BriefbotError):
    """A command was given arguments that cannot work together."""
