"""What differs between SQLite and PostgreSQL in the views' SQL: little."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    ph: str  # the driver's placeholder
    blob: str
    real: str
    bigint: str
    schema: str = ""  # "name." prefix (PostgreSQL), or empty

    def t(self, table: str) -> str:
        """A table's qualified name."""
        return f"{self.schema}{table}"

    def sql(self, statement: str) -> str:
        """Write statements with ``?``; this puts in the driver's placeholder."""
        return statement if self.ph == "?" else statement.replace("?", self.ph)

    def in_schema(self, schema: str) -> Dialect:
        return Dialect(self.name, self.ph, self.blob, self.real, self.bigint,
                       f'"{schema}".' if schema else "")


SQLITE = Dialect("sqlite", "?", "BLOB", "REAL", "INTEGER")
POSTGRES = Dialect("postgres", "%s", "BYTEA", "DOUBLE PRECISION", "BIGINT")
