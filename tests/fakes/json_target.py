"""A plain JSON webhook on loopback, as Apprise's ``json://`` target posts to it."""

from __future__ import annotations

from tests.fakes.recorder import Recorder


class JsonTarget(Recorder):
    """Records every JSON body posted to it (``received``); ``url`` is the Apprise URL
    to use."""

    def __init__(self) -> None:
        super().__init__()
        self.received = self.bodies
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
