"""Chat surfaces: Discord application commands and Slack slash commands, adapters of the
same use cases as the HTTP API (one path, one set of checks, one audit trail)."""
