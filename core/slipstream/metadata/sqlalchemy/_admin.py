"""Scheduler jobs, variables, connections, pools and web users."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from slipstream.errors import AlreadyExistsError, NotFoundError, StoreError
from slipstream.metadata.records import (
    DEFAULT_POOL,
    USER_ROLES,
    Connection,
    Job,
    JobState,
    Page,
    Pool,
    User,
    Variable,
)
from slipstream.metadata.sqlalchemy import schema as s
from slipstream.metadata.sqlalchemy._base import (
    StoreBase,
    check_aware,
    check_json,
    inserted_id,
    utcnow,
)
from slipstream.state import TaskInstanceState


def _job(row: sa.Row[Any]) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        hostname=row.hostname,
        pid=row.pid,
        state=JobState(row.state),
        started_at=row.started_at,
        last_heartbeat_at=row.last_heartbeat_at,
        ended_at=row.ended_at,
    )


def _user(row: sa.Row[Any]) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=row.role,
        password_hash=row.password_hash,
        email=row.email,
        active=bool(row.active),
        created_at=row.created_at,
        last_login=row.last_login,
    )


def _check_role(role: str) -> None:
    if role not in USER_ROLES:
        raise ValueError(f"role must be one of {', '.join(USER_ROLES)}; got {role!r}")


class AdminMixin(StoreBase):
    # -- jobs -------------------------------------------------------------------------

    def start_job(self, kind: str, hostname: str, pid: int) -> Job:
        now = utcnow()
        with self._write() as conn:
            result = conn.execute(
                s.job.insert().values(
                    kind=kind,
                    hostname=hostname,
                    pid=pid,
                    state=JobState.RUNNING.value,
                    started_at=now,
                    last_heartbeat_at=now,
                )
            )
            job_id = inserted_id(result)
            return _job(conn.execute(sa.select(s.job).where(s.job.c.id == job_id)).one())

    def heartbeat_job(self, job_id: int) -> Job:
        with self._write() as conn:
            done = conn.execute(
                s.job.update().where(s.job.c.id == job_id).values(last_heartbeat_at=utcnow())
            )
            if done.rowcount == 0:
                raise NotFoundError(f"no job with id {job_id}")
            return _job(conn.execute(sa.select(s.job).where(s.job.c.id == job_id)).one())

    def end_job(self, job_id: int, state: JobState = JobState.SUCCESS) -> None:
        with self._write() as conn:
            done = conn.execute(
                s.job.update()
                .where(s.job.c.id == job_id)
                .values(state=JobState(state).value, ended_at=utcnow())
            )
            if done.rowcount == 0:
                raise NotFoundError(f"no job with id {job_id}")

    def list_jobs(
        self, *, kind: str | None = None, alive_within: timedelta | None = None
    ) -> list[Job]:
        query = sa.select(s.job).order_by(s.job.c.id.desc())
        if kind is not None:
            query = query.where(s.job.c.kind == kind)
        if alive_within is not None:
            query = query.where(
                s.job.c.state == JobState.RUNNING.value,
                s.job.c.last_heartbeat_at >= utcnow() - alive_within,
            )
        with self._read() as conn:
            return [_job(row) for row in conn.execute(query)]

    def mark_dead_jobs(self, *, kind: str | None = None, older_than: timedelta) -> list[int]:
        now = utcnow()
        where = [
            s.job.c.state == JobState.RUNNING.value,
            s.job.c.last_heartbeat_at < now - older_than,
        ]
        if kind is not None:
            where.append(s.job.c.kind == kind)
        with self._write() as conn:
            dead = sorted(conn.scalars(sa.select(s.job.c.id).where(*where).with_for_update()))
            if dead:
                conn.execute(
                    s.job.update()
                    .where(s.job.c.id.in_(dead))
                    .values(state=JobState.FAILED.value, ended_at=now)
                )
        return dead

    # -- variables --------------------------------------------------------------------

    def set_variable(self, key: str, value: str, *, description: str | None = None) -> None:
        if not isinstance(value, str):
            raise TypeError(f"variable {key!r}: values are strings (JSON-encode others)")
        values = {"val": self._secrets.encrypt(value), "description": description}
        with self._write() as conn:
            done = conn.execute(s.variable.update().where(s.variable.c.key == key).values(**values))
            if done.rowcount == 0:
                conn.execute(s.variable.insert().values(key=key, **values))

    def _variable(self, row: sa.Row[Any]) -> Variable:
        value = self._secrets.decrypt(row.val, what=f"variable {row.key!r}")
        return Variable(key=row.key, value=value, description=row.description)

    def get_variable(self, key: str) -> Variable | None:
        with self._read() as conn:
            row = conn.execute(sa.select(s.variable).where(s.variable.c.key == key)).first()
        return None if row is None else self._variable(row)

    def list_variables(self, *, limit: int | None = None, offset: int = 0) -> Page[Variable]:
        order = [s.variable.c.key]
        with self._read() as conn:
            return self._page(conn, sa.select(s.variable), order, limit, offset, self._variable)

    def delete_variable(self, key: str) -> None:
        with self._write() as conn:
            if conn.execute(s.variable.delete().where(s.variable.c.key == key)).rowcount == 0:
                raise NotFoundError(f"variable {key!r} does not exist")

    # -- connections ------------------------------------------------------------------

    def set_connection(self, conn: Connection) -> None:
        check_json(conn.extra, f"connection {conn.conn_id!r} extra")
        values = {
            "conn_type": conn.conn_type,
            "description": conn.description,
            "host": conn.host,
            "schema": conn.schema,
            "login": conn.login,
            "password": None if conn.password is None else self._secrets.encrypt(conn.password),
            "port": conn.port,
            "extra": self._secrets.encrypt(json.dumps(conn.extra)) if conn.extra else None,
        }
        c = s.connection
        with self._write() as db:
            done = db.execute(c.update().where(c.c.conn_id == conn.conn_id).values(**values))
            if done.rowcount == 0:
                db.execute(c.insert().values(conn_id=conn.conn_id, **values))

    def _connection(self, row: sa.Row[Any]) -> Connection:
        what = f"connection {row.conn_id!r}"
        password = None
        if row.password is not None:
            password = self._secrets.decrypt(row.password, what=f"{what} password")
        extra = {}
        if row.extra is not None:
            extra = json.loads(self._secrets.decrypt(row.extra, what=f"{what} extra"))
        return Connection(
            conn_id=row.conn_id,
            conn_type=row.conn_type,
            host=row.host,
            schema=row.schema,
            login=row.login,
            password=password,
            port=row.port,
            extra=extra,
            description=row.description,
        )

    def get_connection(self, conn_id: str) -> Connection | None:
        c = s.connection
        with self._read() as db:
            row = db.execute(sa.select(c).where(c.c.conn_id == conn_id)).first()
        return None if row is None else self._connection(row)

    def list_connections(self, *, limit: int | None = None, offset: int = 0) -> Page[Connection]:
        c = s.connection
        with self._read() as db:
            return self._page(db, sa.select(c), [c.c.conn_id], limit, offset, self._connection)

    def delete_connection(self, conn_id: str) -> None:
        c = s.connection
        with self._write() as db:
            if db.execute(c.delete().where(c.c.conn_id == conn_id)).rowcount == 0:
                raise NotFoundError(f"connection {conn_id!r} does not exist")

    # -- pools --------------------------------------------------------------------------

    def set_pool(self, name: str, slots: int, *, description: str | None = None) -> Pool:
        if slots < 0:
            raise ValueError(f"pool {name!r}: slots must be 0 or more, got {slots}")
        p = s.slot_pool
        with self._write() as conn:
            values = {"slots": slots, "description": description}
            if conn.execute(p.update().where(p.c.pool == name).values(**values)).rowcount == 0:
                conn.execute(p.insert().values(pool=name, **values))
        found = self.get_pool(name)
        assert found is not None
        return found

    def get_pool(self, name: str) -> Pool | None:
        pools = self._pools(name)
        return pools[0] if pools else None

    def list_pools(self, *, scheduled: bool = True) -> list[Pool]:
        return self._pools(None, scheduled=scheduled)

    def _pools(self, name: str | None, *, scheduled: bool = True) -> list[Pool]:
        p, t = s.slot_pool, s.task_instance
        counted = [TaskInstanceState.RUNNING, TaskInstanceState.QUEUED]
        if scheduled:
            counted.append(TaskInstanceState.SCHEDULED)
        usage_query = (
            sa.select(t.c.pool, t.c.state, sa.func.sum(t.c.pool_slots))
            .where(t.c.state.in_([state.value for state in counted]))
            .group_by(t.c.pool, t.c.state)
        )
        pools_query = sa.select(p).order_by(p.c.pool)
        if name is not None:
            usage_query = usage_query.where(t.c.pool == name)
            pools_query = pools_query.where(p.c.pool == name)
        with self._read() as conn:
            usage: dict[tuple[str, str], int] = {
                (pool, state): int(total or 0) for pool, state, total in conn.execute(usage_query)
            }
            rows = list(conn.execute(pools_query))
        out = []
        for row in rows:
            running = usage.get((row.pool, TaskInstanceState.RUNNING.value), 0)
            queued = usage.get((row.pool, TaskInstanceState.QUEUED.value), 0)
            out.append(
                Pool(
                    name=row.pool,
                    slots=row.slots,
                    description=row.description,
                    occupied_slots=running + queued,
                    running_slots=running,
                    queued_slots=queued,
                    scheduled_slots=usage.get((row.pool, TaskInstanceState.SCHEDULED.value), 0),
                )
            )
        return out

    def delete_pool(self, name: str) -> None:
        if name == DEFAULT_POOL:
            raise StoreError(f"the {DEFAULT_POOL!r} pool cannot be deleted (set its slots instead)")
        p = s.slot_pool
        with self._write() as conn:
            if conn.execute(p.delete().where(p.c.pool == name)).rowcount == 0:
                raise NotFoundError(f"pool {name!r} does not exist")

    # -- users -----------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        *,
        role: str,
        password_hash: str,
        email: str | None = None,
        active: bool = True,
    ) -> User:
        _check_role(role)
        u = s.web_user
        try:
            with self._write() as conn:
                if conn.scalar(sa.select(u.c.id).where(u.c.username == username)) is not None:
                    raise AlreadyExistsError(f"user {username!r} already exists")
                conn.execute(
                    u.insert().values(
                        username=username,
                        role=role,
                        password_hash=password_hash,
                        email=email,
                        active=active,
                        created_at=utcnow(),
                    )
                )
        except sa.exc.IntegrityError:
            raise AlreadyExistsError(f"user {username!r} already exists") from None
        found = self.get_user(username)
        assert found is not None
        return found

    def get_user(self, username: str) -> User | None:
        u = s.web_user
        with self._read() as conn:
            row = conn.execute(sa.select(u).where(u.c.username == username)).first()
        return None if row is None else _user(row)

    def list_users(self, *, limit: int | None = None, offset: int = 0) -> Page[User]:
        u = s.web_user
        with self._read() as conn:
            return self._page(conn, sa.select(u), [u.c.username], limit, offset, _user)

    def update_user(
        self,
        username: str,
        *,
        role: str | None = None,
        password_hash: str | None = None,
        email: str | None = None,
        active: bool | None = None,
        last_login: datetime | None = None,
    ) -> User:
        check_aware(last_login, "last_login")
        if role is not None:
            _check_role(role)
        given = {
            "role": role,
            "password_hash": password_hash,
            "email": email,
            "active": active,
            "last_login": last_login,
        }
        values = {key: value for key, value in given.items() if value is not None}
        u = s.web_user
        with self._write() as conn:
            if conn.scalar(sa.select(u.c.id).where(u.c.username == username)) is None:
                raise NotFoundError(f"user {username!r} does not exist")
            if values:
                conn.execute(u.update().where(u.c.username == username).values(**values))
        found = self.get_user(username)
        assert found is not None
        return found

    def delete_user(self, username: str) -> None:
        u = s.web_user
        with self._write() as conn:
            if conn.execute(u.delete().where(u.c.username == username)).rowcount == 0:
                raise NotFoundError(f"user {username!r} does not exist")
