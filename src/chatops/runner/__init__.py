"""Running a plan: snapshot, commands, health gates, rollback; everything recorded."""
