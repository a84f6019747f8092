"""``augsearch compare``: policies and controls, trained over the same seeds, with a verdict.

Each (policy, seed) is one job: a training run in ``jobs/<arm>-s<seed>/`` that any engine can run
(Ray Tune with fractional resources, or in-process). A finished job appends one line to
``results.jsonl``, so ``--resume`` redoes nothing, and an interrupted in-process job continues
from its last epoch. The first policy is the one tested: its paired difference to each control over
the same seeds, with a Student-t interval, says better, worse or not distinguishable.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
import yaml

from augsearch import options, presets
from augsearch.data import ImageSet, TrainTest
from augsearch.errors import AugsearchError, ConfigError, first_line
from augsearch.jobs.engines import ENGINES, Resources
from augsearch.jobs.workdir import WorkDir, complete_lines, drop_torn_tail
from augsearch.options import option
from augsearch.policy import Policy, PolicyData
from augsearch.proof import stats
from augsearch.proof.train import NO_POLICY, TrainConfig, load_data, run_training
from augsearch.registry import Registry, build
from augsearch.search.config import RunConfig, load_run_config
from augsearch.search.run import held_out
from augsearch.search.spaces import SPACES
from augsearch.specs import POLICY_SUFFIXES, load_policy


@dataclass(frozen=True)
class Arm:
    """One policy of a comparison: its name in the tables, what trains it (a spec, a file or
    ``none``), and whether it is the tested policy, another candidate or a control."""

    name: str
    policy: str
    role: str


@dataclass(frozen=True)
class Context:
    """What a control is made from: the tested policy, the space it was searched in (if known),
    where control files go, and the seed of any random draw."""

    tested: PolicyData | None
    space: str | None
    folder: Path
    seed: int
    data: ImageSet | None = None


Control = Callable[[Context], Arm | str]
CONTROLS: Registry[Control] = Registry("control")
"""Controls: each returns its arm, or the reason it does not apply (recorded in compare.json)."""

PUBLISHED = {"fast-aa": "fast-aa/reduced-cifar10", "autoaugment": "autoaugment/cifar10",
             "randaugment": "randaugment/paper-n2-m9", "trivial-wide": "trivialaugment/wide", "augmix": "augmix/cifar",
             "pba": "pba/reduced-cifar10"}
"""The bundled published policy of each convention's family (CIFAR-10's where there are several)."""


@CONTROLS.register("none")
def _none(context: Context) -> Arm:
    return Arm("none", NO_POLICY, "control")


@CONTROLS.register("random")
def _random(context: Context) -> Arm | str:
    """A candidate drawn uniformly from the tested policy's space, in its shape (sub-policies x ops)."""
    if context.tested is None:
        return "no policy to draw a random one like"
    name = context.space or getattr(getattr(context.tested, "convention", None), "name", None)
    if name not in SPACES:
        return f"the space of {context.tested.kind} policies in convention {name!r} is unknown: pass --space"
    shape: dict[str, Any] = {}
    if isinstance(context.tested, Policy):
        shape = {"num_sub_policies": len(context.tested),
                 "num_ops": max(len(sp.ops) for sp in context.tested.sub_policies)}
    space = build(SPACES.get(name), shape)
    if context.data is not None:
        space = space.adapt(context.data)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=context.seed))
    candidate = space.candidate(study.ask(space.distributions()).params)
    if isinstance(candidate, Policy):
        candidate = Policy(candidate.sub_policies, convention=candidate.convention, source=(
            f"random control: uniform draw from the {name} space, {len(candidate)} sub-policies, seed {context.seed}"))
    path = candidate.save(context.folder / "random.yaml")
    return Arm("random", str(path), "control")


@CONTROLS.register("randaugment")
def _randaugment(context: Context) -> Arm:
    return Arm("randaugment", "randaugment", "control")  # N=2, M=9 on the paper's scale


@CONTROLS.register("trivial")
def _trivial(context: Context) -> Arm:
    return Arm("trivial", "trivial", "control")  # TrivialAugment wide


@CONTROLS.register("published")
def _published(context: Context) -> Arm | str:
    convention = getattr(getattr(context.tested, "convention", None), "name", None)
    if convention not in PUBLISHED:
        return f"no published policy bundled for convention {convention!r}"
    return Arm(f"published ({PUBLISHED[convention]})", PUBLISHED[convention], "control")


@dataclass(frozen=True)
class CompareConfig(TrainConfig):
    """Every option of ``augsearch compare``: the training options, and the comparison's own."""

    policies: tuple[str, ...] = option((), "the policies to compare; the first is tested against the controls")
    run_dir: str | None = option(None, "a finished search: its policy on its own data's held-out part")
    controls: tuple[str, ...] = option(tuple(CONTROLS.names()), "controls to train beside the policies",
                                       choices=CONTROLS)
    space: str | None = option(None, "the space the random control is drawn from (default: the search's, "
                               "else the one named like the policy's convention)", choices=SPACES)
    seeds: int = option(3, "seeds per policy (the same seeds for every policy, for paired differences)")
    engine: str = option("ray", "where the jobs run: Ray Tune or in-process", choices=ENGINES)
    cpus_per_trial: float = option(1.0, "CPUs per job (Ray)")
    gpus_per_trial: float | None = option(None, "GPUs per job, fractions allowed (default: 1 when present, else 0)")
    address: str | None = option(None, "existing Ray cluster: auto or ray://HOST:PORT")


def resolve(*, file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> CompareConfig:
    cfg = options.resolve(CompareConfig, file=file, overrides=overrides, preset=presets.training)
    cfg.recipe()
    if cfg.seeds < 1:
        raise ConfigError(f"seeds must be at least 1 (got {cfg.seeds})")
    if not cfg.policies and not cfg.run_dir:
        raise ConfigError("name the policies to compare, or a search's run directory")
    if cfg.out is None:
        out = str(Path(cfg.run_dir) / "compare") if cfg.run_dir else options.default_out("compare")
        cfg = dataclasses.replace(cfg, out=out)
    return cfg


def resolve_for_run(run_dir: str | Path, run: RunConfig) -> CompareConfig:
    """The comparison of ``augsearch run --compare``: the found policy against the controls, trained
    as the run's final training (its model, batch size, learning rate, weight decay, label
    smoothing, precision and base, for ``compare_epochs``), over ``seeds``, on the run's engine."""
    return resolve(overrides={
        "run_dir": str(run_dir), "model": run.model, "epochs": run.compare_epochs, "seeds": run.seeds,
        "batch_size": run.batch_size, "lr": run.lr, "weight_decay": run.weight_decay,
        "label_smoothing": run.label_smoothing, "precision": run.precision, "base": run.base, "engine": run.engine,
        "cpus_per_trial": run.cpus_per_trial, "gpus_per_trial": run.gpus_per_trial, "address": run.address,
        "seed": run.seed})


class CompareDir(WorkDir):
    """A comparison's directory: ``config.yaml``, ``arms.json``, ``policies/``, ``jobs/``,
    ``results.jsonl`` (one line per finished job), ``compare.json``, ``compare.md``, ``compare.png``."""

    arms_file = property(lambda self: self.path / "arms.json")
    results_file = property(lambda self: self.path / "results.jsonl")
    json_file = property(lambda self: self.path / "compare.json")
    markdown_file = property(lambda self: self.path / "compare.md")
    chart_file = property(lambda self: self.path / "compare.png")

    def load_config(self) -> CompareConfig:
        if not self.config_file.exists():
            raise ConfigError(f"{self.path} is not a comparison directory (no config.yaml)")
        return resolve(overrides=options.read_file(CompareConfig, self.config_file))

    def arms(self) -> tuple[list[Arm], dict[str, str]]:
        """The arms written when the comparison started, and the controls left out."""
        if not self.arms_file.exists():
            raise ConfigError(f"{self.arms_file}: missing, so this comparison cannot continue; start it again "
                              f"with another --out (or remove {self.path})")
        data = self.read_json(self.arms_file)
        try:
            arms = [Arm(**a) for a in data["arms"]]
            skipped = {str(k): str(v) for k, v in data["skipped"].items()}
        except (KeyError, TypeError, AttributeError) as err:
            raise ConfigError(f"{self.arms_file}: corrupt ({first_line(err)})") from None
        return arms, skipped

    def job_dir(self, arm: int, seed: int) -> Path:
        return self.path / "jobs" / f"arm{arm}-s{seed}"

    def results(self) -> list[dict[str, Any]]:
        out = []
        for number, line in enumerate(complete_lines(self.results_file), 1):
            try:
                record = json.loads(line)
                if not (isinstance(record, dict) and isinstance(record.get("arm"), int)
                        and isinstance(record.get("seed"), int) and isinstance(record.get("top1"), float)):
                    raise ValueError("expected {arm, seed, top1}")
            except ValueError as err:
                raise ConfigError(f"{self.results_file}:{number}: corrupt result ({err})") from None
            out.append(record)
        return out


@dataclass(frozen=True)
class CompareWork:
    """The jobs of a comparison, picklable for any engine: job ``k`` trains one (arm, seed). In
    process a job writes its directory itself (and resumes mid-training); made :meth:`remote`, a
    job trains in a scratch directory and sends its files and result through ``channel`` to the
    driver, which alone writes the comparison's directory."""

    jobs: tuple[tuple[int, int], ...]
    arms: tuple[Arm, ...]
    train: TrainConfig
    data: TrainTest
    run_path: str
    threads: int | None
    channel: Any = None

    @property
    def nbytes(self) -> int:
        return self.data.train.images.numel() + self.data.test.images.numel()

    def __call__(self, k: int, device: torch.device) -> None:
        arm, seed = self.jobs[k]
        folder = CompareDir(self.run_path)
        job = folder.job_dir(arm, seed)
        if self.channel is None:
            self.record(("result", json.dumps(self._train(arm, seed, job, device))))
            return
        with tempfile.TemporaryDirectory() as scratch:
            result = self._train(arm, seed, Path(scratch) / job.name, device)
            for path in sorted((Path(scratch) / job.name).iterdir()):
                self.channel.put(("file", f"jobs/{job.name}/{path.name}", path.read_bytes()))
        self.channel.put(("result", json.dumps(result)))

    def _train(self, arm: int, seed: int, job: Path, device: torch.device) -> dict[str, Any]:
        cfg = dataclasses.replace(self.train, policy=self.arms[arm].policy, seed=seed, out=str(job),
                                  threads=self.threads, device=device.type)
        try:
            metrics = run_training(cfg, resume=(job / "config.yaml").exists(), data=self.data)
        except AugsearchError as err:  # say which of the jobs failed
            raise AugsearchError(f"job {job.name} ({self.arms[arm].name}, seed {seed}): {err}") from None
        return {"arm": arm, "seed": seed, "top1": float(metrics["top1"]), "loss": metrics["loss"],
                "train_acc": metrics["train_acc"], "seconds": metrics["seconds"]}

    def remote(self, channel: Any) -> CompareWork:
        return dataclasses.replace(self, channel=channel)

    def record(self, item: tuple) -> None:
        """Write one item a job sent (driver side): a file of a job directory, or a job's result."""
        folder = CompareDir(self.run_path)
        if item[0] == "result":
            folder.append_line(folder.results_file, item[1])
        elif item[0] == "file" and _JOB_FILE.fullmatch(item[1]):
            folder.write_whole(folder.path / item[1], item[2])
        else:
            raise ValueError(f"a job sent an unknown record: {str(item)[:80]}")


_JOB_FILE = re.compile(r"jobs/arm\d+-s-?\d+/[\w-][\w.-]*")


def make_arms(cfg: CompareConfig, folder: CompareDir, tested: str | None, space: str | None, *,
              data: ImageSet | None = None) -> tuple[list[Arm], dict[str, str]]:
    """The tested policy, the other candidates and the controls; and why a control was left out."""
    arms = [Arm(Path(p).stem if Path(p).suffix else p, p, "tested" if i == 0 else "candidate")
            for i, p in enumerate(cfg.policies)]
    if tested is not None and not cfg.policies:
        arms = [Arm("searched", tested, "tested")]
    context = Context(load_policy(arms[0].policy) if arms and arms[0].policy != NO_POLICY else None, space,
                      folder.path / "policies", cfg.seed, data)
    skipped: dict[str, str] = {}
    for name in cfg.controls:
        made = CONTROLS.get(name)(context)
        if isinstance(made, str):
            skipped[name] = made
        elif any(_same(made.policy, a.policy) for a in arms):
            skipped[name] = "it is one of the compared policies"
        else:
            arms.append(made)
    return arms, skipped


def _same(first: str, second: str) -> bool:
    """Whether two arms train with the same policy (as data, whatever the spelling)."""
    if NO_POLICY in (first, second):
        return first == second
    return first == second or load_policy(first) == load_policy(second)


def compare(cfg: CompareConfig, *, resume: bool = False, quiet: bool = True) -> dict[str, Any]:
    """Run (or continue, with the directory's own config) the comparison in ``cfg.out`` and return
    ``compare.json``'s content."""
    folder = CompareDir(cfg.out)
    if resume:
        folder.load_config()  # refuse a directory that holds no comparison before locking (and creating) it
    with folder.locked():
        if resume:
            folder.check_sealed()
            cfg = folder.load_config()
            drop_torn_tail(folder.results_file)
        elif folder.config_file.exists():
            raise ConfigError(f"{folder.path} already holds a comparison: continue it with --resume {folder.path} "
                              "or choose another --out")
        data, tested, space, train = _inputs(cfg)
        if resume:
            arms, skipped = folder.arms()
        else:
            arms, skipped = make_arms(cfg, folder, tested, space, data=data.train)
            # the arms first: a config.yaml marks a comparison that --resume can continue
            folder.write_json(folder.arms_file, {"arms": [dataclasses.asdict(a) for a in arms], "skipped": skipped})
            folder.config_file.write_text(yaml.safe_dump(_plain(cfg), sort_keys=False))
            folder.seal(folder.config_file, folder.arms_file,
                        *sorted({Path(a.policy) for a in arms if Path(a.policy).suffix.lower() in POLICY_SUFFIXES}))
        seeds = [cfg.seed + i for i in range(cfg.seeds)]
        jobs = tuple((a, s) for s in seeds for a in range(len(arms)))
        done = {(r["arm"], r["seed"]) for r in folder.results()}
        todo = [k for k, job in enumerate(jobs) if job not in done]
        threads = max(1, int(cfg.cpus_per_trial)) if cfg.engine == "ray" else cfg.threads
        work = CompareWork(jobs, tuple(arms), train, data, str(folder.path.resolve()), threads)
        start = time.perf_counter()
        if todo:
            if not quiet:
                print(f"training {len(todo)} of {len(jobs)} jobs ({len(arms)} policies x {len(seeds)} seeds) on "
                      f"{cfg.engine}", flush=True)
            try:
                ENGINES.get(cfg.engine)(todo, work, Resources(cfg.cpus_per_trial, cfg.gpus_per_trial, cfg.address))
            except KeyboardInterrupt:
                pass  # the engine stopped early: say how far it got, below
        results = folder.results()
        finished = {(r["arm"], r["seed"]) for r in results}
        missing = [job for job in jobs if job not in finished]
        if missing:
            raise KeyboardInterrupt(f"{len(jobs) - len(missing)} of {len(jobs)} jobs are done; continue with: "
                                    f"augsearch compare --resume {folder.path}")
        budget = f"this budget ({train.model}, {train.epochs} epochs)"
        summary = summarize(arms, results, seeds, budget=budget) | {
            "skipped_controls": skipped, "dataset": train.dataset, "model": train.model, "epochs": train.epochs,
            "base": train.base, "holdout": {k: v for k, v in data.holdout.items() if k != "test_indices"},
            "train_size": len(data.train), "test_size": len(data.test), "seeds": seeds,
            "wall_seconds": time.perf_counter() - start, "run_dir": cfg.run_dir}
        folder.write_json(folder.json_file, summary)
        folder.markdown_file.write_text(markdown(summary))
        chart(summary, folder.chart_file)
        return summary


def _inputs(cfg: CompareConfig) -> tuple[TrainTest, str | None, str | None, TrainConfig]:
    """The data, the searched policy and space (for a run directory), and the training options."""
    train = TrainConfig(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(TrainConfig)})
    if not cfg.run_dir:
        return load_data(cfg), None, cfg.space, train
    run_cfg = load_run_config(cfg.run_dir)
    policy_file = Path(cfg.run_dir) / "policy.yaml"
    if not policy_file.exists():
        raise ConfigError(f"{policy_file}: missing: the search has not finished (augsearch run --resume {cfg.run_dir})")
    data = held_out(run_cfg)
    train = dataclasses.replace(train, dataset=run_cfg.dataset, data_root=run_cfg.data_root, subset=run_cfg.subset,
                                image_size=run_cfg.image_size, skip_bad=run_cfg.skip_bad)
    return data, str(policy_file.resolve()), cfg.space or run_cfg.space, train


def _plain(cfg: CompareConfig) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def summarize(arms: Sequence[Arm], results: Sequence[dict[str, Any]], seeds: Sequence[int], *,
              budget: str = "this budget") -> dict[str, Any]:
    """Per policy: its top-1 values, mean, std and interval, and its mean final training accuracy; per
    control: the tested policy's paired difference to it and the verdict; and the warnings of
    :func:`regime_warnings` (``budget`` names the training in them)."""
    by_arm = {i: {r["seed"]: r["top1"] for r in results if r["arm"] == i and r["seed"] in seeds}
              for i in range(len(arms))}
    fitted = {i: [r["train_acc"] for r in results if r["arm"] == i and r["seed"] in seeds
                  and isinstance(r.get("train_acc"), float)] for i in range(len(arms))}
    rows = [{**dataclasses.asdict(arm), "values": [by_arm[i][s] for s in seeds if s in by_arm[i]],
             **stats.estimate(list(by_arm[i].values())).to_dict(),
             "train_acc": statistics.fmean(fitted[i]) if fitted[i] else None} for i, arm in enumerate(arms)]
    tested = next((i for i, a in enumerate(arms) if a.role == "tested"), None)
    differences = []
    if tested is not None:
        for i, arm in enumerate(arms):
            if i != tested:
                diff = stats.paired(by_arm[tested], by_arm[i])
                unclear = stats.verdict(diff) == stats.UNCLEAR and diff.std is not None
                differences.append({"versus": arm.name, **diff.to_dict(), "verdict": stats.verdict(diff),
                                    "seeds_needed": stats.seeds_needed(diff.std, diff.mean) if unclear else None})
    return {"level": stats.LEVEL, "tested": None if tested is None else arms[tested].name, "policies": rows,
            "differences": differences,
            "warnings": seed_warnings(differences, len(seeds)) + regime_warnings(arms, by_arm, rows, budget=budget)}


def seed_warnings(differences: Sequence[dict[str, Any]], seeds: int) -> list[str]:
    """What too few seeds cannot decide, with the seeds that the observed spread needs: one seed gives
    no interval; two give Student-t intervals 3x as wide as three seeds' at the same spread."""
    if not differences or seeds >= 3:
        return []
    if seeds == 1:
        return ["one seed gives no interval, so no verdict: run --seeds 3 or more"]
    spread = max((d["std"] for d in differences if d["std"] is not None), default=None)
    needed = None if not spread else stats.seeds_needed(spread, POINT)
    need = (f"; at the spread seen here (paired differences with a standard deviation up to {100 * spread:.2f} "
            f"points) a 1-point difference takes {needed} seeds (--seeds {needed})" if needed else "")
    return [f"2 seeds give intervals too wide to decide anything (Student t with 1 degree of freedom is 12.7, "
            f"against 4.3 for 3 seeds){need}"]


POINT = 0.01
"""A difference of one percentage point of top-1: the size :func:`seed_warnings` plans seeds for."""


UNDERFIT = 0.95
"""A task model underfits when even its best-fitting policy (no policy, where that is an arm) ends
its training below this accuracy on its own training batches: a model that cannot fit the data it
has gains nothing from more varied data, so augmentation cannot pay in that budget."""


def regime_warnings(arms: Sequence[Arm], by_arm: dict[int, dict[int, float]], rows: Sequence[dict[str, Any]], *,
                    budget: str) -> list[str]:
    """Plain sentences on a budget in which augmentation does not pay, each with what to change: no
    policy beats ``none`` with a paired interval above zero, or the task model underfits."""
    found = []
    change = ("train longer (--epochs) or a larger --model, e.g. --preset resnet20-160 (see docs/regime.md), "
              "before trusting a verdict for longer training")
    none = next((i for i, a in enumerate(arms) if a.policy == NO_POLICY), None)
    others = [i for i, a in enumerate(arms) if a.policy != NO_POLICY]
    if none is not None and others and all(stats.verdict(stats.paired(by_arm[i], by_arm[none])) != stats.BETTER
                                           for i in others):
        found.append(f"no augmentation policy beats none (the base augmentation alone) at {budget}: augmentation "
                     f"does not pay in this regime, so these verdicts say little about training longer or larger "
                     f"models, where strong policies usually win; {change}")
    fits = [(r["train_acc"], r["name"]) for r in rows if r["train_acc"] is not None]
    reference = [f for f in fits if f[1] == "none"] or sorted(fits, reverse=True)[:1]
    if reference and reference[0][0] < UNDERFIT:
        acc, name = reference[0]
        found.append(f"the task model underfits at {budget}: training accuracy {100 * acc:.1f} % with {name}, "
                     f"far from 100 %; a model that cannot fit its data gains little from augmentation; {change}")
    return found


def _text(value: Any) -> str:
    """Text from a file name or a dataset as Markdown shows it: no raw HTML, no ``|`` splitting a row."""
    text = " ".join(str(value).split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def markdown(summary: dict[str, Any]) -> str:
    """The tables of ``compare.md`` (and of the terminal): top-1 in %, then the paired differences."""
    level = round(100 * summary["level"])
    lines = [f"Top-1 on {summary['test_size']} held-out images ({summary['holdout']['kind']}), "
             f"{_text(summary['model'])}, "
             f"{summary['epochs']} epochs, base {summary['base']}, seeds {summary['seeds']}.", "",
             f"| policy | role | mean top-1 % | std | {level}% CI | runs | train acc % |",
             "|---|---|---|---|---|---|---|"]
    for row in summary["policies"]:
        ci = "-" if row["low"] is None else f"{_pct(row['low'])} .. {_pct(row['high'])}"
        lines.append(f"| {_text(row['name'])} | {row['role']} | {_pct(row['mean'])} | {_pct(row['std'])} | {ci} "
                     f"| {row['n']} | {_pct(row.get('train_acc'))} |")
    if summary["differences"]:
        lines += ["", f"Paired difference of {_text(summary['tested'])} to each policy over the same seeds "
                      "(percentage points; the verdict comes from the interval):", "",
                  f"| versus | mean difference | {level}% CI | seeds | verdict |", "|---|---|---|---|---|"]
        for d in summary["differences"]:
            ci = "-" if d["low"] is None else f"{_pct(d['low'])} .. {_pct(d['high'])}"
            more = f" (a difference this size needs about {d['seeds_needed']} seeds)" if d.get("seeds_needed") else ""
            lines.append(f"| {_text(d['versus'])} | {_pct(d['mean'])} | {ci} | {d['n']} | {d['verdict']}{more} |")
    for name, why in summary.get("skipped_controls", {}).items():
        lines.append(f"\nControl {_text(name)} left out: {_text(why)}.")
    for warning in summary.get("warnings", []):
        lines.append(f"\n**Warning:** {_text(warning)}.")
    return "\n".join(lines) + "\n"


def chart(summary: dict[str, Any], path: Path) -> None:
    """Mean top-1 per policy with its confidence interval, each seed as a dot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = summary["policies"]
    fig = Figure(figsize=(max(5.0, 1.3 * len(rows) + 2), 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for x, row in enumerate(rows):
        colour = "#c44e52" if row["role"] == "tested" else "#4c72b0"
        if row["low"] is not None:
            ax.errorbar([x], [100 * row["mean"]], yerr=[[100 * (row["mean"] - row["low"])],
                                                        [100 * (row["high"] - row["mean"])]],
                        fmt="o", color=colour, capsize=6, markersize=8)
        else:
            ax.plot([x], [100 * row["mean"]], "o", color=colour, markersize=8)
        ax.scatter([x] * len(row["values"]), [100 * v for v in row["values"]], s=12, color="black", alpha=0.5,
                   zorder=3)
    ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=20, ha="right")
    ax.set_ylabel(f"top-1 % on held-out data ({round(100 * summary['level'])}% CI)")
    ax.set_title(f"{summary['model']}, {summary['epochs']} epochs, {len(summary['seeds'])} seeds")
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path)
