"""Local emulator of Cloud Storage (JSON, upload, download and XML routes).

Built on the ``gcp-storage-emulator`` package, extended here with GCS's write preconditions
(``ifGenerationMatch``...) answering 412 in GCS's error envelope, private ``/_emulator/`` routes, and
a command line for the local stack: ``python -m mlcloud.infra.gcs --data DIR --port 0 --ready-file F``.

Layout (like moto's services): ``preconditions`` is logic with no HTTP, ``errors`` are typed errors
with their envelope, ``routes`` is the route table and request handling, ``server`` runs it.
"""
