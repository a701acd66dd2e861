"""briefbot: AI-infrastructure news briefings for Slack, Discord and the terminal."""

__version__ = "0.1.0"
