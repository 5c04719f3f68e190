"""Batched against sequential sampling on the llama.cpp engine (not a test: prints ratios).

For N in the ladder, draws N samples of 128 new tokens of one prompt twice in one run:
batched (one call, the prompt decoded once and shared, one decode per step for all N) and
one after another (N calls of one sample, the prompt served from the cache). Same seeds,
so both produce the same tokens. Prints one row per N; the last column is the ratio
batched / sequential (lower is better).

    python bench/engine.py --model qwen2.5-coder-0.5b
    python bench/engine.py --threads 2 --ubatch 256 --no-flash-attn   # other settings
    python bench/engine.py --against http://127.0.0.1:8080            # and a peer server

With `--against URL` it also measures a running OpenAI-compatible server (llama.cpp's
`llama-server -np N` serving the same GGUF, or llama-cpp-python's server) in the same run:
N concurrent requests of the same prompt, token count and temperature, one per sample, and
prints the peer's aggregate tokens/s and lab/peer (higher is better for the lab). Start the
peer with the same threads and nothing else running; the lab's engine lock does not cover it.
Both sample with the same temperature and top-p (`--top-p`, default 0.95 as the lab's
strategies and llama-server sample; top-k and min-p off on both).

`--batched-bench BIN` and `--llama-bench BIN` run llama.cpp's own `llama-batched-bench`
(shared prompt, unified KV cache, no sampling) and `llama-bench` (one stream) on the same
model, threads and token count in the same run, and print lab/llama.cpp per N; both tools
time generation alone, so that ratio uses the lab's generation time without its prompt
(`lab_gen_tok/s`). How to build them: docs/engine.md, "Against llama.cpp's own tools".

On a shared or virtual machine one run's ratio can swing by 10% between runs minutes apart.
`--rounds R` measures everything R times, taking turns (odd rounds the tools first, even
rounds the lab first), prints each round's table, then each ratio's median over the rounds
with its lowest and highest; `--no-sequential` leaves out the one-after-another column.

    python bench/engine.py --ns 1,8,16 --rounds 5 --no-sequential --against URL \
        --batched-bench BIN --llama-bench BIN
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from statistics import median

from lab.config import cpu_name, n_threads
from lab.engine.base import SamplingParams
from lab.engine.llamacpp import LlamaCppEngine, use_extra_buffers
from lab.models import resolve_model_path

PROMPT = "Once upon a time, in a small village by the sea, there lived"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--ns", default="1,8,16,32", help="comma-separated sample counts")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch", type=int, default=512, help="n_batch")
    parser.add_argument("--ubatch", type=int, default=512, help="n_ubatch")
    parser.add_argument("--no-flash-attn", action="store_true")
    parser.add_argument("--top-logprobs", type=int, default=0)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--batched-bench", metavar="BIN", help="llama.cpp's llama-batched-bench")
    parser.add_argument("--llama-bench", metavar="BIN", help="llama.cpp's llama-bench")
    parser.add_argument("--against", metavar="URL",
                        help="also measure this OpenAI-compatible server, same prompt and N")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure everything this many times, taking turns, and print "
                             "each ratio's median and range over the rounds")
    parser.add_argument("--no-sequential", action="store_true",
                        help="leave out the one-after-another column (the slowest part)")
    args = parser.parse_args()

    engine = LlamaCppEngine(resolve_model_path(args.model), n_threads=args.threads,
                            n_batch=args.batch, n_ubatch=args.ubatch,
                            flash_attn=not args.no_flash_attn)
    params = SamplingParams(temperature=0.8, top_p=args.top_p, max_tokens=args.tokens, seed=7,
                            top_logprobs=args.top_logprobs)
    ns = [int(x) for x in args.ns.split(",")]
    threads = args.threads or n_threads()
    engine.generate(PROMPT, n=1, params=params.with_(max_tokens=8))  # warm-up
    if args.against:
        _peer(args.against, 1, params.with_(max_tokens=8))  # the peer's too
    print(f"# {engine.model_name}, {args.tokens} new tokens per sample, "
          f"threads={threads}, n_batch={args.batch}, top_p={args.top_p}, "
          f"n_ubatch={args.ubatch}, flash_attn={not args.no_flash_attn}, "
          f"extra_buffers={use_extra_buffers()}, {cpu_name()}", flush=True)
    print(f"# the lab's llama.cpp build: {_build_features()}")
    rounds: list[list[Row]] = []
    for number in range(1, args.rounds + 1):
        # odd rounds run llama.cpp's tools first, even rounds the lab first: a machine that
        # slows down or speeds up over the run favours neither side
        tools_first = number % 2 == 1
        tool = _llama_cpp_rates(args, engine, ns, threads) if tools_first else None
        rows = [_measure(engine, params, n, args) for n in ns]
        if tool is None:
            tool = _llama_cpp_rates(args, engine, ns, threads)
        for row in rows:
            row.tool_rate = tool.rates.get(row.n)
        if args.rounds > 1:
            print(f"# round {number} of {args.rounds} "
                  f"({'tools' if tools_first else 'lab'} first)")
        for line in tool.notes:
            print(f"# {line}")
        _print_rows(rows)
        for row in rows:
            if row.peer_gen_rate and row.tool_rate:
                print(f"# llama-server's own timing of one stream's generation: "
                      f"{row.peer_gen_rate:.1f} tok/s (llama.cpp's tool / it: "
                      f"{row.tool_rate / row.peer_gen_rate:.2f})")
        rounds.append(rows)
    if args.rounds > 1:
        _print_medians(rounds)
    engine.close()


@dataclass
class Row:
    """One N of one round: the lab's figures, and its peers' where they were measured."""

    n: int
    tokens: int
    batched_s: float
    generating_s: float  # the batched call's generation alone, its prompt left out
    sequential_s: float | None = None
    sequential_tokens: int = 0
    peer_rate: float | None = None
    peer_gen_rate: float | None = None  # a single stream's generation alone, by the server's clock
    tool_rate: float | None = None

    @property
    def rate(self) -> float:
        return self.tokens / self.batched_s

    @property
    def gen_rate(self) -> float:
        return self.tokens / self.generating_s

    @property
    def lab_per_peer(self) -> float | None:
        return self.rate / self.peer_rate if self.peer_rate else None

    @property
    def lab_per_tool(self) -> float | None:
        # both without the prompt: the tools time generation alone
        return self.gen_rate / self.tool_rate if self.tool_rate else None


def _measure(engine: LlamaCppEngine, params: SamplingParams, n: int,
             args: argparse.Namespace) -> Row:
    batched_s, tokens, generating_s = _timed(lambda: engine.generate(PROMPT, n=n, params=params))
    row = Row(n, tokens, batched_s, generating_s)
    if not args.no_sequential:
        row.sequential_s, row.sequential_tokens, _ = _timed(
            lambda: [engine.generate(PROMPT, n=1, params=params, seeds=[params.seed + i])
                     for i in range(n)])
    if args.against:
        peer_s, peer_tokens, peer_gen_rate = _peer(args.against, n, params)
        row.peer_rate = peer_tokens / peer_s
        row.peer_gen_rate = peer_gen_rate if n == 1 else None
    return row


def _print_rows(rows: list[Row]) -> None:
    peer = f" {'peer_tok/s':>11} {'lab/peer':>9}" if rows[0].peer_rate else ""
    if any(row.tool_rate for row in rows):
        peer += f" {'lab_gen_tok/s':>12} {'llama.cpp_tok/s':>16} {'lab/llama.cpp':>14}"
    print(f"{'N':>3} {'tokens':>7} {'batched_s':>10} {'sequential_s':>13} {'batched_tok/s':>14} "
          f"{'sequential_tok/s':>17} {'ratio':>6}{peer}")
    for row in rows:
        if row.sequential_s is None:
            sequential = f"{'-':>13} {row.rate:>14.1f} {'-':>17} {'-':>6}"
        else:
            sequential = (f"{row.sequential_s:>13.2f} {row.rate:>14.1f} "
                          f"{row.sequential_tokens / row.sequential_s:>17.1f} "
                          f"{row.batched_s / row.sequential_s:>6.2f}")
        line = f"{row.n:>3} {row.tokens:>7} {row.batched_s:>10.2f} {sequential}"
        if row.peer_rate:
            line += f" {row.peer_rate:>11.1f} {row.lab_per_peer:>9.2f}"
        if row.tool_rate:
            line += f" {row.gen_rate:>12.1f} {row.tool_rate:>16.1f} {row.lab_per_tool:>14.2f}"
        print(line, flush=True)


def _print_medians(rounds: list[list[Row]]) -> None:
    """Per N, each ratio's median over the rounds with its lowest and highest."""
    print(f"# over {len(rounds)} rounds: the median of each round's ratio [lowest, highest]")
    print(f"{'N':>3} {'lab_tok/s':>10} {'lab/peer':>20} {'lab_gen_tok/s':>14} "
          f"{'llama.cpp_tok/s':>16} {'lab/llama.cpp':>20}")
    for index, first in enumerate(rounds[0]):
        rows = [rows[index] for rows in rounds]
        line = (f"{first.n:>3} {median(r.rate for r in rows):>10.1f} "
                f"{_spread([r.lab_per_peer for r in rows]):>20} "
                f"{median(r.gen_rate for r in rows):>14.1f} ")
        tool_rates = [r.tool_rate for r in rows if r.tool_rate]
        line += f"{median(tool_rates):>16.1f} " if tool_rates else f"{'-':>16} "
        line += f"{_spread([r.lab_per_tool for r in rows]):>20}"
        print(line, flush=True)
    ones = [rows[0] for rows in rounds if rows[0].peer_gen_rate and rows[0].tool_rate]
    if ones:
        print("# one stream, generation alone: llama.cpp's tool / llama-server's own timing "
              f"{_spread([r.tool_rate / r.peer_gen_rate for r in ones])}")


def _spread(ratios: list[float | None]) -> str:
    """'median [lowest, highest]' of the ratios measured, '-' when none was."""
    measured = [r for r in ratios if r is not None]
    if not measured:
        return "-"
    return f"{median(measured):.2f} [{min(measured):.2f}, {max(measured):.2f}]"


def _build_features() -> str:
    """The CPU features the loaded llama.cpp library was built for (its system info): which
    code path runs, whatever the CPU has (LLAMA_CPP_LIB_PATH loads another build)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    parts = [part.strip().removeprefix("CPU :").strip() for part in info.split("|")]
    features = [part.split("=")[0].strip() for part in parts if part.endswith("= 1")]
    return ", ".join(features) or info.strip()


def _peer(url: str, n: int, params: SamplingParams) -> tuple[float, int, float | None]:
    """N concurrent completion requests to the peer: (seconds, tokens it generated, the median
    of its own generation rates per request where it reports them: llama-server's `timings`,
    prompt and HTTP left out)."""
    def one(i: int) -> tuple[int, float | None]:
        body = {"prompt": PROMPT, "max_tokens": params.max_tokens, "seed": params.seed + i,
                "temperature": params.temperature, "top_p": params.top_p, "top_k": 0,
                "min_p": 0.0, "ignore_eos": True}
        request = urllib.request.Request(
            url.rstrip("/") + "/v1/completions", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=900) as reply:
            answer = json.load(reply)
        rate = (answer.get("timings") or {}).get("predicted_per_second")
        return int(answer["usage"]["completion_tokens"]), float(rate) if rate else None

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        replies = list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - started
    rates = [rate for _, rate in replies if rate]
    return elapsed, sum(tokens for tokens, _ in replies), median(rates) if rates else None


@dataclass
class ToolRates:
    """Generation tokens/s of llama.cpp's own tools per N, and what to print about them."""

    rates: dict[int, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _llama_cpp_rates(args: argparse.Namespace, engine: LlamaCppEngine, ns: list[int],
                     threads: int) -> ToolRates:
    """llama-bench for one stream, llama-batched-bench (the prompt's length, shared) for every
    N, one stream included: its N=1 row checks llama-bench's figure, and stands in for it
    without --llama-bench."""
    tool = ToolRates()
    model = str(engine.path)
    flash = "off" if args.no_flash_attn else "on"
    repack = use_extra_buffers()  # the same weight layout as the lab's engine
    if args.batched_bench:
        prompt = len(engine.tokenize(PROMPT, special=False))
        out = _run([args.batched_bench, "-m", model, "-c", str(engine.n_ctx),
                    "-t", str(threads), "-fa", flash, "-kvu", "-pps",
                    *([] if repack else ["--no-repack"]),
                    "-npp", str(prompt), "-ntg", str(args.tokens),
                    "-npl", ",".join(map(str, ns))])
        tool.rates = _batched_bench_rates(out, ns)
        if 1 in tool.rates:
            tool.notes.append(f"llama-batched-bench, one stream: {tool.rates[1]:.1f} tok/s")
    if args.llama_bench and 1 in ns:
        out = _run([args.llama_bench, "-m", model, "-p", "0", "-n", str(args.tokens),
                    "-t", str(threads), "-fa", flash, "--repack", str(int(repack)),
                    "-o", "json"])
        one = _llama_bench_rate(out)
        tool.notes.append(f"llama-bench, one stream (tg{args.tokens}): {one:.1f} tok/s")
        tool.rates[1] = one
    return tool


def _run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _batched_bench_rates(table: str, ns: list[int]) -> dict[int, float]:
    """S_TG t/s (generation, all sequences) per N from llama-batched-bench's table."""
    rates: dict[int, float] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and cells[2].isdigit() and int(cells[2]) in ns:
            rates[int(cells[2])] = float(cells[7])
    return rates


def _llama_bench_rate(report: str) -> float:
    """avg_ts of llama-bench's generation test (n_prompt 0) from its JSON report."""
    tests = [t for t in json.loads(report) if t["n_gen"] > 0 and t["n_prompt"] == 0]
    if not tests:
        raise SystemExit(f"llama-bench reported no generation test: {report[:300]}")
    return float(tests[0]["avg_ts"])


def _timed(work) -> tuple[float, int, float]:
    """(seconds, tokens generated, seconds of generation alone: prompt decoding left out)."""
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    generations = result if isinstance(result, list) else [result]
    return (elapsed, sum(g.completion_tokens for g in generations),
            sum(g.generate_s for g in generations))


if __name__ == "__main__":
    main()
