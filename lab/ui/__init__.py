"""The lab in the browser: renderers and helpers shared by the Streamlit pages.

- state.py: the model (loaded once per process) and the ledger, shared by every session;
- runner.py: runs strategies in a worker thread, recorded in the ledger, cancellable;
- controls.py, problems.py: widgets for problems, strategies, their typed params, budgets;
- render.py, blocks.py: draw a trace (live or stored): the outcome, its views' blocks
  (lab/views/: chains, votes, candidates, tree...), the compute;
- handout.py: report downloads;
- sidebar.py, presets.py, scaling.py: the sidebar, Learn's presets, the Scaling sweep.
"""
