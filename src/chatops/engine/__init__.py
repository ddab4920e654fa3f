"""The container engine behind one small interface (``Engine``).

``process`` runs argv lists (Compose) as process groups with timeouts and streamed
output; ``docker_api`` reads container state from the Engine API over its socket;
``docker`` puts the two together; ``fake`` is a small in-memory engine for unit tests.
"""

from chatops.engine.base import CommandResult, ContainerState, Engine, OutputLine

__all__ = ["CommandResult", "ContainerState", "Engine", "OutputLine"]
