"""The run history (``sqlite``: every run, its steps, snapshots, gates and output), its
records (``records``), and the audit trail (``audit``). Nothing is imported here: a
command that only shows records does not load SQLite."""
