"""JSON log lines with the seed's fields, for a host's journal.

``{"name": "root", "intent": ..., "action": ..., "stack": ..., "service": ..., "argv": [...],
"client": ..., "ts": "2025-10-30 22:30:45,123", "level": "INFO", "msg": "executing"}``
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

from chatops.events import (
    COMMAND_FINISHED,
    COMMAND_STARTED,
    GATE_FINISHED,
    ROLLBACK_STARTED,
    RUN_FINISHED,
    RUN_STARTED,
    WAITING,
    Event,
)
from chatops.masking import Masker

FIELDS = ("intent", "action", "stack", "service", "argv", "client", "run_id", "phase",
          "exit_code", "duration", "status", "reason", "gate", "detail")


class JsonFormatter(logging.Formatter):
    """The seed's JSON line; ``masker`` keeps every known secret out of it."""

    def __init__(self, masker: Masker | None = None) -> None:
        super().__init__()
        self.masker = masker if masker is not None else Masker()

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {"name": record.name}
        for key in FIELDS:
            if key in record.__dict__:
                body[key] = record.__dict__[key]
        body["ts"] = self.formatTime(record)
        body["level"] = record.levelname
        body["msg"] = record.getMessage()
        return json.dumps(self.masker.mask_data(body), ensure_ascii=False)


def json_logger(stream: TextIO | None = None, path: Path | None = None,
                level: str = "INFO", masker: Masker | None = None) -> logging.Logger:
    """The root logger, writing JSON lines to ``path`` or ``stream`` (stderr)."""
    logger = logging.getLogger()
    for old in list(logger.handlers):
        if getattr(old, "_chatops", False):
            logger.removeHandler(old)
    handler: logging.Handler
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(masker))
    setattr(handler, "_chatops", True)  # noqa: B010 - marks our handler for replacement
    logger.addHandler(handler)
    logger.setLevel(level)
    # httpx logs every request at INFO; the engine API is polled many times a second.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return logger


class LogSink:
    """Turns run events into the seed's log lines."""

    def __init__(self, logger: logging.Logger, client: str) -> None:
        self.logger = logger
        self.client = client

    def __call__(self, event: Event) -> None:
        d = event.data
        extra: dict[str, Any] = {"intent": event.intent, "run_id": event.run_id,
                                 "client": d.get("client", self.client)}
        for key in ("action", "stack", "service", "phase"):
            if key in d:
                extra[key] = d[key]
        if event.kind == COMMAND_STARTED:
            self.logger.info("executing", extra={**extra, "argv": d["argv"]})
        elif event.kind == COMMAND_FINISHED:
            ok = d["ok"]
            extra.update(argv=d["argv"], exit_code=d["exit_code"],
                         duration=round(d["duration"], 3))
            if ok:
                self.logger.info("succeeded", extra=extra)
            else:
                self.logger.error(f"failed: {d['detail']}", extra=extra)
        elif event.kind == GATE_FINISHED:
            extra.update(gate=d["description"], detail=d["detail"])
            if d["ok"]:
                self.logger.info("health gate passed", extra=extra)
            else:
                self.logger.error("health gate failed", extra=extra)
        elif event.kind == ROLLBACK_STARTED:
            self.logger.warning(f"rolling back: {d['reason']}", extra=extra)
        elif event.kind == RUN_STARTED:
            self.logger.info("run started", extra=extra)
        elif event.kind == WAITING:
            self.logger.info(f"waiting for stack {d['stack']}: held by {d['holder']}",
                             extra=extra)
        elif event.kind == RUN_FINISHED:
            extra.update(status=d["status"], reason=d.get("reason"))
            level = logging.INFO if d["status"] == "succeeded" else logging.ERROR
            self.logger.log(level, d["status"], extra=extra)
