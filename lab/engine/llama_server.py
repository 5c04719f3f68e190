"""`python -m lab.engine.llama_server ARGS`: llama-cpp-python's OpenAI-compatible server
(`python -m llama_cpp.server ARGS`) with the lab's choice of llama.cpp's extra CPU weight
buffers (off on a CPU with AMX, where this llama.cpp build's AMX path crashes; see
`llamacpp.use_extra_buffers`)."""

from __future__ import annotations

import runpy

import llama_cpp.llama_cpp as low_level

from lab.engine.llamacpp import use_extra_buffers


def main() -> None:
    default_params = low_level.llama_model_default_params

    def model_params() -> low_level.llama_model_params:
        params = default_params()
        params.use_extra_bufts = use_extra_buffers()
        return params

    low_level.llama_model_default_params = model_params
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
