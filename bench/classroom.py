"""A classroom on one lab: K students press Run at the same moment (not a test: prints a table).

Each student runs the same strategy on a problem of their own. Measured twice in one sitting
on the same loaded model: one run after another (the lab's worker with one slot: the K-th
student waits for every run before theirs), then all K decoded together as lanes of one
shared decoder (`lab ui --concurrency K`, lab.engine.shared), the two ways taking turns
`--repeat` times. Prints each way's wall time, generated tokens per second, when the last
student got their answer, the ratio of each pair and their median, and how many
chains came out token for token the same as one after another (the same seeds; a chain can
part where a near-tie rounds the other way: llama.cpp's sums depend on the batch's shape and
on what else the KV cache holds).

    python bench/classroom.py                # 4 students, self-consistency n=4, default model
    python bench/classroom.py --strategy cot -p max_tokens=256
    python bench/classroom.py --students 2 --model smollm2-135m -p n=2 -p max_tokens=64
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Sequence

from lab.config import cpu_name
from lab.engine.base import Engine
from lab.engine.llamacpp import LlamaCppEngine
from lab.engine.shared import SharedDecoder
from lab.execution import RunRequest, execute
from lab.models import resolve_model_path
from lab.strategies.params import parse_assignments
from lab.tasks.datasets import load_set
from lab.trace import NodeKind, Trace


def main() -> None:
    args = _arguments()
    if args.param is None:
        args.param = (["n=4", "max_tokens=256", "early_stop=false"]
                      if args.strategy == "self-consistency" else [])
    problems = load_set(args.set, limit=args.students)
    params = parse_assignments(args.param)
    requests = [RunRequest(args.strategy, p, params) for p in problems]
    engine = LlamaCppEngine(resolve_model_path(args.model), n_threads=args.threads)
    print(f"# {engine.model_name}; {len(requests)} students, {args.strategy} "
          f"{' '.join(args.param)}, one problem each of {args.set}; {cpu_name()}")
    engine.generate("Warm up.", params=None)
    decoder = SharedDecoder(engine, len(requests))
    pairs = []
    for _ in range(args.repeat):  # interleaved: a slow spell of the machine hits both ways
        pairs.append((_one_after_another(requests, engine), _together(requests, decoder.lanes)))
    peak = decoder.peak_sequences
    decoder.close()
    engine.close()
    print(f"{'':>18}  {'wall s':>7}  {'tokens':>7}  {'tok/s':>6}  {'last answer s':>13}")
    for serial, together in pairs:
        for name, (traces, done, wall) in (("one after another", serial),
                                           ("decoded together", together)):
            generated = sum(t.compute.all_generated for t in traces)
            print(f"{name:>18}  {wall:7.1f}  {generated:7d}  {generated / wall:6.1f}  "
                  f"{max(done):13.1f}")
    ratios = sorted(together[2] / serial[2] for serial, together in pairs)
    serial, together = pairs[0]
    same, chains = _same_chains(serial[0], together[0])
    answers = sum(a.final_answer == b.final_answer
                  for a, b in zip(serial[0], together[0], strict=True))
    print(f"together/one after another, wall time: {' '.join(f'{r:.2f}' for r in ratios)} "
          f"(median {statistics.median(ratios):.2f}); at most {peak} sequences in one step; "
          f"{same} of {chains} chains token for token as one after another; answers "
          f"{answers} of {len(serial[0])} the same")


def _one_after_another(requests: Sequence[RunRequest], engine: Engine,
                       ) -> tuple[list[Trace], list[float], float]:
    traces, done = [], []
    started = time.perf_counter()
    for request in requests:
        traces.append(execute(request, engine, None).trace)
        done.append(time.perf_counter() - started)
    return traces, done, time.perf_counter() - started


def _together(requests: Sequence[RunRequest], lanes: Sequence[Engine],
              ) -> tuple[list[Trace], list[float], float]:
    traces: list[Trace | None] = [None] * len(requests)
    done = [0.0] * len(requests)
    started = time.perf_counter()

    def student(i: int) -> None:
        traces[i] = execute(requests[i], lanes[i], None).trace
        done[i] = time.perf_counter() - started

    threads = [threading.Thread(target=student, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    assert all(t is not None for t in traces), "a student's run failed"
    return [t for t in traces if t is not None], done, wall


def _same_chains(serial: Sequence[Trace], together: Sequence[Trace]) -> tuple[int, int]:
    same = chains = 0
    for a, b in zip(serial, together, strict=True):
        first = [n.tokens for n in a.nodes if n.kind == NodeKind.CHAIN]
        second = [n.tokens for n in b.nodes if n.kind == NodeKind.CHAIN]
        chains += len(first)
        same += sum([t.id for t in x] == [t.id for t in y]
                    for x, y in zip(first, second, strict=False))
    return same, chains


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--set", default="arith")
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--strategy", default="self-consistency")
    parser.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                        default=None, help="the strategy's settings (default for "
                        "self-consistency: n=4 max_tokens=256 early_stop=false)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3,
                        help="pairs of measurements, one way then the other")
    return parser.parse_args()


if __name__ == "__main__":
    main()
