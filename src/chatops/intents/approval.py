"""The ``approval`` block of an intent: people who must say yes in chat before it runs.

```yaml
approval:
  approvers: ["discord:role:112233445566778899", "slack:group:S0123ABCD", "key:release"]
  min: 1          # how many different approvers
  ttl: 30m        # then the run ends "expired"
  self_approve: false  # whoever asked for the run may not approve it
```

An approver is a chat identity (``discord:user:ID``, ``discord:role:ID``,
``slack:user:ID``, ``slack:group:ID``), an API key (``key:NAME``) or a user of the
dashboard (``user:NAME``). Without approvers,
anyone whose grant has the ``approve`` scope for the intent may approve. The block
applies to the whole intent file: its first document that has one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from chatops.identities import APPROVER_RE, chat_shapes
from chatops.intents.fields import Duration, _Strict


def _approver(value: str) -> str:
    if not APPROVER_RE.match(value):
        raise ValueError(f"{value!r}: expected {', '.join(chat_shapes())}, key:NAME or "
                         "user:NAME")
    return value


Approver = Annotated[str, AfterValidator(_approver), WithJsonSchema(
    {"type": "string", "pattern": APPROVER_RE.pattern})]


class Approval(_Strict):
    approvers: list[Approver] = Field(
        default=[], max_length=50,
        description="who may approve: chat identities (discord:user:ID, discord:role:ID, "
        "slack:user:ID, slack:group:ID), API keys (key:NAME) or dashboard users "
        "(user:NAME); empty: anyone with the approve scope for this intent")
    min: int = Field(default=1, ge=1, le=10,
                     description="how many different approvers must say yes")
    ttl: Duration = Field(default=1800.0, description="how long the run waits for its "
                          "approvals before it ends expired (e.g. 30m)")
    self_approve: bool = Field(default=False, description="whether whoever asked for the "
                               "run may approve it")

    @model_validator(mode="after")
    def _enough_people(self) -> Approval:
        people = [a for a in self.approvers
                  if a.startswith(("key:", "user:")) or a.split(":")[1] == "user"]
        groups = [a for a in self.approvers if a not in people]
        if self.approvers and not groups and len(set(people)) < self.min:
            raise ValueError(f"min is {self.min} but only {len(set(people))} approver(s) "
                             "are listed: the run could never be approved")
        if self.ttl > 7 * 86400:
            raise ValueError("ttl is at most 7d")
        return self
