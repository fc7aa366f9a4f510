"""Latency of `mlflow models serve` for n=1 and n=16 requests.

Starts the scoring server on a free localhost port for a registered model,
sends warm-up requests, then times sequential requests and prints p50/p95.

    python benchmarks/serve_latency.py --model models:/imagegen-digits-dcgan@candidate
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, payload: dict) -> float:
    data = json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models:/imagegen-digits-dcgan@candidate")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/serve_latency.json")
    )
    args = parser.parse_args()

    env = dict(os.environ)
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT}/mlflow.db")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            args.model,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/ping", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        results = {}
        for n in (1, 16):
            payload = {"dataframe_records": [{"seed": 0, "n": n}]}
            for _ in range(args.warmup):
                post(url + "/invocations", payload)
            times = (
                np.array(
                    [post(url + "/invocations", payload) for _ in range(args.requests)]
                )
                * 1000
            )
            results[f"n={n}"] = {
                "p50_ms": round(float(np.percentile(times, 50)), 1),
                "p95_ms": round(float(np.percentile(times, 95)), 1),
                "mean_ms": round(float(times.mean()), 1),
                "requests": args.requests,
            }
            print(
                f"n={n:>2}: p50 {results[f'n={n}']['p50_ms']} ms, "
                f"p95 {results[f'n={n}']['p95_ms']} ms over {args.requests} requests"
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    report = {
        "benchmark": "serve_latency",
        "model": args.model,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
