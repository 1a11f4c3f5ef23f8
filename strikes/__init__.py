"""Strikes: the enforcement engine fed by the classifier and by moderators.

Modules, from the core outwards (see ``strikes/README.md`` for the rules and design choices):

* ``domain``   enums, ledger entries, account state, decisions (plain dataclasses)
* ``policy``   the strike policy YAML (``configs/strikes.yaml``), validated at load
* ``engine``   pure functions: ``evaluate(ledger, policy, as_of)``, ``decide(ledger, record, policy)``
* ``storage``  the append-only ledger in SQLite or PostgreSQL (SQLAlchemy, Alembic migrations)
* ``service``  ``StrikeService``: record violations and appeals, one locked transaction each
* ``settings`` ``StrikeSettings`` from ``TEGUR_*`` variables
* ``schemas``, ``api``  the HTTP layer (``APIRouter`` under ``/v1``); ``cli``  ``tegur strikes ...``
* ``testing``  throwaway databases and parallel writers for tests and the benchmark
"""
