"""Git as the source of truth: sync the host's checkout to a merged commit, and find the
intents a commit range affects."""
