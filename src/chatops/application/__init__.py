"""The application layer: every use case, written once, for every surface.

``intents`` (the contract) -> ``planning`` (pure) -> ``runner``/``engine`` (execution) ->
this package -> the surfaces (``server`` for HTTP and the GitHub webhook, the scheduler,
and the chat and web surfaces to come), which only parse input, call one method of
``Deploys`` and render its answer or its error.

- ``caller``: who asks (surface, name, address, permissions), and the audit interface;
- ``decisions``: every check of a run, in one order, from Git objects; nothing moves;
- ``deploys``: the use cases (run, deploy a pushed commit, orchestrate, a schedule's
  fire), each auditing its own decision, accepted or refused, the same way whoever asked;
- ``queue``: the per-stack queues of the one process that owns the runs;
- ``metrics``: what the use cases count.
"""
