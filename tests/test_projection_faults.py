"""Projections under concurrency and outages: any number of workers and report commands
at once, none crashing, each entry applied once; a worker rides through a database
restart and a cut connection, and ends where a clean rebuild ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from projections import balances, case_history, oversight
from projections.db import ProjectionDB
from projections.runner import Projection, Projector
from projections.system import System
from projections.worker import follow
from tests.conftest import PostgresDatabase, require_postgres
from tests.fault_proxy import proxied
from tests.pilot import Pilot, demo_system, open_pilot
from tests.test_faults import enrol


def every_projection() -> list[Projection]:
    return [
        balances.Balances(),
        balances.LogIndex(),
        case_history.CaseHistory(),
        oversight.Oversight(),
    ]


def clean_digest(pilot_store: object, tmp_path: Path) -> dict[str, str]:
    clean = Projector(
        pilot_store,  # type: ignore[arg-type]
        ProjectionDB(f"sqlite:///{tmp_path / 'clean.sqlite3'}"),
        every_projection(),
    )
    clean.catch_up()
    digest = clean.digest()
    clean.db.close()
    return digest


def run_all(tasks: list[Callable[[], object]]) -> list[BaseException]:
    failures: list[BaseException] = []

    def run(task: Callable[[], object]) -> None:
        try:
            task()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return failures


def test_many_projectors_at_once_apply_each_entry_once(database_url: str, tmp_path: Path) -> None:
    system = demo_system(database_url, tmp_path, participants=60, seed=3)
    store = system.app.store
    projectors = [
        Projector(store, ProjectionDB(database_url), every_projection()) for _ in range(4)
    ]
    # Small batches: many transactions, so the four interleave all the way.
    failures = run_all([lambda p=p: p.catch_up(batch=17) for p in projectors])
    assert failures == []
    expected = clean_digest(store, tmp_path)
    for projector in projectors:
        assert projector.digest() == expected
        assert set(projector.lag().values()) == {0}
        projector.db.close()
    system.close()


def test_a_report_beside_a_worker_sees_the_whole_log(database_url: str, tmp_path: Path) -> None:
    system = demo_system(database_url, tmp_path, participants=40, seed=5)
    stop = threading.Event()
    worker = Projector(system.app.store, ProjectionDB(database_url), every_projection())

    def report() -> None:  # a report command: a process of its own, catching up first
        with System(system.settings) as command:
            command.reports.balances()

    reports = [lambda: follow(worker, interval_ms=20, batch=11, stop=stop), *[report] * 3]

    def stop_when_caught_up() -> None:
        deadline = time.monotonic() + 60
        while set(worker.lag().values()) != {0} and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()

    failures = run_all([*reports, stop_when_caught_up])
    assert failures == []
    assert worker.digest() == clean_digest(system.app.store, tmp_path)
    worker.db.close()
    system.close()


def test_a_worker_rides_through_restarts_and_cut_connections(tmp_path: Path) -> None:
    require_postgres()
    db = PostgresDatabase()
    db.create()
    proxy, through_proxy = proxied(db.url)
    pilot: Pilot = open_pilot(db.url)  # the writers reach the database directly
    try:
        follower_system = System(
            pilot.system.settings.model_copy(update={"database_url": through_proxy})
        )
        worker = Projector(
            follower_system.app.store, ProjectionDB(through_proxy), every_projection()
        )
        outages: list[Exception] = []
        stop = threading.Event()
        thread = threading.Thread(
            target=follow,
            args=(worker,),
            kwargs={
                "interval_ms": 50,
                "batch": 3,
                "stop": stop,
                "listen_url": through_proxy,
                "on_outage": outages.append,
            },
        )
        thread.start()
        for round_ in range(6):
            for i in range(5):
                enrol(pilot, f"P-{round_}-{i}")
            if round_ % 2:
                proxy.refuse_for(2.5)  # the server restarts
            else:
                proxy.cut_all()  # an operator cuts every connection
            time.sleep(0.3)
        head = pilot.app.store.head().size
        # Read what the worker wrote directly, not through its (cut) connections.
        direct = Projector(pilot.app.store, ProjectionDB(db.url), every_projection())
        deadline = time.monotonic() + 60
        while min(direct.positions().values()) < head and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "the worker did not stop"
        assert min(direct.positions().values()) == head, "the worker did not catch up"
        # Each cut killed the worker's connection: it was replaced (the test tested).
        assert worker.db.reconnects >= 3, (worker.db.reconnects, outages)
        assert direct.digest() == clean_digest(pilot.app.store, tmp_path)
        direct.db.close()
        follower_system.close()
    finally:
        pilot.system.close()
        proxy.close()
        db.drop()
