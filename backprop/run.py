"""``python -m backprop.run``: start a job of several processes as ``torchrun`` does, without torch.

    python -m backprop.run --nproc-per-node 2 train.py --lr 0.1
    python -m backprop.run --nnodes 2 --node-rank 0 --master-addr host0 --master-port 29500 --nproc-per-node 4 train.py

Each process gets torch's variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``,
``GROUP_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``, ``TORCHELASTIC_RUN_ID``, ...), so ``init_process_group()``
(``gloo`` on the CPU, ``nccl`` on GPUs) finds the others through a ``TCPStore`` on rank 0. As torchrun: one
node without ``--master-port`` takes a free port on ``localhost`` (``--standalone``), ``OMP_NUM_THREADS`` is 1
unless set,
and when one process fails the others are stopped: with ``--max-restarts N`` all of them start again (up to N
times, ``TORCHELASTIC_RESTART_COUNT`` counting), else the launcher prints torchrun's summary (each failed rank; the
first failure's traceback from the error file that ``@record`` writes to ``TORCHELASTIC_ERROR_FILE``) and exits
with that failure's code. ``--redirects`` and ``--tee`` write each rank's streams to torchrun's log files.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import IO

from backprop.distributed.elastic.multiprocessing.errors import ChildFailedError, ErrorHandler, ProcessFailure


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _nproc(value: str) -> int:
    """``--nproc-per-node``: an int, or torchrun's ``gpu``/``cpu``/``auto``."""
    if value in ("gpu", "auto"):
        from backprop import cuda  # (only here: the launcher itself imports nothing of backprop otherwise)

        if cuda.is_available():
            return cuda.device_count()
        if value == "gpu":
            raise SystemExit("python -m backprop.run: --nproc-per-node gpu, but CUDA is not usable here")
        value = "cpu"
    if value == "cpu":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        return int(value)
    except ValueError:
        raise SystemExit(
            f"python -m backprop.run: --nproc-per-node takes a number, 'gpu', 'cpu' or 'auto', not {value!r}"
        ) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m backprop.run", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--nproc-per-node", "--nproc_per_node", default="1",
        help="processes on this node: a number, or torchrun's 'gpu' (one per GPU), 'cpu' (one per core), 'auto' "
        "(gpu where CUDA is usable, else cpu)",
    )  # fmt: skip
    p.add_argument("--nnodes", type=int, default=1, help="number of nodes (static: no elastic ranges)")
    p.add_argument("--node-rank", "--node_rank", type=int, default=0, help="this node's rank, 0 .. nnodes - 1")
    p.add_argument(
        "--master-addr", "--master_addr", default=None,
        help="address of node 0 (rank 0's store; default: 127.0.0.1, or localhost where the port is free-chosen)",
    )  # fmt: skip
    p.add_argument("--master-port", "--master_port", type=int, default=None, help="its port (default: a free one)")
    p.add_argument("--standalone", action="store_true", help="one node, a free port (the default for one node)")
    p.add_argument(
        "--log-dir", "--log_dir", default=None, help="where --redirects/--tee write (default: a temp folder)"
    )
    p.add_argument(
        "-r", "--redirects", default="0",
        help="streams into <log-dir>/<run id>_*/attempt_0/<local rank>/std{out,err}.log: 1 stdout, 2 stderr, 3 both, "
        "for all ranks or per local rank ('0:1,1:2')",
    )  # fmt: skip
    p.add_argument("-t", "--tee", default="0", help="as --redirects, and to the console too")
    p.add_argument(
        "--max-restarts", "--max_restarts", type=int, default=0,
        help="restarts of all the node's workers after a failure (TORCHELASTIC_RESTART_COUNT counts them)",
    )  # fmt: skip
    p.add_argument(
        "--monitor-interval", "--monitor_interval", type=float, default=0.1,
        help="seconds between looks at the workers' states",
    )  # fmt: skip
    p.add_argument("-m", "--module", action="store_true", help="run the script argument as a module (python -m)")
    p.add_argument("--no-python", "--no_python", action="store_true", help="run the script argument as a command")
    p.add_argument("script", help="the program each process runs")
    p.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    p.set_defaults(local_rank_arg=False)  # (backprop.distributed.launch without --use-env: --local-rank=N)
    return p


def get_args_parser() -> argparse.ArgumentParser:
    """torch.distributed.run's name for the launcher's parser."""
    return _parser()


def parse_args(args: list[str] | None) -> argparse.Namespace:
    return _parser().parse_args(args)


def run(args: argparse.Namespace) -> int:
    """Launch the job ``parse_args`` describes; returns its exit code (torch's raises ``ChildFailedError``)."""
    return _main(args)


def main(argv: list[str] | None = None) -> int:
    """Start the node's processes, wait for them; the exit code is the first failure's (0 when all succeed)."""
    return _main(_parser().parse_args(argv))


def _main(a: argparse.Namespace) -> int:
    a.nproc_per_node = _nproc(a.nproc_per_node)
    if a.nproc_per_node < 1 or a.nnodes < 1 or not 0 <= a.node_rank < a.nnodes:
        raise SystemExit(
            f"python -m backprop.run: need --nproc-per-node >= 1, --nnodes >= 1 and 0 <= --node-rank < --nnodes "
            f"(got {a.nproc_per_node}, {a.nnodes}, {a.node_rank})"
        )
    if a.max_restarts < 0 or not a.monitor_interval > 0:
        raise SystemExit("python -m backprop.run: need --max-restarts >= 0 and --monitor-interval > 0")
    if a.master_addr is None:  # (torchrun's: "localhost" where it rendezvous on one node at a free port)
        a.master_addr = "localhost" if a.standalone or (a.nnodes == 1 and a.master_port is None) else "127.0.0.1"
    if a.master_port is None:
        if a.nnodes > 1:
            raise SystemExit("python -m backprop.run: --master-port is needed with several nodes (the same on each)")
        a.master_port = _free_port()
    world = a.nnodes * a.nproc_per_node
    base = dict(os.environ)
    if world > 1 and "OMP_NUM_THREADS" not in base:
        base["OMP_NUM_THREADS"] = "1"  # (torchrun's default: processes do not fight over the cores)
        sys.stderr.write("backprop.run: OMP_NUM_THREADS=1 for each process (set it to choose another)\n")
    run_id = base.get("TORCHELASTIC_RUN_ID") or uuid.uuid4().hex[:12]
    base["TORCHELASTIC_RUN_ID"] = run_id
    base["TORCHELASTIC_MAX_RESTARTS"] = str(a.max_restarts)
    if a.no_python:
        cmd = [a.script]
    else:
        cmd = [sys.executable, "-u", *(["-m"] if a.module else []), a.script]
    # (torchrun's layout: one folder per run, one per attempt, one per local rank: error.json and the logs)
    root = a.log_dir or tempfile.mkdtemp(prefix="torchelastic_")
    os.makedirs(root, exist_ok=True)
    log_dir = tempfile.mkdtemp(prefix=f"{run_id}_", dir=root)
    attempt = 0
    while True:
        code, failures = _attempt(a, cmd, base, world, log_dir, attempt)
        if not failures:  # (all succeeded, or ^C)
            return code
        if attempt < a.max_restarts:  # (torchrun's elastic agent: stop the group, start it again)
            rank, first = min(failures.items(), key=lambda f: f[1].timestamp)
            sys.stderr.write(
                f"backprop.run: rank {rank} failed (exitcode {first.exitcode}); restarting the workers "
                f"({a.max_restarts - attempt}/{a.max_restarts} attempts left)\n"
            )
            attempt += 1
            continue
        error = ChildFailedError(name=a.script, failures=failures)  # (torchrun's summary, its root cause first)
        sys.stderr.write(f"{ChildFailedError.__module__}.ChildFailedError: {error}\n")
        _, first = error.get_first_failure()
        if os.environ.get("TORCHELASTIC_ERROR_FILE") and first.error_file != "<N/A>":
            ErrorHandler().dump_error_file(first.error_file, first.exitcode)  # (as torchrun's @record main)
        return code


def _attempt(
    a: argparse.Namespace, cmd: list[str], base: dict[str, str], world: int, log_dir: str, attempt: int
) -> tuple[int, dict[int, ProcessFailure]]:
    """Start the node's processes for restart ``attempt`` and wait for them: ``(exit code, failures by global
    rank)``, the code that of the first failure (0 and no failures when all succeed)."""
    procs = []
    pumps: list[threading.Thread] = []
    opened: list[IO[bytes]] = []
    errors = []
    for local in range(a.nproc_per_node):
        rank = a.node_rank * a.nproc_per_node + local
        folder = os.path.join(log_dir, f"attempt_{attempt}", str(local))
        os.makedirs(folder, exist_ok=True)
        errors.append(os.path.join(folder, "error.json"))
        env = {
            **base,
            "RANK": str(rank),
            "LOCAL_RANK": str(local),
            "WORLD_SIZE": str(world),
            "LOCAL_WORLD_SIZE": str(a.nproc_per_node),
            "GROUP_RANK": str(a.node_rank),
            "GROUP_WORLD_SIZE": str(a.nnodes),
            "ROLE_RANK": str(rank),
            "ROLE_WORLD_SIZE": str(world),
            "ROLE_NAME": "default",
            "MASTER_ADDR": a.master_addr,
            "MASTER_PORT": str(a.master_port),
            "TORCHELASTIC_RESTART_COUNT": str(attempt),
            "TORCHELASTIC_ERROR_FILE": errors[-1],
        }
        args = [*cmd, *([f"--local-rank={local}"] if a.local_rank_arg else []), *a.args]
        streams = _std(a.redirects, local, "--redirects") | _std(a.tee, local, "--tee")
        if not streams:
            procs.append(subprocess.Popen(args, env=env))
            continue
        files = {n: open(os.path.join(folder, f"{n}.log"), "wb") for n in streams}  # noqa: SIM115 - the attempt's
        opened += files.values()
        tee = _std(a.tee, local, "--tee")
        pipe = {n: subprocess.PIPE if n in tee else files[n] for n in files}
        proc = subprocess.Popen(args, env=env, stdout=pipe.get("stdout"), stderr=pipe.get("stderr"))
        for n in tee:
            console = sys.stdout.buffer if n == "stdout" else sys.stderr.buffer
            prefix = f"[default{local}]:".encode()  # (torchrun's: the role's name and the local rank)
            pumps.append(
                threading.Thread(target=_pump, args=(getattr(proc, n), files[n], console, prefix), daemon=True)
            )
            pumps[-1].start()
        procs.append(proc)
    code, failures = _wait(procs, errors, a.monitor_interval)
    for t in pumps:
        t.join(5)
    for f in opened:
        f.close()
    return code, {a.node_rank * a.nproc_per_node + local: f for local, f in failures.items()}


def _std(spec: str, local: int, flag: str) -> set[str]:
    """torchrun's ``Std`` for local rank ``local``: ``3``, or per rank ``0:1,1:2`` (1 stdout, 2 stderr, 3 both)."""
    try:
        pairs = [x.split(":") for x in spec.split(",")] if ":" in spec else []
        value = int(spec) if not pairs else {int(r): int(v) for r, v in pairs}.get(local, 0)
    except ValueError:
        raise SystemExit(f"python -m backprop.run: {flag} takes 0..3 or local_rank:value pairs, not {spec!r}") from None
    if value not in range(4):
        raise SystemExit(f"python -m backprop.run: {flag} takes 0..3 or local_rank:value pairs, not {spec!r}")
    return {n for bit, n in ((1, "stdout"), (2, "stderr")) if value & bit}


def _pump(src: IO[bytes], log: IO[bytes], console: IO[bytes], prefix: bytes) -> None:
    """Copy a rank's stream, line by line, into its log file and onto the launcher's console after ``prefix``
    (``--tee``)."""
    for line in iter(src.readline, b""):
        log.write(line)
        log.flush()
        console.write(prefix + line)
        console.flush()


def _wait(procs: list[subprocess.Popen], errors: list[str], interval: float) -> tuple[int, dict[int, ProcessFailure]]:
    """Wait for every process; at the first failure, stop the others (SIGTERM, then SIGKILL after 5 s). Returns
    the exit code and torchrun's failures (local rank -> :class:`ProcessFailure`, those stopped included)."""
    failures: dict[int, ProcessFailure] = {}
    running = set(range(len(procs)))

    def capture() -> None:
        for local in sorted(running):
            code = procs[local].poll()
            if code is not None:
                running.discard(local)
                if code != 0:
                    failures[local] = ProcessFailure(local, procs[local].pid, code, errors[local])

    try:
        while True:
            capture()
            if failures:
                first = min(failures.values(), key=lambda f: f.timestamp)  # (before the stopped join them)
                _stop(procs)
                capture()
                return (first.exitcode if first.exitcode > 0 else 128 - first.exitcode), failures
            if not running:
                return 0, {}
            time.sleep(interval)
    except KeyboardInterrupt:
        _stop(procs)
        return 130, {}


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


if __name__ == "__main__":
    sys.exit(main())
