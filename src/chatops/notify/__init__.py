"""Telling people and monitors what happened, without ever being in a deploy's way.

``outbox`` stores every message before anything is sent and delivers it from a
background worker with retries; ``kuma`` is the Uptime Kuma push monitor target.
"""
