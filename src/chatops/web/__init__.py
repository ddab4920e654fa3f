"""The dashboard: server-rendered pages under /ui, one more surface of the use cases."""
