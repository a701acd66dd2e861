"""Chat adapters: each translates one platform's messages to the shared command layer
(``bot.core.commands``) and renders its platform-neutral replies. The console adapter
needs no credentials; Slack and Discord arrive in later slices of issue #6."""
