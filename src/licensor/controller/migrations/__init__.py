"""Alembic migration scripts of the controller database (see ``licensor.controller.migrate``)."""
