"""The search report: one self-contained HTML file that says what a run found and what it cost.

It reads only the run directory (config, trials, proxies, policy, summary), writes its
pictures to ``RUN_DIR/report/`` and embeds the same PNGs as data URIs in
``RUN_DIR/report.html``, so the page can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
import json
import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from PIL import Image

from augsearch.conventions import Convention
from augsearch.data import default_image_size, load_dataset
from augsearch.errors import AugsearchError
from augsearch.formats import parse_text
from augsearch.ops import OPS
from augsearch.policy import Policy, PolicyData
from augsearch.search.rundir import RunDir, RunDirError, Trial
from augsearch.specs import load_policy
from augsearch.viz.draw import save_png
from augsearch.viz.grid import pick_rows, sample_grid, sample_photos

if TYPE_CHECKING:  # matplotlib is imported when a report is drawn, not with augsearch
    from matplotlib.figure import Figure

TOP_CANDIDATES = 10
SAMPLE_ROWS = 6
SAMPLE_DRAWS = 6
SAMPLE_TILE = 112


class ReportError(RunDirError):
    """A run directory file is missing or unreadable; the message names the file."""


@dataclass(frozen=True)
class Run:
    """The records of one finished search, as read from its directory."""

    path: Path
    config: dict[str, Any]
    trials: list[Trial]
    proxies: list[dict[str, Any]]
    policy: PolicyData
    summary: dict[str, Any]


# ----------------------------------------------------------------------------- reading

def read_run(run_dir: str | Path) -> Run:
    """Read and check every file of a run directory."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ReportError(f"{path}: no such run directory")
    config = _mapping(_read(path / "config.yaml", lambda text: parse_text(text, file=str(path / "config.yaml"))),
                      path / "config.yaml")
    trials = RunDir(path).trials()
    if not trials:
        raise ReportError(f"{path / 'trials.jsonl'}: no trials recorded")
    splits = sorted({t.split for t in trials})
    trained = config.get("objective") not in (None, "density-matching")  # candidates train their own proxies
    proxies = [] if trained else [read_proxy(path / "proxies" / f"split{k}.json") for k in splits]
    policy_file = path / "policy.yaml"
    if not policy_file.is_file():
        raise ReportError(f"{policy_file}: missing (the search writes it when it finishes)")
    policy = load_policy(policy_file)
    summary = _mapping(_read(path / "summary.json", json.loads), path / "summary.json")
    return Run(path, config, trials, proxies, policy, summary)


def _read(file: Path, parse) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{file}: missing") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ReportError(f"{file}: unreadable ({getattr(err, 'strerror', None) or err})") from None
    try:
        return parse(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ReportError(f"{file}: corrupt ({str(err).splitlines()[0]})") from None


def _mapping(data: Any, file: Path) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ReportError(f"{file}: corrupt (expected a mapping, got {type(data).__name__})")
    return data


def read_proxy(file: Path) -> dict[str, Any]:
    """One proxy model's record: its epochs (loss, train_acc) and holdout accuracy."""
    proxy = _mapping(_read(file, json.loads), file)
    epochs = proxy.get("epochs")
    if not isinstance(epochs, list) or not all(
            isinstance(e, dict) and all(isinstance(e.get(k), (int, float)) for k in ("epoch", "loss", "train_acc"))
            for e in epochs):
        raise ReportError(f"{file}: corrupt ('epochs' must be a list of {{epoch, loss, train_acc}})")
    return proxy


# ----------------------------------------------------------------------------- figures

def _figure(width: float, height: float) -> Figure:
    """A matplotlib figure on the Agg canvas, without pyplot's global state."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ModuleNotFoundError:
        raise ReportError("the report needs matplotlib: pip install matplotlib") from None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    axis.set_major_locator(MaxNLocator(integer=True))


def plot_scores(trials: Sequence[Trial]) -> Figure:
    """Each candidate's score in evaluation order, per split, with the best so far."""
    fig = _figure(11, 4.4)
    ax = fig.subplots()
    by_split: dict[int, list[Trial]] = defaultdict(list)
    for t in trials:
        by_split[t.split].append(t)
    for k, records in sorted(by_split.items()):
        records = sorted(records, key=lambda t: (t.repeat, t.trial))
        xs = np.arange(1, len(records) + 1)
        scores = np.array([np.nan if t.score is None else t.score for t in records], dtype=float)
        failed = np.isnan(scores)
        best = np.fmax.accumulate(scores)
        label = f"split {k}" + (f" (best {np.nanmax(scores):.4f})" if not failed.all() else "")
        line = ax.plot(xs, best, drawstyle="steps-post", linewidth=2, label=label)[0]
        ax.scatter(xs[~failed], scores[~failed], s=14, alpha=0.6, color=line.get_color())
        if failed.any():
            ax.scatter(xs[failed], np.zeros(failed.sum()), marker="x", color=line.get_color(),
                       transform=ax.get_xaxis_transform(), clip_on=False,
                       label=f"split {k}: {failed.sum()} failed (x at the bottom)")
    _integer_ticks(ax.xaxis)
    ax.set_xlabel("candidate (evaluation order within the split)")
    ax.set_ylabel("score (higher is better)")
    ax.set_title("Candidate scores; lines: best so far")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_ops(policy: Policy) -> Figure:
    """How often each op appears in the final policy, and at which levels."""
    convention = policy.convention
    uses = [op for sp in policy.sub_policies for op in sp.ops]
    counts = Counter(op.name for op in uses)
    names = [name for name, _ in counts.most_common()][::-1]
    fig = _figure(11, max(2.5, 0.32 * len(names) + 1.3))
    left, right = fig.subplots(1, 2, sharey=True, width_ratios=[1, 2])
    rows = np.arange(len(names))
    left.barh(rows, [counts[n] for n in names], color="#4c72b0")
    left.set_yticks(rows, names)
    _integer_ticks(left.xaxis)
    left.set_xlabel("uses in the final policy")
    jitter = np.random.default_rng(0)
    dots = None
    for y, name in zip(rows, names):
        levels = [op.magnitude for op in uses if op.name == name and op.magnitude is not None]
        if not levels:
            right.text(0.02 * convention.max_magnitude, y, "no magnitude", va="center", fontsize="small",
                       color="grey")
            continue
        probs = [op.prob for op in uses if op.name == name and op.magnitude is not None]
        dots = right.scatter(levels, y + jitter.uniform(-0.25, 0.25, len(levels)), c=probs, cmap="viridis",
                             vmin=0, vmax=1, s=18)
        right.plot([np.median(levels)] * 2, [y - 0.35, y + 0.35], color="black", linewidth=1.5)
    if dots is not None:
        fig.colorbar(dots, ax=right, label="probability", pad=0.01)
    right.set_xlim(-0.03 * convention.max_magnitude, 1.03 * convention.max_magnitude)
    right.set_xlabel(f"level ({convention.name} magnitude; bar: median)")
    right.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Final policy: {len(policy)} sub-policies, {len(uses)} ops")
    return fig


def plot_proxies(proxies: Sequence[Mapping[str, Any]]) -> Figure:
    """Training loss and accuracy of each split's proxy model."""
    fig = _figure(11, 3.8)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for proxy in proxies:
        epochs = proxy["epochs"]
        xs = [e["epoch"] for e in epochs]
        holdout = proxy.get("holdout_accuracy")
        label = f"split {proxy.get('split', '?')}" + (
            f" (holdout acc {holdout:.3f})" if isinstance(holdout, (int, float)) else "")
        loss_ax.plot(xs, [e["loss"] for e in epochs], marker="o", markersize=3, label=label)
        acc_ax.plot(xs, [e["train_acc"] for e in epochs], marker="o", markersize=3, label=label)
    for ax, what in ((loss_ax, "training loss"), (acc_ax, "training accuracy")):
        _integer_ticks(ax.xaxis)
        ax.set_xlabel("epoch")
        ax.set_title(what)
        ax.grid(alpha=0.3)
    acc_ax.legend(fontsize="small")
    return fig


def plot_candidates(trials: Sequence[Trial]) -> Figure:
    """Each trained candidate's held-out score after every epoch; the ones early stopping ended
    are drawn thin and grey, so the halving is visible."""
    fig = _figure(11, 3.8)
    ax = fig.subplots()
    stopped = 0
    for t in sorted((t for t in trials if t.ok), key=lambda t: t.score):
        curve = sorted((int(k.split("_")[1]), v) for k, v in t.metrics.items()
                       if k.startswith("epoch_") and k.endswith("_score"))
        early = bool(t.metrics.get("stopped_early"))
        stopped += early
        ax.plot([e for e, _ in curve], [v for _, v in curve], marker="o", markersize=2,
                color="0.7" if early else None, linewidth=0.8 if early else 1.6)
    _integer_ticks(ax.xaxis)
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out score")
    ax.set_title(f"Every candidate's score per epoch ({stopped} of {sum(t.ok for t in trials)} stopped early, grey)")
    ax.grid(alpha=0.3)
    return fig


def sample_picture(run: Run) -> tuple[Image.Image, str]:
    """A sample grid of the final policy on the run's own dataset (photos when it will not load)."""
    config = run.config
    note = ""
    try:
        with warnings.catch_warnings():  # the run already warned about the files --skip-bad skips
            warnings.simplefilter("ignore")
            data = load_dataset(str(config.get("dataset")), image_size=config.get("image_size"),
                                data_root=config.get("data_root") or "data", skip_bad=bool(config.get("skip_bad")))
        index = pick_rows(data.labels, SAMPLE_ROWS)
        images, labels, classes, names = data.images[index], data.labels[index], data.classes, None
    except AugsearchError as err:
        note = f"dataset {config.get('dataset')!r} did not load ({err}); shown on sample photos"
        names, images = sample_photos(SAMPLE_ROWS, size=SAMPLE_TILE)
        labels = classes = None
    grid = sample_grid(run.policy, images, n=SAMPLE_DRAWS, seed=int(config.get("seed") or 0), annotate=True,
                       tile=SAMPLE_TILE, labels=labels, classes=classes, names=names)
    return grid, note


# ----------------------------------------------------------------------------- HTML

def op_text(op: Sequence[Any], convention: Convention, *, size: int) -> str:
    """``[op, prob, level]`` as ``Rotate p=0.61 m=0.66 (-9.6° / 9.6°)``: the stored level and the
    physical value(s) on ``size`` px images (both signs for signed ops)."""
    name, prob, level = (*op, None)[:3]
    text = f"{name} p={prob:.2f}"
    if level is None or name not in convention.entries or convention.entry(name).range is None:
        return text
    op_name = convention.entry(name).op
    values = sorted({convention.value(name, level, size=(size, size), negate=flip) for flip in (False, True)})
    shown = " / ".join(OPS[op_name].describe(v)[len(op_name):].strip() for v in values)
    return f"{text} m={level:.2f} ({shown})"


def _table(header: Sequence[str] | None, rows: Iterable[Sequence[Any]], *, cls: str = "") -> str:
    """An HTML table; cells are HTML already (escape text before)."""
    head = ("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>"
            if header else "")
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}">{head}<tbody>{body}</tbody></table>'


def _sub_policies(subs: Sequence[Sequence[Sequence[Any]]], convention: Convention, run: Run) -> str:
    size = run.config.get("image_size") or default_image_size(str(run.config.get("dataset")))
    return "<br>".join(html.escape(" > ".join(op_text(op, convention, size=size) for op in sp)) for sp in subs)


def candidate_html(policy: PolicyData, run: Run) -> str:
    """A candidate of any kind: sub-policies with their physical values, else the policy's repr."""
    if isinstance(policy, Policy):
        subs = [[[op.name, op.prob, op.magnitude] for op in sp.ops] for sp in policy.sub_policies]
        return _sub_policies(subs, policy.convention, run)
    return html.escape(repr(policy))


def _number(value: Any, digits: int = 4) -> str:
    """A score or rate with fixed decimals; anything else as :func:`_plain` text."""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _plain(value)


def _plain(value: Any) -> str:
    """A config or summary value as short text: floats to 4 significant digits, mappings inline."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_plain(v)}" if not isinstance(v, Mapping) else f"{k}: {{{_plain(v)}}}"
                         for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_plain, value)) + "]"
    return str(value)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return _number(seconds)
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def top_candidates(run: Run) -> str:
    scored = sorted((t for t in run.trials if t.ok), key=lambda t: -t.score)[:TOP_CANDIDATES]
    metrics = sorted({k for t in scored for k in t.metrics if not k.endswith(("_seconds", "_score"))})
    rows = [(*(html.escape(_number(v)) for v in (rank, t.split, t.repeat, t.trial, t.score,
                                                   *(t.metrics.get(k) for k in metrics))),
             candidate_html(t.policy(), run))
            for rank, t in enumerate(scored, 1)]
    if not rows:
        return "<p>No candidate has a score: every trial failed.</p>"
    return _table(("#", "split", "repeat", "trial", "score", *metrics, "candidate"), rows, cls="policies")


def final_head(run: Run) -> str:
    policy = run.policy
    if not isinstance(policy, Policy):
        return f"<p>{candidate_html(policy, run)}</p>"
    rows = [(str(i), candidate_html(Policy([sp], convention=policy.convention), run))
            for i, sp in enumerate(policy.sub_policies[:TOP_CANDIDATES])]
    return _table(("#", "sub-policy"), rows, cls="policies")


SUMMARY_SHOWN = ("space", "dataset", "model", "engine", "device", "wall_seconds", "trials", "failed_trials",
                 "trials_per_second", "device_hours", "device_hours_unit", "best_score_per_split",
                 "final_sub_policies", "final_kind", "proxy", "warnings")

WARNING_STYLE = "background: #fff3cd; border-left: 4px solid #e0a800; padding: 6px 10px; margin: 8px 0"


def warnings_html(summary: Mapping[str, Any]) -> str:
    """The search's warnings (``summary.json``'s ``warnings``) as highlighted paragraphs; empty when none."""
    found = summary.get("warnings")
    if not isinstance(found, list):
        return ""
    return "".join(f'<p class="warning" style="{WARNING_STYLE}"><strong>warning:</strong> {html.escape(str(w))}</p>'
                   for w in found)


def _proxy_items(summary: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The proxies' clean D_A accuracy beside chance, and the median candidate score (newer summaries)."""
    proxy = summary.get("proxy")
    if not isinstance(proxy, Mapping):
        return []
    clean = proxy.get("clean_accuracy") if isinstance(proxy.get("clean_accuracy"), Mapping) else {}
    chance = proxy.get("chance")
    accuracy = ", ".join(f"split {k}: {_number(v, 3)}" for k, v in clean.items()) or "-"
    return [("proxy clean accuracy", accuracy + (f" (chance {_number(chance, 3)})" if chance is not None else "")),
            ("median score", _number(proxy.get("median_score")))]


def timings(run: Run) -> str:
    """The summary: the search's warnings first, then what ran where, how well the proxies
    classify clean D_A beside chance, how long it took and what it cost; the search's other
    summary fields follow as they are."""
    s = run.summary
    unit = s.get("device_hours_unit")
    best = s.get("best_score_per_split") or {}
    items = [("space", s.get("space")), ("dataset", s.get("dataset")), ("model", s.get("model")),
             ("engine", s.get("engine")), ("device", s.get("device")),
             ("wall time", _duration(s.get("wall_seconds"))), ("trials", s.get("trials", len(run.trials))),
             ("failed trials", s.get("failed_trials", sum(not t.ok for t in run.trials))),
             ("trials per second", _number(s.get("trials_per_second"), 3)),
             ("device-hours", _number(s.get("device_hours"), 4) + (f" ({unit})" if unit else "")),
             ("best score per split", ", ".join(f"{k}: {_number(v)}" for k, v in best.items()) or "-"),
             *_proxy_items(s),
             ("final policy", f"{len(run.policy)} sub-policies" if isinstance(run.policy, Policy)
              else run.policy.kind)]
    items += [(k.replace("_", " "), v) for k, v in s.items() if k not in SUMMARY_SHOWN]
    return warnings_html(s) + _table(None, ((html.escape(k), html.escape(_plain(v))) for k, v in items), cls="kv")


def config_table(config: Mapping[str, Any]) -> str:
    return _table(("key", "value"), ((html.escape(str(k)), html.escape(_plain(v))) for k, v in config.items()),
                  cls="kv")


def _img(png: Path, alt: str) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 16px 24px;
       max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
p.note { color: #666; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; border: 1px solid #eee; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
table.policies td:last-child { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em; }
table.kv td:first-child { font-weight: 600; white-space: nowrap; }
table.kv td { overflow-wrap: anywhere; }
nav a { margin-right: 12px; }
"""

SECTIONS = (("summary", "Summary"), ("scores", "Search progress"), ("ops", "Final policy"),
            ("top", "Top sub-policies"), ("samples", "Samples"), ("proxies", "Proxy training"),
            ("config", "Config"))


def comparison(run: Run) -> str | None:
    """The held-out comparison of ``augsearch compare RUN_DIR`` (``RUN_DIR/compare/``), if it ran."""
    folder = run.path / "compare"
    if not (folder / "compare.json").exists():
        return None
    summary = _mapping(_read(folder / "compare.json", json.loads), folder / "compare.json")
    try:
        level = round(100 * summary["level"])

        def pct(value: Any) -> str:
            return "-" if value is None else f"{100 * value:.2f}"

        def ci(row: Mapping[str, Any]) -> str:
            return "-" if row["low"] is None else f"{pct(row['low'])} .. {pct(row['high'])}"

        rows = [(html.escape(r["name"]), html.escape(r["role"]), pct(r["mean"]), pct(r["std"]), ci(r), str(r["n"]),
                 pct(r.get("train_acc"))) for r in summary["policies"]]
        diffs = [(html.escape(d["versus"]), pct(d["mean"]), ci(d), str(d["n"]), f"<b>{html.escape(d['verdict'])}</b>")
                 for d in summary["differences"]]
        head = (f"<p>Top-1 on {summary['test_size']} held-out images ({html.escape(summary['holdout']['kind'])}) "
                f"that neither the proxies nor the scoring saw; {html.escape(str(summary['model']))}, "
                f"{summary['epochs']} epochs, base {html.escape(str(summary['base']))}, seeds {summary['seeds']}.</p>")
    except (KeyError, TypeError) as err:
        raise ReportError(f"{folder / 'compare.json'}: corrupt (missing or wrong {err})") from None
    chart = folder / "compare.png"
    return (warnings_html(summary) + head
            + _table(("policy", "role", "mean top-1 %", "std", f"{level}% CI", "runs", "train acc %"), rows)
            + f"<p>Paired difference of {html.escape(str(summary['tested']))} to each policy over the same seeds "
              "(percentage points); the verdict comes from the interval, never from the mean alone:</p>"
            + _table(("versus", "mean difference", f"{level}% CI", "seeds", "verdict"), diffs)
            + (_img(chart, "top-1 per policy with confidence intervals") if chart.exists() else ""))


def write_report(run_dir: str | Path) -> Path:
    """Write ``RUN_DIR/report.html`` (self-contained) and its PNGs under ``RUN_DIR/report/``."""
    run = read_run(run_dir)
    out = run.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    pngs = {}
    figures = {"scores": plot_scores(run.trials),
               "proxies": plot_proxies(run.proxies) if run.proxies else plot_candidates(run.trials)}
    if isinstance(run.policy, Policy):
        figures["ops"] = plot_ops(run.policy)
    for name, fig in figures.items():
        pngs[name] = out / f"{name}.png"
        fig.savefig(pngs[name])
    grid, note = sample_picture(run)
    pngs["samples"] = save_png(grid, out / "samples.png")
    c = run.config
    title = f"augsearch report: {c.get('space', '?')} on {c.get('dataset', '?')} ({c.get('model', '?')})"
    body = {
        "summary": timings(run),
        "scores": _img(pngs["scores"], "candidate scores per split"),
        "ops": (_img(pngs["ops"], "op counts and levels in the final policy") if "ops" in pngs
                else f"<p>{candidate_html(run.policy, run)}</p>"),
        "top": (f"<h3>Best candidates (of {len(run.trials)} trials)</h3>{top_candidates(run)}"
                + (f"<h3>Final policy: first {min(len(run.policy), TOP_CANDIDATES)} of {len(run.policy)} "
                   f"sub-policies ({run.policy.convention.name} levels)</h3>{final_head(run)}"
                   if isinstance(run.policy, Policy) else "")),
        "samples": (f'<p class="note">{html.escape(note)}</p>' if note else "")
                   + "<p>First column: original; under each draw, the ops that fired.</p>"
                   + _img(pngs["samples"], "the final policy on sample images"),
        "proxies": (_img(pngs["proxies"], "proxy training curves") if run.proxies
                    else "<p>Each candidate trained its own proxy, scored on held-out data after every epoch.</p>"
                    + _img(pngs["proxies"], "candidate training curves")),
        "config": config_table(c),
    }
    shown = list(SECTIONS)
    held_out = comparison(run)
    if held_out is not None:
        body["compare"] = held_out
        shown.insert(1, ("compare", "Held-out comparison"))
    nav = "".join(f'<a href="#{key}">{html.escape(name)}</a>' for key, name in shown)
    sections = "".join(f'<section id="{key}"><h2>{html.escape(name)}</h2>{body[key]}</section>'
                       for key, name in shown)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><nav>{nav}</nav>"
            f"{sections}</body></html>\n")
    report = run.path / "report.html"
    report.write_text(page, encoding="utf-8")
    return report
