"""``chatops serve``: the HTTP API that CI calls after a merge (the seed's ``POST /run``).

``guard`` refuses callers before routing (allowlist, key, rate limits, lockout);
``app`` holds the endpoints; ``manager`` queues runs per stack; ``audit`` keeps the
hash-chained trail; ``keys`` stores named API keys as hashes.
"""
