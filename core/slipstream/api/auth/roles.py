"""The four roles and what each may do, as in Airflow: each role can do all that
the roles below it can.

- ``viewer`` reads DAGs, runs, task instances, logs, XComs, pools, import errors;
- ``user`` also triggers, clears, marks, pauses and deletes runs;
- ``op`` also manages variables, connections and pools;
- ``admin`` also manages users.
"""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    VIEWER = 1
    USER = 2
    OP = 3
    ADMIN = 4

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(
                f"unknown role {name!r}; choose one of {', '.join(r.label for r in cls)}"
            ) from None

    @property
    def label(self) -> str:
        return self.name.lower()
