"""The JSON Schema of an intent document, for editors and yaml-language-server."""

from __future__ import annotations

from typing import Any

from chatops import __version__
from chatops.intents.model import IntentDoc

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def intent_json_schema() -> dict[str, Any]:
    schema = IntentDoc.model_json_schema(mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "$comment": f"chatops {__version__}: one YAML document of chatops/intents/*.yaml",
        **schema,
    }
