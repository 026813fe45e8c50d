"""Local emulator of the Vertex AI v1 REST API (models, endpoints, deployments, predict).

Laid out like a moto service: ``backend`` (state and rules, no HTTP), ``routes`` (route table,
request parsing, response shaping; its docstring lists the REST operations implemented),
``errors`` (typed errors with HTTP status and Google's error envelope), ``operations`` (LRO
bookkeeping), ``traffic`` (traffic split rules), ``state`` (the state file), ``runtime`` (loading
and running models), ``server`` and ``__main__`` (HTTP server and command line).
"""
