"""The composition root: the ``scriptorium`` command, ``up``'s supervisor and the embedded servers.

The one package that knows all three others (webapp, worker, ingest); none of them imports it.
"""
