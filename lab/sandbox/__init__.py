"""A sandbox for code written by a model: one separate, locked-down process per REPL.

    with Sandbox(context, on_llm, SandboxLimits(timeout_s=5)) as box:
        result = box.run("print(len(context))")   # -> TurnResult(output, error, final, ...)

The code sees `context` (a str), `llm(prompt, context=None)`, `llm_batch(prompts)` and
`final(answer)`. Model calls are not made in the child: they travel as JSON lines over a pipe
to the parent, which runs them through `on_llm` and so enforces the run's token budget and
call limit. Variables persist across `run` calls until the child dies (timeout, crash), when
the next turn starts a fresh child and says so in its output.

What it guards against (the walls, strongest first):
- It is a separate process (never `exec` in the lab's process): a crash, a memory error or
  corrupted memory end only the child; the parent reports it and starts a fresh one.
- Its own network namespace (`unshare --net`): no interface but a downed loopback, so no
  connection anywhere, even if the code gets a socket object.
- Its own PID and mount namespaces: the child is PID 1 of a namespace, sees only its own
  processes in /proc, and everything it starts dies with it. The parent kills the process
  group with SIGKILL on timeout and on close; `setpriv --pdeathsig` kills it when the lab
  (the thread that started it) dies.
- When the lab runs as root, the child drops to the user `nobody` (no groups) with
  no_new_privs: it cannot read or write files that are not world-readable/-writable, cannot
  read other processes' environments, and setuid binaries give it nothing.
- rlimits: address space (a 10 GB allocation fails at once with MemoryError), CPU seconds
  (SIGXCPU, then SIGKILL), file size, open files, no core dumps, and RLIMIT_NPROC 0 (as
  `nobody` it cannot fork or start threads: fork bombs fail on the first fork).
- A wall-clock limit per turn: the child's own timer raises TimeoutError in the code (the
  REPL survives); if the code ignores it, the parent kills the child after a grace second.
  Time the parent spends serving model calls is not counted.
- A scrubbed environment (PATH and LANG only: no secrets, tokens or database URLs), a fresh
  temporary working directory owned by the child and removed afterwards, `python -I -S`
  (standard library only, nothing from the lab's virtualenv).
- The parent trusts nothing the child sends: messages are size-capped (1 MiB), type-checked,
  and must carry the turn's random nonce; printed output is capped. A child that floods,
  garbles or forges messages on the pipe is killed.
- A Python-level layer, as a courtesy and first line of error messages: an import allowlist
  of pure standard-library modules (no os, sys, subprocess, socket, ctypes, ...), no `open`,
  `input` or `breakpoint`, and fork/exec/kill/file functions deleted from `os` and `posix`.

What it does NOT guard against:
- The Python-level layer is bypassable (e.g. `object.__subclasses__()` reaches the import
  machinery, a fresh `posix` module or `io.open`). It only gives friendly errors; the walls
  above are what hold.
- Without root and without user namespaces (`unshare` missing or refused), there is no
  network/PID isolation and no user switch: the code can then read what the lab's user can
  read and open network connections through a bypass. `Sandbox.isolation` reports what was
  achieved, and the recursive strategy records it in the trace.
- As `nobody` the code can still read world-readable files (system files, a world-readable
  checkout) and write to world-writable directories such as /tmp and /dev/shm (files there
  outlive the run; each is capped by the file-size limit, not their number).
- It can exec binaries readable by `nobody`; they run with the same namespaces, limits and
  user. Kernel exploits, side channels, and CPU or memory pressure on the host within the
  limits (several runs at once multiply them) are out of scope: it is not a VM.
See docs/sandbox.md for the details and how each claim is tested.
"""

from lab.sandbox.process import LLMRefused, Sandbox, SandboxError, SandboxLimits, TurnResult

__all__ = ["LLMRefused", "Sandbox", "SandboxError", "SandboxLimits", "TurnResult"]
