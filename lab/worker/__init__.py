"""The run worker: the model and the strategies in a process of their own, out of the page's.

The Streamlit server holds a `WorkerClient` (client.py); it starts one worker process
(server.py) at the first page view, which loads the sidebar's model at once, then sends it
runs and sweeps and receives their traces as small deltas a few times a second
(protocol.py), which it applies to mirror traces the pages draw. The page's interpreter
never decodes a token, so the browser is as fast as `lab solve`.
"""
