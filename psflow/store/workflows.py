"""Registered workflows: versions of a script's source kept in the database."""

from __future__ import annotations

from collections.abc import Callable

from peewee import IntegrityError, fn

from psflow.errors import StoreError
from psflow.store.queries import AGAIN, Queries
from psflow.store.views import WORKFLOW_KINDS, WorkflowView, check_rows


class WorkflowQueries(Queries):
    def _workflow_columns(self, *, source: bool = False):
        Workflow = self.tables.workflow
        columns = [getattr(Workflow, column) for column in WorkflowView.COLUMNS]
        return [*columns, Workflow.source] if source else columns

    def register_workflow(
        self,
        name: str,
        *,
        source: str,
        source_sha256: str,
        script: str,
        host: str,
        user: str,
        sign: Callable[[str, int, str], str] | None = None,
    ) -> tuple[WorkflowView, bool]:
        """Store `source` as the next version of workflow `name`, with `sign(name, version, source)` (without
        it the version is unsigned, and no server runs it); (that version, True).

        If the newest version already has this source, nothing is written: (it, False).
        Two registrations at once: the unique (name, version) index makes one retry.
        """
        now, kept = self._now(), self._kept()
        for _ in range(5):
            newest = self.workflow(name)
            if newest is not None and newest.source_sha256 == source_sha256:
                # made by this call's first try, whose answer was lost; or already there
                return newest, bool(kept.get(AGAIN)) and newest.created_at == now
            version = newest.version + 1 if newest is not None else 1
            created = WorkflowView(
                name=name,
                version=version,
                script=script,
                source_sha256=source_sha256,
                created_at=now,
                host=host,
                user=user,
                signature=sign(name, version, source) if sign else None,
                source=source,
            )
            row = {column: getattr(created, column) for column in (*WorkflowView.COLUMNS, "source")}
            try:
                with self.db.atomic():
                    self.tables.workflow.insert(row).as_rowcount().execute()
                return created, True
            except IntegrityError:
                continue  # another registration took this version number a moment ago
        raise StoreError(f"cannot register workflow {name!r}: too many registrations at once, try again")

    def workflow(self, name: str, version: int | None = None) -> WorkflowView | None:
        """Version `version` of workflow `name`, or its newest version (with its source)."""
        Workflow = self.tables.workflow
        query = Workflow.select(*self._workflow_columns(source=True)).where(Workflow.name == name)
        if version is not None:
            query = query.where(Workflow.version == version)
        row = query.order_by(Workflow.version.desc()).tuples().first()
        if row is None:
            return None
        check_rows(f"workflow {name}", "a version", (*WorkflowView.COLUMNS, "source"), WORKFLOW_KINDS, [row])
        return WorkflowView(*row)

    def workflow_versions(self, name: str) -> list[WorkflowView]:
        """Every version of workflow `name`, oldest first, without their source."""
        Workflow = self.tables.workflow
        query = Workflow.select(*self._workflow_columns()).where(Workflow.name == name).order_by(Workflow.version)
        rows = list(query.tuples())
        check_rows(f"workflow {name}", "a version", WorkflowView.COLUMNS, WORKFLOW_KINDS, rows)
        return [WorkflowView(*row) for row in rows]

    def list_workflows(self) -> list[tuple[WorkflowView, int, float]]:
        """Each workflow's newest version (without its source), how many versions it has, and
        when the first was registered; by name. One query (a join on the grouped versions: no list
        of names as parameters, which SQL Server limits to 2,100)."""
        Workflow = self.tables.workflow
        every = Workflow.alias("every")
        stats = (
            every.select(
                every.name.alias("name"),
                fn.MAX(every.version).alias("newest"),
                fn.COUNT(every.id).alias("versions"),
                fn.MIN(every.created_at).alias("first"),
            )
            .group_by(every.name)
            .alias("stats")
        )
        rows = list(
            Workflow.select(*self._workflow_columns(), stats.c.versions, stats.c.first)
            .join(stats, on=(Workflow.name == stats.c.name) & (Workflow.version == stats.c.newest))
            .order_by(Workflow.name)
            .tuples()
        )
        views = [row[:-2] for row in rows]
        check_rows("psflow workflows", "a workflow", WorkflowView.COLUMNS, WORKFLOW_KINDS, views)
        return [(WorkflowView(*view), row[-2], row[-1]) for view, row in zip(views, rows, strict=True)]

    def sign_workflow(self, name: str, version: int, signature: str) -> bool:
        """Store an admin's signature of one version (`psflow key sign --workflow`)."""
        Workflow = self.tables.workflow
        version_row = (Workflow.name == name) & (Workflow.version == version)
        return Workflow.update(signature=signature).where(version_row).execute() == 1
