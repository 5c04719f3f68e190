"""Compute-optimal advice: which strategy and budget for this problem, read from a cheap probe
and the lab's own stored sweeps.

    sweep = load_sweep(ledger, choose_sweep(ledger, model, problem), model)  # or None
    request = sweep.probe_request(problem) if sweep else default_probe(problem)
    probe = execute(request, engine, ledger).trace    # 4 samples in one batched call
    advice = advise(probe, sweep, problem_set_hint)     # predictions beside each other

The probe is the stored sweep's own voting strategy (its prompt, temperature, token cap and
seed) with n = PROBE_N. Sample i of a run depends only on the prompt, the settings and seed
+ i, so the probe draws exactly the first PROBE_N chains a stored run of that strategy drew
on its problem: every stored problem can be read as if it had been probed, from its stored
run alone. The probe's difficulty is the agreement of its samples (the share that gave the
most common answer; chains without an answer, or cut at their cap when cut chains do not
vote, agree with nothing), with the number of distinct answers, answerless and cut chains
beside it. Stored problems are grouped by the same reading, and each option of the sweep
(every configuration it ran, every k of its voter's ladder, and the probe's own vote, which
costs nothing more) is predicted on the stored problems that read like this one: the mean
chance of a right answer with a Wilson 95% interval, and the mean generated tokens. The
advice is the cheapest option within TOLERANCE of the best prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lab.evaluation.estimators import Chain, maj_at_k, majority_correct, wilson_interval
from lab.evaluation.resample import chains_of, pick_of, votes_in_run
from lab.execution import RunRequest
from lab.store.convert import params_key
from lab.store.ledger import Ledger
from lab.store.queries import RunSummary
from lab.strategies.base import Strategy
from lab.strategies.categories import THINK
from lab.strategies.registry import get_strategy, list_strategies
from lab.tasks.problem import Problem
from lab.trace import Node, NodeKind, Trace, TraceStatus

PROBE_N = 4  # samples of the probe, drawn in one batched call
TOLERANCE = 0.05  # an option this close to the best prediction counts as just as good
MIN_SIMILAR = 4  # fewer stored problems of the probe's level: predict from all of them
MIN_MEASURED = 4  # an option measured on fewer of the problems it is predicted from: not
PROBE_OPTION = "probe"
LEVELS = ("unanimous", "majority", "split")  # easy to hard
LEVEL_WORDS = {
    "unanimous": "every sample gave the same answer",
    "majority": "most samples agree",
    "split": "the samples are split, or give no answer",
}
SWEEP_LADDER = "1,2,4,8"
SWEEP_LIMIT = 30


class AdviceError(ValueError):
    """A request the advice cannot serve; the message is for the user."""


# -- difficulty ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Difficulty:
    """What a few samples of one problem say of its difficulty."""

    samples: int
    top: int  # samples that gave the most common answer
    distinct: int  # distinct answers (by equivalence)
    unanswered: int  # samples with no answer that votes
    cut: int  # samples cut at their token cap
    answers: tuple[str | None, ...] = ()  # each sample's voting answer
    majority: str | None = None  # the most common answer (first seen on a tie)

    @property
    def agreement(self) -> float:
        return self.top / self.samples if self.samples else 0.0

    @property
    def level(self) -> str:
        return level_of(self.agreement)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "answers": list(self.answers), "agreement": self.agreement,
                "level": self.level}


def level_of(agreement: float) -> str:
    if agreement >= 1.0 - 1e-9:
        return LEVELS[0]
    return LEVELS[1] if agreement > 0.5 else LEVELS[2]


def difficulty_of(trace: Trace, samples: int | None = None) -> Difficulty:
    """The reading of a run's first `samples` chains (by seed; all of them when None)."""
    from lab.tasks.answers import group_answers

    chains = first_chains(trace, samples)
    answers = [n.answer if votes_in_run(trace, n) else None for n in chains]
    groups = group_answers(answers, trace.problem.kind)
    biggest = max(groups, key=lambda g: g.size, default=None)
    return Difficulty(
        samples=len(chains), top=biggest.size if biggest else 0, distinct=len(groups),
        unanswered=sum(a is None for a in answers), cut=sum(n.cut for n in chains),
        answers=tuple(answers), majority=biggest.answer if biggest else None,
    )


def first_chains(trace: Trace, samples: int | None = None) -> list[Node]:
    """The run's sampled chains in seed order, the first `samples` of them."""
    chains = [n for n in trace.nodes if n.kind == NodeKind.CHAIN]
    chains.sort(key=lambda n: int(n.meta.get("seed", trace.seed + n.id)))
    return chains if samples is None else chains[:samples]


# -- the stored sweep ----------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One way to spend compute on the problem: a strategy with its settings, or the probe's
    own vote (strategy None)."""

    key: str
    label: str
    strategy: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoredProblem:
    problem_id: str
    difficulty: Difficulty  # as the probe would have read it
    probe_tokens: int = 0  # what the probe would have generated (its first chains' tokens)
    chance: dict[str, float] = field(default_factory=dict)  # option key -> chance right
    tokens: dict[str, float] = field(default_factory=dict)  # option key -> generated tokens


@dataclass
class StoredSweep:
    experiment: str
    model: str
    problem_set: str
    voter: str  # the strategy the probe is drawn with
    voter_params: dict[str, Any]
    options: list[Option]
    problems: list[StoredProblem]
    probe_n: int = PROBE_N
    system_prompt: str | None = None  # how the voter's runs were asked (None: no system)

    @property
    def probe_tokens(self) -> float:
        """The probe's mean cost on the stored problems (generated tokens)."""
        return sum(p.probe_tokens for p in self.problems) / max(1, len(self.problems))

    def probe_request(self, problem: Problem) -> RunRequest:
        """The probe: the voter with the stored settings and seed, n = probe_n."""
        strategy = get_strategy(self.voter)
        params = strategy.validate(strategy.with_n(self.voter_params, self.probe_n))
        return RunRequest(self.voter, problem, params, None, None,
                          {"advice_probe": self.experiment})


def find_sweeps(ledger: Ledger, model: str, probe_n: int = PROBE_N) -> list[tuple[str, str]]:
    """(experiment, problem set) of the stored sweeps that can bin problems for `model`: those
    with complete runs of a resampled voting strategy of n >= probe_n; the most problems
    first, then the newest."""
    found: dict[tuple[str, str], set[str]] = {}
    for run in ledger.list_runs(model=model, status=str(TraceStatus.COMPLETE)):  # newest first
        if run.experiment and _can_probe(run, probe_n):
            found.setdefault((run.experiment, run.problem_set), set()).add(run.problem_id)
    return sorted(found, key=lambda key: -len(found[key]))  # stable: newest first on a tie


def choose_sweep(ledger: Ledger, model: str, problem: Problem, experiment: str | None = None,
                 probe_n: int = PROBE_N) -> str | None:
    """The experiment to advise from: the one named (AdviceError if it does not exist), else
    the largest usable sweep of the problem's own set, else the largest of any; None if none."""
    if experiment is not None:
        if ledger.experiment_id(experiment, create=False) is None:
            raise AdviceError(f"no experiment named {experiment!r} in {ledger.location}")
        return experiment
    sweeps = find_sweeps(ledger, model, probe_n)
    same_set = [name for name, problem_set in sweeps if problem_set == problem.source]
    usable = same_set or [name for name, _ in sweeps]
    return usable[0] if usable else None


def load_sweep(ledger: Ledger, experiment: str, model: str,
               probe_n: int = PROBE_N) -> StoredSweep:
    """The experiment's runs of `model`, read problem by problem (AdviceError if it has no
    voting runs to read the problems' difficulty from)."""
    configs = _newest_complete(r for r in ledger.runs_in_experiment(experiment)
                               if r.model == model)
    if not configs:
        raise AdviceError(f"experiment {experiment!r} has no complete runs of {model}")
    voter_key = _voter_config(configs, probe_n)
    if voter_key is None:
        raise AdviceError(
            f"experiment {experiment!r} has no voting runs of {model} with n >= {probe_n} "
            f"drawn at once to read difficulty from; {sweep_hint(None, model)}")
    voter_runs = configs[voter_key]
    first = voter_runs[0]
    sweep = StoredSweep(experiment, model, first.problem_set, first.strategy,
                        dict(first.params), [], [], probe_n)
    problems = _read_voter(ledger, sweep, voter_runs)
    _add_measured(sweep, problems, {k: v for k, v in configs.items() if k != voter_key})
    sweep.problems = list(problems.values())
    return sweep


def _can_probe(run: RunSummary, probe_n: int) -> bool:
    if pick_of(run.strategy) != "maj" or int(run.params.get("n", 0)) < probe_n:
        return False
    strategy = get_strategy(run.strategy)
    return strategy.vote_weight is None and strategy.resamplable(run.params, run.budget)


ConfigKey = tuple[str, str, int | None]


def _newest_complete(runs: Any) -> dict[ConfigKey, list[RunSummary]]:
    """Per configuration, the newest complete run of each problem (oldest first)."""
    newest: dict[tuple[ConfigKey, str], RunSummary] = {}
    for run in runs:  # newest first
        if run.status == TraceStatus.COMPLETE:
            key = (run.strategy, params_key(run.params), run.budget)
            newest.setdefault((key, run.problem_id), run)
    configs: dict[ConfigKey, list[RunSummary]] = {}
    for (key, _), run in sorted(newest.items(), key=lambda item: item[1].id):
        configs.setdefault(key, []).append(run)
    return configs


def _voter_config(configs: dict[ConfigKey, list[RunSummary]], probe_n: int) -> ConfigKey | None:
    usable = [k for k, runs in configs.items() if _can_probe(runs[0], probe_n)]
    return max(usable, key=lambda k: (len(configs[k]), int(configs[k][0].params["n"])),
               default=None)


def _read_voter(ledger: Ledger, sweep: StoredSweep,
                runs: list[RunSummary]) -> dict[str, StoredProblem]:
    """Each problem's probe reading, and the voter's options: its own run (n = N), every
    smaller k of its ladder (maj@k from its chains), and the probe's vote."""
    strategy = get_strategy(sweep.voter)
    top_n = int(sweep.voter_params["n"])
    traces = [ledger.load_trace(r.id) for r in runs]
    ladder = {int(k) for t in traces for k in (t.meta.get("eval") or {}).get("ladder", ())}
    ks = sorted(k for k in ladder | {top_n} if 0 < k <= top_n)
    probe = Option(PROBE_OPTION, f"the probe's own vote (n={sweep.probe_n}, already paid)")
    sweep.options = [probe] + [
        Option(vote_option_key(sweep.voter, k), vote_option_key(sweep.voter, k), sweep.voter,
               strategy.with_n(sweep.voter_params, k)) for k in ks]
    problems: dict[str, StoredProblem] = {}
    sweep.system_prompt = system_prompt(traces[0]) if traces else None
    for run, trace in zip(runs, traces, strict=True):
        if trace.problem.gold is None:
            continue
        probe_tokens = sum(len(n.tokens) for n in first_chains(trace, sweep.probe_n))
        stored = StoredProblem(run.problem_id, difficulty_of(trace, sweep.probe_n), probe_tokens)
        chains = chains_of(trace)
        stored.chance[PROBE_OPTION] = _probe_vote_right(trace, chains, sweep.probe_n)
        stored.tokens[PROBE_OPTION] = 0.0
        for option, k in zip(sweep.options[1:], ks, strict=True):
            if k == top_n:
                stored.chance[option.key] = float(bool(trace.correct))
            else:
                stored.chance[option.key] = maj_at_k(chains, k).value if chains else 0.0
            share = k / len(chains) if chains else 1.0
            stored.tokens[option.key] = trace.compute.all_generated * min(1.0, share)
        problems[run.problem_id] = stored
    return problems


def vote_option_key(voter: str, n: int) -> str:
    """The option key (and label) of the voter's vote of n."""
    return f"{voter} n={n}"


def system_prompt(trace: Trace) -> str | None:
    """The system message the run's solving prompt began with."""
    for node in trace.nodes:
        if node.kind == NodeKind.PROMPT:
            messages = node.meta.get("messages") or []
            if messages and messages[0].get("role") == "system":
                return str(messages[0].get("content"))
            return None
    return None


def _probe_vote_right(trace: Trace, chains: Sequence[Chain], probe_n: int) -> float:
    """Whether the majority of the first probe_n chains (the probe's) is right."""
    order = {n.id: i for i, n in enumerate(n for n in trace.nodes if n.kind == NodeKind.CHAIN)}
    picked = [order[n.id] for n in first_chains(trace, probe_n)]
    return majority_correct(chains, picked)


def _add_measured(sweep: StoredSweep, problems: dict[str, StoredProblem],
                  configs: dict[ConfigKey, list[RunSummary]]) -> None:
    """Every other configuration as it ran: right or wrong, and what it generated."""
    names = [k[0] for k in configs]
    for key, runs in configs.items():
        label = key[0] if names.count(key[0]) == 1 else f"{key[0]} {_setting(runs[0], configs)}"
        option = Option(label, label, key[0], dict(runs[0].params))
        sweep.options.append(option)
        for run in runs:
            stored = problems.get(run.problem_id)
            if stored is not None and run.correct is not None:
                stored.chance[option.key] = float(run.correct)
                stored.tokens[option.key] = float(run.generated_tokens + run.verdict_tokens)


def _setting(run: RunSummary, configs: dict[ConfigKey, list[RunSummary]]) -> str:
    """The parameters that tell this configuration from its strategy's others."""
    siblings = [rs[0] for k, rs in configs.items() if k[0] == run.strategy]
    varying = sorted({name for s in siblings for name in s.params
                      if len({repr(o.params.get(name)) for o in siblings}) > 1})
    budget = [f"budget={run.budget}"] if len({s.budget for s in siblings}) > 1 else []
    return ", ".join([f"{name}={run.params.get(name)}" for name in varying] + budget)


# -- without a stored sweep ----------------------------------------------------------------
def default_voter() -> Strategy:
    """The plain voting strategy the probe uses when no sweep says otherwise."""
    voters = [s for s in list_strategies() if s.pick == "maj" and s.vote_weight is None]
    if not voters:
        raise AdviceError("no voting strategy is registered to probe with")
    return voters[0]


def default_probe(problem: Problem, probe_n: int = PROBE_N) -> RunRequest:
    strategy = default_voter()
    params = strategy.validate(strategy.with_n(strategy.validate(), probe_n))
    return RunRequest(strategy.name, problem, params, None, None, {"advice_probe": None})


def sweep_hint(problem_set: str | None, model: str | None) -> str:
    """The `lab eval` command that stores a sweep the advice can use: a greedy chain of
    thought beside the plain voter over a ladder of n."""
    voter = default_voter()
    thinkers = [s.name for s in list_strategies() if s.category is THINK and s.pick is None
                and any(p.name == "temperature" and p.default == 0 for p in s.params)]
    strategies = " ".join(f"-s {name}" for name in [*thinkers[:1], voter.name])
    no_early_stop = " -p early_stop=false" if any(p.name == "early_stop"
                                                 for p in voter.params) else ""
    model_part = f" --model {model}" if model else ""
    return (f"run `lab eval --set {problem_set or 'arith'} --limit {SWEEP_LIMIT} {strategies} "
            f"--sweep n={SWEEP_LADDER}{no_early_stop}{model_part}` to store one")


# -- the advice ----------------------------------------------------------------------------
@dataclass
class Prediction:
    option: Option
    accuracy: float  # mean chance of a right answer on the similar stored problems
    low: float  # Wilson 95% interval
    high: float
    tokens: float  # mean generated tokens after the probe (verdicts included)
    problems: int  # stored problems behind it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Advice:
    difficulty: Difficulty
    probe_tokens: int  # generated by the probe (verdicts included)
    probe_prompt_tokens: int
    probe_wall_s: float
    probe_answer: str | None  # the probe's own vote
    experiment: str | None = None  # the stored sweep; None: there is none
    problem_set: str | None = None
    similar: int = 0  # stored problems of the probe's level
    stored: int = 0  # stored problems in all
    widened: bool = False  # too few similar ones: predicted from all
    predictions: list[Prediction] = field(default_factory=list)  # cheapest first
    chosen: Prediction | None = None
    why: str = ""
    missing: str | None = None  # why there is no advice, and what to run
    notes: list[str] = field(default_factory=list)  # caveats the reader should see

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["difficulty"] = self.difficulty.to_dict()
        return data


def advise(probe: Trace, sweep: StoredSweep | None, problem_set: str | None = None,
           model: str | None = None, tolerance: float = TOLERANCE) -> Advice:
    """The advice for the probed problem: predictions from the stored problems that read
    like it, and the cheapest within `tolerance` of the best."""
    if probe.status != TraceStatus.COMPLETE:
        raise AdviceError(f"the probe did not finish ({probe.status}): "
                          f"{probe.error or probe.reason or 'no reason given'}")
    difficulty = difficulty_of(probe)
    advice = Advice(difficulty, probe.compute.all_generated, probe.compute.prompt_tokens,
                    probe.compute.wall_s, probe.final_answer)
    if sweep is None:
        advice.missing = (f"No stored sweep of {probe.model} can be read for advice; "
                          f"{sweep_hint(problem_set, model)}.")
        return advice
    advice.experiment, advice.problem_set = sweep.experiment, sweep.problem_set
    if system_prompt(probe) != sweep.system_prompt:
        advice.notes.append("The probe was asked with another prompt than the stored sweep's "
                            "runs (the lab's prompts changed since): its reading is only "
                            "comparable roughly; store a new sweep to compare exactly.")
    return predict(advice, sweep, tolerance)


def predict(advice: Advice, sweep: StoredSweep, tolerance: float = TOLERANCE) -> Advice:
    """Fill in the predictions and the advised option for `advice.difficulty` (the part of
    `advise` after the probe; `bench/advice.py` calls it with stored readings)."""
    difficulty = advice.difficulty
    advice.experiment, advice.problem_set = sweep.experiment, sweep.problem_set
    similar = [p for p in sweep.problems if p.difficulty.level == difficulty.level]
    advice.similar, advice.stored = len(similar), len(sweep.problems)
    if len(similar) < MIN_SIMILAR:
        similar, advice.widened = sweep.problems, True
    predictions = [p for o in sweep.options if (p := _predict(o, similar)) is not None]
    enough = min(MIN_MEASURED, len(similar))
    too_few = [p.option.label for p in predictions if p.problems < enough]
    if too_few:
        advice.notes.append(f"Not predicted, measured on fewer than {enough} of these "
                            f"problems: {', '.join(too_few)}.")
    advice.predictions = sorted((p for p in predictions if p.problems >= enough),
                                key=lambda p: (p.tokens, -p.accuracy))
    if not advice.predictions:
        advice.missing = (f"experiment {sweep.experiment!r} has no graded runs to predict "
                          "from (problems without a gold answer)")
        return advice
    best = max(advice.predictions, key=lambda p: (p.accuracy, -p.tokens))
    advice.chosen = next(p for p in advice.predictions
                         if p.accuracy >= best.accuracy - tolerance)
    advice.why = _why(advice, best, tolerance)
    return advice


def _predict(option: Option, problems: Sequence[StoredProblem]) -> Prediction | None:
    known = [p for p in problems if option.key in p.chance]
    if not known:
        return None
    right = sum(p.chance[option.key] for p in known)
    low, high = wilson_interval(right, len(known))
    tokens = sum(p.tokens[option.key] for p in known) / len(known)
    return Prediction(option, right / len(known), low, high, tokens, len(known))


def _why(advice: Advice, best: Prediction, tolerance: float) -> str:
    where = (f"all {advice.stored} stored problems (only {advice.similar} read "
             f"'{advice.difficulty.level}')" if advice.widened else
             f"the {advice.similar} stored problems whose probe would read "
             f"'{advice.difficulty.level}'")
    chosen = advice.chosen
    assert chosen is not None
    if chosen is best:
        return f"the best predicted accuracy on {where}"
    return (f"the cheapest option within {tolerance:.2f} of the best prediction "
            f"({best.option.label}: {best.accuracy:.2f} at {best.tokens:,.0f} tokens) "
            f"on {where}")
