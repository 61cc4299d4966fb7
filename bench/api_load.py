"""The API under load: `cmpp serve` in a process of its own, over PostgreSQL, driven over
loopback from this one.

1. Saturation: THREADS clients, each sending its next request as its last is answered
   (keep-alive), for SATURATION_SECONDS after a warm-up. GET /v1/balances is set against
   GET /healthz of the same server; a service POST against the same command called
   in-process (`deliver_service`) on the same database while the server is idle.
2. A fixed arrival rate, 80% reads and 20% writes, at half the mix's saturation (itself
   measured closed-loop), for `seconds` after a warm-up: each request has its time to
   go, and its latency counts from then (open loop), so a server that stalls cannot hide
   its queue behind a client that waits.
3. The ledger verifies, and every service a POST was answered 201 for is in the log
   exactly once.
"""

from __future__ import annotations

import gc
import itertools
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import report
from bench.databases import fresh
from bench.demo_log import fill_demo_log
from domain import catalogue as c
from domain.tokens import Tokens
from ledger.entry import read_event
from ledger.signing import Signer
from projections.people import add_person, new_person
from projections.settings import Settings
from projections.system import System

THREADS = 8  # clients at saturation
SENDERS = 32  # clients at a fixed arrival rate: enough that a slow answer delays no send
WARMUP_SECONDS = 3.0
SATURATION_SECONDS = 10.0
MIX_SECONDS = 60
WRITE_EVERY = 5  # one request in five is a write: 80% reads, 20% writes
READ_SHARE = 1 - 1 / WRITE_EVERY
# Services go to this many participants in turn, as a grantee's caseworkers spread them
# (a demo participant has 2 to 6): each command replays its participant's stream, so
# were they all one participant's, each POST would replay an ever longer stream and race
# the others for its next version, which is not the load a program makes.
PARTICIPANTS = 200
CONSENT_FROM = date(2023, 1, 1)  # the consents cover case management from then, open-ended
READY_TIMEOUT = 3600.0  # seconds: the first start replays the whole log
TOKEN_LIFETIME = timedelta(hours=12)


@dataclass
class Target:
    base: str
    reader: str  # the fiscal agent's token: balances
    writer: str  # the grantee's token: services
    participants: list[str]
    accepted: list[str] = field(default_factory=list)  # service ids answered 201
    failures: list[str] = field(default_factory=list)  # what went wrong, first few


def service(n: int) -> dict[str, Any]:
    """The n-th service: a body fresh in its date, minutes and notes."""
    return {
        "service_type": "case_management",
        "delivered_on": (CONSENT_FROM + timedelta(n % 1500)).isoformat(),
        "minutes": 15 + n % 90,
        "language": "es",
        "interpreter": True,
        "notes": f"Bench visit {n}: went through the hearing notice.",
    }


# -- requests: each answers whether it succeeded ------------------------------------------

_numbers = itertools.count()


def _failed(target: Target, what: str) -> bool:
    if len(target.failures) < 5:
        target.failures.append(what)
    return False


def healthz(target: Target, http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").is_success
    except httpx.HTTPError as exc:
        return _failed(target, f"healthz: {exc!r}")


def balances(target: Target, http: httpx.Client) -> bool:
    try:
        answer = http.get("/v1/balances", headers={"Authorization": f"Bearer {target.reader}"})
    except httpx.HTTPError as exc:
        return _failed(target, f"balances: {exc!r}")
    return answer.is_success or _failed(target, f"balances: {answer.status_code} {answer.text}")


def post_service(target: Target, http: httpx.Client) -> bool:
    n = next(_numbers)
    participant = target.participants[n % len(target.participants)]
    headers = {"Authorization": f"Bearer {target.writer}", "Idempotency-Key": f"bench-{n}"}
    try:
        answer = http.post(
            f"/v1/participants/{participant}/services", json=service(n), headers=headers
        )
    except httpx.HTTPError as exc:
        return _failed(target, f"service: {exc!r}")
    if answer.status_code != 201:
        return _failed(target, f"service: {answer.status_code} {answer.text}")
    target.accepted.append(answer.json()["service_id"])
    return True


def client(target: Target) -> httpx.Client:
    return httpx.Client(base_url=target.base, timeout=30.0)


# -- where the CPU goes: this process, the server's, PostgreSQL's, anything else's --------


def cpu_seconds(server_pid: int) -> dict[str, float]:
    tick = os.sysconf("SC_CLK_TCK")
    parent, comm, used = {}, {}, {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        fields = rest.split()
        pid = int(proc.name)
        parent[pid], comm[pid] = int(fields[1]), name
        used[pid] = (int(fields[11]) + int(fields[12])) / tick
    server = {server_pid}
    for _ in range(4):  # cmpp serve → uvicorn workers and the projection follower
        server |= {pid for pid, ppid in parent.items() if ppid in server}
    ours = {
        "bench process": used.get(os.getpid(), 0.0),
        "server": sum(used.get(pid, 0.0) for pid in server),
        "postgres": sum(t for pid, t in used.items() if comm[pid] == "postgres"),
    }
    # The whole machine's busy time: what else ran (a test suite?) shares the cores.
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split()[1:9]
    )
    busy = (user + nice + system + irq + softirq + steal) / tick
    return {**ours, "anything else": busy - sum(ours.values())}


@contextmanager
def cpu_shown(server_pid: int) -> Iterator[None]:
    before, start = cpu_seconds(server_pid), time.perf_counter()
    yield
    after, wall = cpu_seconds(server_pid), time.perf_counter() - start
    shares = ", ".join(f"{k} {(after[k] - before[k]) / wall:.2f}" for k in after)
    print(f"    cores busy: {shares} (of {os.cpu_count()})", flush=True)


# -- closed loop (saturation) and open loop (a fixed arrival rate) ------------------------


def saturate(session: Callable[[ExitStack], Callable[[], bool]]) -> tuple[float, int]:
    """Requests/s answered by THREADS loops of `session`'s call, and how many failed
    (in the warm-up too: a failure is one whenever it happens)."""
    start = time.perf_counter() + WARMUP_SECONDS
    end = start + SATURATION_SECONDS
    counts = [[0, 0] for _ in range(THREADS)]

    def loop(mine: list[int]) -> None:
        with ExitStack() as stack:
            call = session(stack)
            while time.perf_counter() < end:
                ok = call()
                if not ok:
                    mine[1] += 1
                elif start <= time.perf_counter() <= end:
                    mine[0] += 1

    with ThreadPoolExecutor(THREADS) as pool:
        for done in [pool.submit(loop, mine) for mine in counts]:
            done.result()
    return sum(ok for ok, _ in counts) / SATURATION_SECONDS, sum(bad for _, bad in counts)


def mixed(target: Target, http: httpx.Client) -> bool:
    """One request of the 80/20 mix: every WRITE_EVERY-th a service POST, else a read."""
    if next(_mixed) % WRITE_EVERY == 0:
        return post_service(target, http)
    return balances(target, http)


_mixed = itertools.count()


def over_http(target: Target, request: Callable[[Target, httpx.Client], bool]) -> Any:
    def session(stack: ExitStack) -> Callable[[], bool]:
        http = stack.enter_context(client(target))
        return lambda: request(target, http)

    return session


@dataclass
class Mix:
    latencies: dict[str, list[float]]  # seconds from each request's time to go to its answer
    failed: int
    seconds: float  # from the first time to go after the warm-up to the last answer


def open_loop(target: Target, rate: float, seconds: float) -> Mix:
    total = int(rate * (WARMUP_SECONDS + seconds))
    order = itertools.count()
    latencies: dict[str, list[float]] = {"read": [], "write": []}
    failed: list[str] = []  # the kind of each request that failed

    def sender(http: httpx.Client) -> None:
        while (i := next(order)) < total:
            due = t0 + i / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            kind = "read" if i % WRITE_EVERY else "write"
            ok = (balances if kind == "read" else post_service)(target, http)
            if due >= t0 + WARMUP_SECONDS:  # the warm-up's latencies count for nothing
                latencies[kind].append(time.perf_counter() - due)
            if not ok:
                failed.append(kind)

    with ExitStack() as stack, ThreadPoolExecutor(SENDERS) as pool:
        # Every sender's client made and connected first: making them would delay sends.
        clients = [stack.enter_context(client(target)) for _ in range(SENDERS)]
        list(pool.map(lambda http: healthz(target, http), clients))
        t0 = time.perf_counter() + 0.1
        for done in [pool.submit(sender, http) for http in clients]:
            done.result()
    return Mix(latencies, len(failed), time.perf_counter() - t0 - WARMUP_SECONDS)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


# -- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server_process(env: dict[str, str], logfile: Path, workers: int) -> Iterator[tuple[str, int]]:
    """`cmpp serve --workers N` until the block ends (SIGTERM), its output to `logfile`;
    yields its URL and pid once it answers /readyz."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmpp = str(Path(sys.executable).parent / "cmpp")
    with logfile.open("wb") as log:
        server = subprocess.Popen(
            [cmpp, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        start = time.perf_counter()
        wait_ready(base, server, logfile)
        print(f"  server ready in {time.perf_counter() - start:.1f} s (replay of the log)")
        yield base, server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            raise RuntimeError("the server did not stop within 60 s of SIGTERM") from None


@contextmanager
def serving(env: dict[str, str], logfile: Path) -> Iterator[tuple[str, int]]:
    """`cmpp serve --workers 2` until the block ends; yields its URL and pid once both
    workers answer."""
    start = time.perf_counter()
    with server_process(env, logfile, workers=2) as (base, pid):
        # Each worker replays on its first request: ask both, on fresh connections at
        # once (the kernel hands each to either worker), until all are answered 200.
        ready = partial(httpx.get, f"{base}/readyz", timeout=READY_TIMEOUT)
        with ThreadPoolExecutor(8) as pool:
            asked = [pool.submit(ready) for _ in range(8)]
            if any(a.result().status_code != 200 for a in asked):
                raise RuntimeError("a server worker is not ready")
        print(f"  both workers answer after {time.perf_counter() - start:.1f} s", flush=True)
        report.absolute("api: server ready (first start)", time.perf_counter() - start, "s", "—")
        yield base, pid


def wait_ready(base: str, server: subprocess.Popen[bytes], logfile: Path) -> None:
    deadline = time.perf_counter() + READY_TIMEOUT
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {logfile.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=READY_TIMEOUT).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready in {READY_TIMEOUT} s")


def server_env(settings: Settings) -> dict[str, str]:
    """This environment (PATH…) without its CMPP_* settings, and the ledger's instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMPP_")}
    env.update(CMPP_DATABASE_URL=settings.url, CMPP_DATA_DIR=str(settings.data_dir))
    for name, secret in (
        ("KEY_PASSPHRASE", settings.key_passphrase),
        ("VAULT_KEY", settings.vault_key),
    ):
        if secret is not None:
            env[f"CMPP_{name}"] = secret.get_secret_value()
    return env


# -- the run ------------------------------------------------------------------------------


def prepare(system: System) -> tuple[Target, Signer]:
    """A fiscal agent of org:cws and a grantee of org:irc, each with a token; PARTICIPANTS
    participants of org:irc, each with a consent to case management in force."""
    root = system.root_signer()
    agent = add_person(system, root, new_person("org:cws", "fiscal_agent"), {"name": "Agent"})
    grantee = add_person(system, root, new_person("org:irc", "grantee"), {"name": "Caseworker"})
    tokens = Tokens(system.app.recorder.datastore)  # type: ignore[attr-defined]
    reader = tokens.issue(agent.person_id, TOKEN_LIFETIME).token
    writer = tokens.issue(grantee.person_id, TOKEN_LIFETIME).token
    signer = Signer(system.keys.load(grantee.key_id))
    participants = []
    for n in range(PARTICIPANTS):
        pid = system.app.enrol_participant(
            signer,
            enrolled_on=CONSENT_FROM.isoformat(),
            referral_source="ice_ero",
            language="es",
            age_band="25-34",
            gender="female",
            nationality="PE",
            pii={"name": f"Bench Participant {n}"},
        )
        system.app.give_consent(
            signer,
            participant_id=pid,
            services=["case_management"],
            share_with=[],
            method="written",
            language="es",
            interpreter=True,
            form_version="CMPP-C-2022.2",
            given_on=CONSENT_FROM.isoformat(),
            expires_on=None,
        )
        participants.append(pid)
    return Target("", reader, writer, participants), signer


def in_process(system: System, signer: Signer, participants: list[str]) -> Any:
    def session(_: ExitStack) -> Callable[[], bool]:
        def call() -> bool:
            n = next(_numbers)
            pid = participants[n % len(participants)]
            system.app.deliver_service(signer, participant_id=pid, **service(n))
            return True

        return call

    return session


def accepted_once(system: System, since: int, accepted: list[str]) -> int:
    """How many accepted services are not in the log exactly once (from entry `since`:
    the server makes each service id, so none can be before it started)."""
    recorded: Counter[str] = Counter()
    position = since
    while rows := system.app.store.read_rows(position, 10_000):
        for _seq, _prev, state in rows:
            event = read_event(state)  # type: ignore[arg-type]
            if event["type"] == c.SERVICE_DELIVERED:
                recorded[event["data"]["service_id"]] += 1
        position = rows[-1][0] + 1
    return sum(recorded[s] != 1 for s in accepted) + len(accepted) - len(set(accepted))


@contextmanager
def phase(name: str, took: dict[str, float]) -> Iterator[None]:
    print(f"api: {name} …", flush=True)
    start = time.perf_counter()
    yield
    took[name] = time.perf_counter() - start


def run(entries: int, seconds: int = MIX_SECONDS) -> None:
    took: dict[str, float] = {}
    with fresh("postgres") as url:
        with phase(f"filling a {entries:,}-entry demo log on PostgreSQL", took):
            ledger = fill_demo_log(url, entries)
        system = ledger.system
        with phase("people, tokens, participants; projections caught up", took):
            target, signer = prepare(system)
            system.reports.caught_up()
        since = system.app.store.head().size
        # The filled ledger stays in this process's heap: frozen, so that collecting it
        # does not hold up the clients' sends (the server's heaps are its own business).
        gc.collect()
        gc.freeze()
        server_log = system.settings.data_dir / "server.log"
        try:
            with serving(server_env(system.settings), server_log) as (base, pid):
                target.base = base
                measure(target, system, signer, pid, seconds=seconds, took=took)
            said = server_log.read_text(errors="replace").splitlines()
            for line in [line for line in said if not line.startswith(("INFO", " ", "{"))][:10]:
                print(f"  server said: {line}")
            with phase("checkpoint and verify", took):
                system.log.checkpoint()
                verified = system.verify()
            print(f"  {verified.verdict()}", flush=True)
            for line in itertools.islice(verified.lines(), 20) if not verified.ok else ():
                print(f"    {line}")
            missing = accepted_once(system, since, target.accepted)
            print(
                f"  {len(target.accepted):,} services answered 201; {missing} not in the log once"
            )
            report.absolute(
                f"api: verify after the load ({verified.size:,} entries)",
                verified.problems,
                "problems",
                "0",
            )
            report.absolute(
                "api: accepted POSTs not in the log exactly once", missing, "services", "0"
            )
        finally:
            gc.unfreeze()
            ledger.close()
    print("  phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()), flush=True)


def measure(
    target: Target,
    system: System,
    signer: Signer,
    pid: int,
    *,
    seconds: int,
    took: dict[str, float],
) -> None:
    """Saturation, then the fixed arrival rate; `pid` is the server's (for its CPU)."""
    size = system.app.store.head().size
    with phase("saturation: GET /healthz", took), cpu_shown(pid):
        health, health_failed = saturate(over_http(target, healthz))
    with phase("saturation: GET /v1/balances", took), cpu_shown(pid):
        reads, reads_failed = saturate(over_http(target, balances))
    report.line(
        f"api: GET /v1/balances vs /healthz, {size:,} entries", reads, health, "req/s", "≥ 0.5x"
    )
    with phase("saturation: deliver_service in-process (server idle)", took), cpu_shown(pid):
        direct, _ = saturate(in_process(system, signer, target.participants))
    with phase("saturation: POST service", took), cpu_shown(pid):
        writes, writes_failed = saturate(over_http(target, post_service))
    report.line("api: POST service vs the command in-process", writes, direct, "req/s", "≥ 0.5x")
    failed = health_failed + reads_failed + writes_failed
    report.absolute("api: failed requests at saturation", failed, "requests", "0")
    if failed:
        print(f"  failures: {target.failures}")
    # The mix saturates where its writes keep making the reads' answers new: measured as
    # it is, not computed from the two apart (which would count every read as a repeat).
    with phase("saturation: the 80/20 mix", took), cpu_shown(pid):
        mix, mix_failed = saturate(over_http(target, mixed))
    apart = 1 / (READ_SHARE / reads + (1 - READ_SHARE) / writes)
    report.absolute("api: failed requests in the saturated mix", mix_failed, "requests", "0")
    rate = mix / 2
    print(
        f"  mix saturation {mix:.1f} req/s (80% reads; {apart:.1f} computed from the two "
        f"apart): {rate:.1f} req/s for {seconds} s"
    )
    with phase(f"fixed rate, {rate:.1f} req/s", took), cpu_shown(pid):
        result = open_loop(target, rate, seconds)
    sent = sum(map(len, result.latencies.values()))
    print(f"  {sent:,} requests in {result.seconds:.1f} s ({sent / result.seconds:.1f} req/s)")
    for kind, goal in (("read", "≤ 25 ms"), ("write", "≤ 100 ms")):
        times = result.latencies[kind]
        name = f"api: {kind}s at {rate:.0f} req/s (80/20), {seconds} s"
        report.absolute(f"{name}: p50", percentile(times, 0.5) * 1000, "ms", "—")
        report.absolute(f"{name}: p99", percentile(times, 0.99) * 1000, "ms", goal)
    report.absolute("api: failed requests at a fixed rate", result.failed, "requests", "0")
    if result.failed:
        print(f"  failures: {target.failures}")
