"""The baseline of bench/abuse.py: the same service, served on uvicorn's stock httptools
protocol (no limits on the request head, no head deadline, no caps, allowlist after the
head is read), as chatops served it before its connections were bounded."""

from __future__ import annotations

import sys

import uvicorn

from chatops.server.serve import build
from chatops.settings import load_settings


def main() -> None:
    settings = load_settings(repo=sys.argv[1], port=int(sys.argv[2]))
    app = build(settings)
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port,
                                  log_level="warning", access_log=False, loop="asyncio",
                                  http="httptools", lifespan="on")).run()


if __name__ == "__main__":
    main()
