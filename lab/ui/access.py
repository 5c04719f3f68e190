"""Who may use the lab in the browser, and which runs a session may delete.

With no token set (`lab ui` on loopback, its default) nothing is asked and every session is
an admin. With `LAB_TOKEN` or `LAB_ADMIN_TOKEN` set (`lab ui` sets both when it listens
beyond loopback, as Jupyter does) app.py lets a session in only with one of them in the
address (`/?token=…`), before anything is drawn and before the model or the ledger is
touched. A session let in with the user token may delete only the runs it started itself;
the admin token may delete any run.
"""

from __future__ import annotations

import hmac
from typing import TypeVar

import streamlit as st

from lab import config
from lab.ui.runner import RunBatch
from lab.worker.client import WorkerBatch, WorkerSweep

TOKEN_KEY = "access.token"  # the token this session was let in with
JOBS_KEY = "access.jobs"  # the batches and sweeps this session started, not yet finished
OWN_KEY = "access.own"  # the ids of the runs they stored
QUERY = "token"  # the address's query parameter
Job = TypeVar("Job", bound=RunBatch | WorkerBatch | WorkerSweep | None)


def required() -> bool:
    """Whether the lab asks for a token (LAB_TOKEN or LAB_ADMIN_TOKEN is set)."""
    return any(config.access_tokens())


def role(token: str | None) -> str | None:
    """"admin", "user", or None for a token that is not the lab's (compared in constant
    time)."""
    if not token:
        return None
    user, admin = config.access_tokens()
    given = token.encode()
    if admin and hmac.compare_digest(given, admin.encode()):
        return "admin"
    if user and hmac.compare_digest(given, user.encode()):
        return "user"
    return None


def gate() -> bool:
    """Let this session in: True when no token is asked, or when the address's token (or the
    one this session came in with: page switches drop the address's) is the lab's; it stays
    in the address, so a reload keeps working. Else show how to get in and return False."""
    if not required():
        return True
    in_address = st.query_params.get(QUERY)
    for token in (in_address, st.session_state.get(TOKEN_KEY)):
        if isinstance(token, str) and role(token) is not None:
            st.session_state[TOKEN_KEY] = token
            if in_address != token:
                st.query_params[QUERY] = token
            return True
    st.session_state.pop(TOKEN_KEY, None)
    wrong = "The token in this address is not this lab's. " if in_address else ""
    st.warning(f"{wrong}This lab asks for its access token: open the address `lab ui` "
               "printed (…/?token=…).", icon=":material/lock:")
    return False


def is_admin() -> bool:
    """Whether this session may delete any run: no token is asked, or it came in with the
    admin token."""
    return not required() or role(st.session_state.get(TOKEN_KEY)) == "admin"


def remember(job: Job) -> Job:
    """Note a batch or sweep this session started: the runs it stores are this session's."""
    if job is not None:
        st.session_state.setdefault(JOBS_KEY, []).append(job)
    return job


def own_run_ids() -> set[int]:
    """The ids of the runs this session started and the ledger stored (so far)."""
    own: set[int] = st.session_state.setdefault(OWN_KEY, set())
    unfinished = []
    for job in st.session_state.get(JOBS_KEY, []):
        if isinstance(job, WorkerSweep):
            ids = job.result.run_ids if job.result is not None else []
            finished = not job.running
        else:
            ids = [run.run_id for run in job.runs if run.run_id is not None]
            finished = job.done
        own.update(ids)
        if not finished:
            unfinished.append(job)
    st.session_state[JOBS_KEY] = unfinished  # finished jobs are let go (their traces too)
    return own


def may_delete(run_id: int) -> bool:
    """Whether this session may delete run `run_id`: an admin's may delete any run, another
    only the runs it started."""
    return is_admin() or run_id in own_run_ids()
