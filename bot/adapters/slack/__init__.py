"""The Slack adapter (issue #7): Block Kit rendering (``render``) and the app manifest."""
