"""Scale-out on one machine: three gateway replicas behind one client channel, one replica
SIGTERMed and another SIGKILLed under sustained load; what was sent, answered, retried, lost.

    .venv/bin/python scripts/replicas.py --seconds 12

The channel is what a Kubernetes headless Service gives a gRPC client: every replica's
address, ``round_robin`` over them, client-side health checking on ``grpc.health.v1`` (a
replica that says NOT_SERVING is no longer picked) and a retry policy for UNAVAILABLE (a
call the draining gateway refused never ran, so a retry is safe). Replicas are processes
(``gatewise serve`` on loopback ports) with a drain delay, as the Kubernetes manifests set.

At a third of the run replica 0 gets SIGTERM; at two thirds replica 1 gets SIGKILL. A
SIGTERM must lose nothing. A SIGKILL may lose at most the calls in flight when it came,
on any replica (the client cannot see which replica held which call): that bound is
printed beside the count. Exits 1 if either target is missed. Loopback only; the load is
closed-loop and bounded by --seconds (at most 300).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from conftest import free_port  # noqa: E402
from models import build_repository  # noqa: E402
from security.harness import stub, text_request  # noqa: E402

MAX_SECONDS = 300
REPLICAS = 3
DRAIN_DELAY_S = 1.0
"""Long enough for the channel's health watch to see NOT_SERVING and stop picking the replica
(0 shows the other path: the draining replica refuses, the channel retries elsewhere)."""

SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "healthCheckConfig": {"serviceName": ""},
    "methodConfig": [
        {
            "name": [{"service": "inference.GRPCInferenceService"}],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.05s",
                "maxBackoff": "0.5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}


@dataclass
class Replica:
    """A ``gatewise serve`` process on a loopback port."""

    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self) -> int:
        """The exit status: 0, or minus the signal that ended it (as Popen says it)."""
        return self.process.wait(timeout=60)

    def log(self) -> str:
        return self.log_path.read_text()


@dataclass
class ContainerReplica:
    """The serving image run by podman (or docker) with its repository mounted read-only; the
    container shares the host's network under podman-here, so its port is on loopback."""

    port: int
    engine: str
    name: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _engine(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.engine, *args], capture_output=True, text=True, timeout=120, check=False)

    def signal(self, signum: int) -> None:
        self._engine("kill", "--signal", signal.Signals(signum).name, self.name)

    def running(self) -> bool:
        return self._engine("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip() == "true"

    def wait(self) -> int:
        """The exit status, in Popen's terms: a container killed by signal N exits 128 + N."""
        code = int(self._engine("wait", self.name).stdout.strip().splitlines()[-1])
        return -(code - 128) if code > 128 else code

    def log(self) -> str:
        result = self._engine("logs", self.name)
        return result.stdout + result.stderr


@dataclass
class Tally:
    sent: int = 0
    answered: int = 0
    lost: dict[str, int] = field(default_factory=dict)
    lost_after_kill: int = 0
    lost_before_kill: int = 0
    in_flight_at_kill: int = 0
    in_flight: int = 0


def start_replica(repository: Path, folder: Path, index: int, drain_delay_s: float) -> Replica:
    port = free_port()
    log_path = folder / f"replica-{index}.log"
    command = [
        sys.executable, "-m", "gatewise", "serve", "--repository", str(repository), "--grpc-port", str(port),
        "--drain-delay", str(drain_delay_s),
    ]  # fmt: skip
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
    return Replica(port, process, log_path)


def start_container(engine: str, image: str, repository: Path, index: int, drain_delay_s: float) -> ContainerReplica:
    port = free_port()
    replica = ContainerReplica(port, engine, f"gatewise-replica-{index}-{port}")
    replica._engine("rm", "--force", replica.name)
    started = replica._engine(
        "run", "--detach", "--name", replica.name, "--volume", f"{repository}:/models:ro",
        "--env", f"GATEWISE_GRPC_PORT={port}", "--env", f"GATEWISE_DRAIN_DELAY_S={drain_delay_s}",
        "--env", "GATEWISE_METRICS_PORT=", "--env", "GATEWISE_HTTP_PORT=0",
        # The image binds 0.0.0.0, which needs authentication or this opt-out; the port is
        # published on the host's loopback only, and the check's clients send no credentials.
        "--env", "GATEWISE_ALLOW_UNAUTHENTICATED=true",
        "--publish", f"127.0.0.1:{port}:{port}", image,
    )  # fmt: skip
    if started.returncode != 0:
        raise SystemExit(f"{engine} run {image} failed: {started.stderr.strip()}")
    return replica


def wait_serving(replica: Replica | ContainerReplica, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(replica.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if not replica.running():
                raise SystemExit(f"replica on {replica.address} exited:\n{replica.log()}")
            try:
                if (
                    health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise SystemExit(f"replica on {replica.address} not serving within {timeout_s:.0f} s")


def channel_over(replicas: list[Replica] | list[ContainerReplica]) -> grpc.aio.Channel:
    """One channel over every replica, as a headless Service's DNS name resolves to them."""
    target = "ipv4:" + ",".join(replica.address for replica in replicas)
    options = [("grpc.service_config", json.dumps(SERVICE_CONFIG)), ("grpc.enable_retries", 1)]
    return grpc.aio.insecure_channel(target, options=options)


async def load(channel: grpc.aio.Channel, tally: Tally, stop: asyncio.Event, killed: asyncio.Event) -> None:
    """One closed-loop caller: a call, its outcome, the next call."""
    client = stub(channel)
    while not stop.is_set():
        tally.sent += 1
        tally.in_flight += 1
        sent_before_kill = not killed.is_set()
        try:
            await client.ModelInfer(text_request(b"the service was good", model="tiny-sentiment"), timeout=30)
            tally.answered += 1
        except grpc.aio.AioRpcError as exc:
            tally.lost[exc.code().name] = tally.lost.get(exc.code().name, 0) + 1
            if killed.is_set() and sent_before_kill:
                tally.lost_after_kill += 1
            else:
                tally.lost_before_kill += 1
        finally:
            tally.in_flight -= 1


async def scenario(
    replicas: list[Replica] | list[ContainerReplica], seconds: float, concurrency: int
) -> tuple[Tally, list[int | None]]:
    tally = Tally()
    stop, killed = asyncio.Event(), asyncio.Event()
    async with channel_over(replicas) as channel:
        await channel.channel_ready()
        callers = [asyncio.ensure_future(load(channel, tally, stop, killed)) for _ in range(concurrency)]
        await asyncio.sleep(seconds / 3)
        replicas[0].signal(signal.SIGTERM)
        await asyncio.sleep(seconds / 3)
        tally.in_flight_at_kill = tally.in_flight
        replicas[1].signal(signal.SIGKILL)
        killed.set()
        await asyncio.sleep(seconds / 3)
        stop.set()
        await asyncio.gather(*callers)
    codes = [replica.wait() if index < 2 else None for index, replica in enumerate(replicas)]
    return tally, codes


def run(seconds: float, concurrency: int, drain_delay_s: float, image: str | None, engine: str) -> int:
    with tempfile.TemporaryDirectory(prefix="gatewise-replicas-") as folder_name:
        folder = Path(folder_name)
        repository = build_repository(folder / "models")
        if image is None:
            kind = "processes"
            replicas = [start_replica(repository, folder, index, drain_delay_s) for index in range(REPLICAS)]
        else:
            kind = f"containers of {image}"
            folder.chmod(0o755)  # the image's non-root user reads the mounted repository
            replicas = [start_container(engine, image, repository, index, drain_delay_s) for index in range(REPLICAS)]
        try:
            for replica in replicas:
                wait_serving(replica)
            tally, codes = asyncio.run(scenario(replicas, seconds, concurrency))
            logs = [replica.log() for replica in replicas]
        finally:
            for replica in replicas:
                if replica.running():
                    replica.signal(signal.SIGTERM)
                    replica.wait()
                if isinstance(replica, ContainerReplica):
                    replica._engine("rm", "--force", replica.name)
        return report(tally, codes, logs, kind, seconds, concurrency, drain_delay_s)


def report(
    tally: Tally, codes: list[int | None], logs: list[str], kind: str, seconds: float, concurrency: int, delay_s: float
) -> int:
    lost = sum(tally.lost.values())
    print(f"replicas: {REPLICAS} {kind} (drain delay {delay_s:g} s), one round_robin channel with health checking "
          "and retries")  # fmt: skip
    print(f"load: {concurrency} closed-loop callers for {seconds:.0f} s; SIGTERM replica 0 at {seconds / 3:.1f} s, "
          f"SIGKILL replica 1 at {2 * seconds / 3:.1f} s")  # fmt: skip
    print(f"sent {tally.sent}, answered {tally.answered}, lost {lost} {tally.lost or ''}")
    print(f"lost around the SIGTERM (or any time but the SIGKILL): {tally.lost_before_kill} (target 0)")
    print(f"lost to the SIGKILL: {tally.lost_after_kill}; in flight on all replicas when it came: "
          f"{tally.in_flight_at_kill} (target: at most that)")  # fmt: skip
    refusals = re.findall(r"refused (\d+) call\(s\) after the gate closed", logs[0])
    print(f"retried: replica 0 refused {refusals[0] if refusals else '?'} call(s) after its gate closed, each "
          "retried on another replica by the channel; calls cut by the SIGKILL are retried too, but gRPC does "
          "not tell the application which, so they are not counted here")  # fmt: skip
    print(f"replica 0 exit status after SIGTERM: {codes[0]}; replica 1 after SIGKILL: {codes[1]}")
    failed = tally.lost_before_kill > 0 or tally.lost_after_kill > tally.in_flight_at_kill or codes[0] != 0
    if failed:
        print(f"FAILED; replica 0's log:\n{logs[0][-3000:]}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0, help=f"length of the load, at most {MAX_SECONDS}")
    parser.add_argument("--concurrency", type=int, default=12, help="closed-loop callers")
    parser.add_argument("--drain-delay", type=float, default=DRAIN_DELAY_S, help="each replica's --drain-delay")
    parser.add_argument("--image", help="run the replicas as containers of this image (else as processes)")
    parser.add_argument("--engine", default="podman", help="the container engine for --image")
    args = parser.parse_args()
    if not 3 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be between 3 and {MAX_SECONDS}")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(run(args.seconds, args.concurrency, args.drain_delay, args.image, args.engine))


if __name__ == "__main__":
    main()
