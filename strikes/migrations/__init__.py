"""Alembic migrations of the strike schema (a package so that it ships with ``pip install``)."""
