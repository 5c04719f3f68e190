"""The lab in the browser: renderers and helpers shared by the Streamlit pages.

- state.py: the model (loaded once per process) and the ledger, shared by every session;
- runner.py: runs strategies in a worker thread, recorded in the ledger, cancellable;
- controls.py, problems.py: widgets for problems, strategies, their typed params, budgets;
- render.py, tree.py: draw a trace (live or stored): chains, votes, candidates, tree, compute;
- divergence.py, handout.py: where a finished run's chains part ways; report downloads;
- sidebar.py, presets.py, scaling.py: the sidebar, Learn's presets, the Scaling sweep.
"""
