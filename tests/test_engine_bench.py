"""bench/engine.py's reading of llama.cpp's tools and its summary over rounds: the tools'
outputs as this build prints them, and the median with its range per N."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType

from lab import config

BATCHED_BENCH_TABLE = """\
|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |
|-------|--------|------|--------|----------|----------|----------|----------|----------|----------|
|    13 |    128 |    1 |    141 |    0.031 |   419.35 |    2.795 |    45.80 |    2.826 |    49.89 |
|    13 |    128 |    8 |   1037 |    0.030 |   433.33 |   12.768 |    80.20 |   12.798 |    81.03 |
"""


def _engine_bench() -> ModuleType:
    path = config.REPO_ROOT / "bench" / "engine.py"
    spec = importlib.util.spec_from_file_location("engine_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["engine_bench"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_tools_rates_are_read_by_n_and_by_the_generation_test() -> None:
    bench = _engine_bench()
    assert bench._batched_bench_rates(BATCHED_BENCH_TABLE, [1, 8]) == {1: 45.80, 8: 80.20}
    report = json.dumps([{"n_prompt": 512, "n_gen": 0, "avg_ts": 900.0},
                         {"n_prompt": 0, "n_gen": 128, "avg_ts": 44.7}])
    assert bench._llama_bench_rate(report) == 44.7


def test_rounds_are_summed_up_as_a_median_with_its_range(capsys) -> None:
    bench = _engine_bench()
    rounds = [[bench.Row(8, 1024, 12.0, 11.0, tool_rate=tool, peer_rate=peer)]
              for tool, peer in [(90.0, 70.0), (100.0, 60.0), (80.0, 65.0)]]
    bench._print_medians(rounds)
    row = capsys.readouterr().out.splitlines()[-1].split()
    # lab 1024/11 = 93.1 generating; lab/llama.cpp 1.03, 0.93, 1.16; lab/peer 1.22, 1.42, 1.31
    assert row[0] == "8"
    assert " ".join(row[2:5]) == "1.31 [1.22, 1.42]"
    assert " ".join(row[7:10]) == "1.03 [0.93, 1.16]"
    assert bench._spread([None, None]) == "-"


def test_the_one_stream_check_compares_the_tool_with_the_servers_own_timing(capsys) -> None:
    bench = _engine_bench()
    rounds = [[bench.Row(1, 128, 3.0, 2.9, tool_rate=tool, peer_gen_rate=server)]
              for tool, server in [(48.0, 40.0), (44.0, 44.0)]]
    bench._print_medians(rounds)
    # llama-bench / llama-server (generation alone, by its own clock): 1.20 and 1.00
    assert capsys.readouterr().out.splitlines()[-1].endswith("1.10 [1.00, 1.20]")
