"""Each Store binds its own copies of the tables: created in dependency order, and nothing left behind."""

from __future__ import annotations

import gc
import weakref

from peewee import SqliteDatabase, sort_models

from psflow.store.tables import TEMPLATES, bind_tables


def test_copies_refer_to_each_other_and_are_created_parents_first() -> None:
    tables = bind_tables(SqliteDatabase(":memory:"))

    assert tables.block.job.rel_model is tables.job and tables.signal.job.rel_model is tables.job
    order = [model.__name__ for model in sort_models(list(tables))]
    assert order.index("Job") < min(order.index("Attempt"), order.index("Block"), order.index("Signal"))


def test_the_templates_keep_no_reference_to_a_copy() -> None:
    before = len(TEMPLATES.job._meta.backrefs)
    db = SqliteDatabase(":memory:")
    copies = weakref.ref(bind_tables(db).job)

    gc.collect()

    assert len(TEMPLATES.job._meta.backrefs) == before
    assert copies() is None
