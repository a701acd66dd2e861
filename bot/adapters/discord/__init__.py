"""The Discord adapter (issue #8): briefings and answers rendered as embeds within
Discord's limits (``render``), with every mention defused and links only to stored
article URLs."""
