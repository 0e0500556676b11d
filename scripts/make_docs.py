"""Rewrite the generated tables in README.md and docs/*.md from benchmarks/results/*.json.

    python scripts/make_docs.py            # rewrite the blocks (`make docs`)
    python scripts/make_docs.py --check    # exit 1 and name the blocks that are out of date

A generated block is

    <!-- table:NAME -->
    ... (rewritten) ...
    <!-- /table -->

with NAME one of TABLES below. A results file that is missing, or that lacks a key (an
older format), gives a visible note in the block instead of a table, never an error, so
the docs build while a benchmark is being rerun. Standard library only: no torch, no
pandas, quick enough for a test.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(?P<open><!-- table:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(?P<close><!-- /table -->)",
    re.S,
)


class Missing(Exception):
    """The results to build a table from are not there (yet): shown as a note."""


def load(name: str, script: str) -> dict:
    path = RESULTS / name
    if not path.is_file():
        raise Missing(f"`benchmarks/results/{name}` does not exist yet: run `{script}`")
    return json.loads(path.read_text())


def need(data: dict, key: str, name: str, script: str):
    if key not in data:
        raise Missing(f"`benchmarks/results/{name}` has no `{key}` (rerun `{script}`)")
    return data[key]


def source(name: str, script: str, extra: str = "") -> str:
    origin = f"From `benchmarks/results/{name}` (`{script}`){extra}"
    return f"<sub>{origin}; `make docs` writes this table.</sub>"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def paragraphs(lines: list[str], notes: list[str]) -> list[str]:
    """The table, then each note as its own paragraph."""
    for note in notes:
        lines += ["", note]
    return lines


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}"


def mean_std(pair, digits: int = 3, scale: float = 1.0) -> str:
    mean, std = pair
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def published(name: str) -> list[tuple]:
    """A list of (detector, F1, FAR %, MAR %) assigned in benchmarks/skab.py, read without
    running it (it imports torch)."""
    tree = ast.parse((ROOT / "benchmarks" / "skab.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    return []


# --- SKAB -------------------------------------------------------------------------------

SKAB, SKAB_RUN = "skab.json", "python benchmarks/skab.py"


def skab_label(data: dict) -> str:
    options = ", ".join(f"{k}={v}" for k, v in (data.get("params") or {}).items())
    alerts = ", ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in (data.get("alerts") or {}).items()
    )
    extra = "; ".join(x for x in (options, alerts) if x)
    return f"**lstmae, {extra or 'default options'}**"


def skab_rows(data: dict, section: dict, listed: str) -> list[list[str]]:
    summary = section["summary"]
    rows = [
        [
            skab_label(data),
            mean_std(summary["f1"]),
            mean_std(summary["far"], 1, 100),
            mean_std(summary["mar"], 1, 100),
        ]
    ]
    for name, f1, far, mar in published(listed) if listed else []:
        rows.append([f"{name} †", f"{f1:.3f}", f"{far:.1f}", "-" if mar is None else f"{mar:.1f}"])
    flag = section.get("flag_all")
    if flag:
        rows.append(
            ["flag every row (trivial)", f"{flag['f1']:.3f}", pct(flag["far"]), pct(flag["mar"])]
        )
    return rows


def skab_protocol(key: str, listed: str) -> list[str]:
    data = load(SKAB, SKAB_RUN)
    notes = []
    if key not in data and key == "honest" and "leaderboard" in data:
        key = "leaderboard"
        notes.append(
            "_`skab.json` is still in the format from before the two protocols: its "
            "`leaderboard` numbers (every test row counted, flags as `score` writes them) are "
            "this protocol's._"
        )
    section = need(data, key, SKAB, SKAB_RUN)
    head = ["detector", "F1", "FAR %", "MAR %"]
    lines = table(head, skab_rows(data, section, listed))
    seeds = f"{data.get('seeds', '?')} seeds, {data.get('files', '?')} files"
    if listed:
        notes.append(f"† not run here: as listed in `benchmarks/skab.py` (`{listed}`).")
    if key == "honest" and "train_rows_flagged" in data:
        flagged = data["train_rows_flagged"]
        per_seed = ", ".join(pct(f, 2) for f in flagged)
        line = (
            f"Training rows flagged (purely normal, as `score` flags them): "
            f"{pct(statistics.fmean(flagged), 2)} % (per seed {per_seed})"
        )
        spread = data.get("threshold_spread")
        if spread:
            line += (
                f"; threshold spread over seeds, per file: median ±{pct(spread['median'], 0)} %, "
                f"max ±{pct(spread['max'], 0)} %"
            )
        notes.append(line + ".")
    notes.append(source(SKAB, SKAB_RUN, f", mean ± std over {seeds}"))
    return paragraphs(lines, notes)


def skab_honest() -> list[str]:
    return skab_protocol("honest", "PUBLISHED_HONEST")


def skab_window_rule() -> list[str]:
    return skab_protocol("window_rule", "PUBLISHED")


def skab_strict() -> list[str]:
    data = load(SKAB, SKAB_RUN)
    section = need(data, "strict", SKAB, SKAB_RUN)
    lines = table(["detector", "F1", "FAR %", "MAR %"], skab_rows(data, section, ""))
    return [*lines, "", source(SKAB, SKAB_RUN, f", mean ± std over {data.get('seeds', '?')} seeds")]


def skab_ceiling() -> list[str]:
    name, run = "skab_ceiling.json", "python benchmarks/skab_ceiling.py"
    data = load(name, run)
    best = need(data, "best", name, run)[:5]
    rows = [
        [
            " + ".join(f"`{c}`" for c in entry["channels"]),
            f"{entry['f1']:.3f}",
            pct(entry["far"]),
            pct(entry["mar"]),
            f"{entry['multiplier']:.2f}",
        ]
        for entry in best
    ]
    if "all_eight" in data:
        a = data["all_eight"]
        rows.append(
            [
                "all eight channels",
                f"{a['f1']:.3f}",
                pct(a["far"]),
                pct(a["mar"]),
                f"{a['multiplier']:.2f}",
            ]
        )
    lines = table(
        ["channels (chosen with the test labels)", "F1", "FAR %", "MAR %", "threshold multiple"],
        rows,
    )
    notes = [source(name, run)]
    if "reaching_target" in data:
        notes.insert(0, f"Channel sets reaching the target: {data['reaching_target']} of 255.")
    return paragraphs(lines, notes)


def skab_frontier() -> list[str]:
    name, run = "skab_frontier.json", "python benchmarks/skab_frontier.py"
    data = load(name, run)
    detectors = need(data, "detectors", name, run)
    target = pct(data.get("target_far", 0.25), 0)

    def point(entry: dict | None) -> str:
        if not entry:
            return "-"
        return f"{entry['f1']:.3f} (FAR {pct(entry['far'])} %, x{entry['multiple']:g})"

    rows = [
        [f"`{det}`", point(d.get("best_within")), point(d.get("best"))]
        for det, d in detectors.items()
    ]
    head = ["detector", f"best F1 at FAR ≤ {target} %", "best F1 at any FAR"]
    extra = f", trailing mean over {data['smooth']} rows" if "smooth" in data else ""
    return [*table(head, rows), "", source(name, run, extra)]


def false_alarms() -> list[str]:
    name, run = "false_alarms.json", "python benchmarks/false_alarms.py"
    data = load(name, run)
    machine = need(data, "sample_machine", name, run)
    lines = []
    if machine:

        def mean(key: str) -> float:
            return statistics.fmean(m[key] for m in machine)

        thresholds = [m["threshold"] for m in machine]
        spread = max(abs(t - statistics.fmean(thresholds)) for t in thresholds) / statistics.fmean(
            thresholds
        )
        lines += table(
            [
                "sample machine",
                "point F1",
                "event recall",
                "false-alarm runs",
                "training rows flagged",
                "threshold",
            ],
            [
                [
                    f"{len(machine)} seeds, mean",
                    f"{mean('f1'):.3f}",
                    f"{mean('event_recall'):.3f}",
                    f"{mean('false_alarm_runs'):.1f}",
                    f"{pct(mean('train_rows_flagged'), 2)} %",
                    f"{mean('threshold'):.4g} (±{pct(spread, 0)} %)",
                ]
            ],
        )
    free = data.get("anomaly_free") or []
    if free:
        lines += [""] + table(
            ["purely normal real data", "rows", "rows flagged", "alerts"],
            [
                [
                    f"SKAB `anomaly-free.csv`, second half ({len(free)} seeds, mean)",
                    str(free[0]["rows"]),
                    f"{pct(statistics.fmean(f['rows_flagged'] for f in free), 2)} %",
                    f"{statistics.fmean(f['alerts'] for f in free):.1f}",
                ]
            ],
        )
    else:
        lines += ["", "_No SKAB `anomaly-free.csv` results in this run (the data was not found)._"]
    options = ", ".join(f"{k}={v}" for k, v in (data.get("params") or {}).items())
    return [*lines, "", source(name, run, f", options: {options or 'defaults'}")]


def skab_anatomy() -> list[str]:
    name, run = "skab_anatomy.json", "python benchmarks/skab_anatomy.py"
    data = load(name, run)
    counts = need(data, "counts", name, run)
    kinds = [k for k in counts if k != "anomalous"]
    normal = sum(counts[k]["rows"] for k in kinds)
    false_alarms = sum(counts[k]["flagged"] for k in kinds)
    with_flags = data.get("lstmae") is not None
    channels = [k for k in counts["anomalous"] if k not in ("rows", "any", "flagged")]
    rows = []
    for kind, entry in counts.items():
        top = sorted(channels, key=lambda c: -entry[c])[:2]
        normal_kind = kind != "anomalous"
        rows.append(
            [
                f"{kind} ({'normal' if normal_kind else 'labelled'})",
                str(entry["rows"]),
                f"{pct(entry['rows'] / normal)} %" if normal_kind else "-",
                f"{pct(entry['any'] / entry['rows'])} %",
                ", ".join(f"{c} {pct(entry[c] / entry['rows'])} %" for c in top),
                f"{pct(entry['flagged'] / entry['rows'])} %" if with_flags else "-",
                f"{pct(entry['flagged'] / max(false_alarms, 1))} %"
                if with_flags and normal_kind
                else "-",
            ]
        )
    head = [
        "test rows",
        "rows",
        "of the normal rows",
        "a channel beyond its training range",
        "most often beyond",
        "lstmae flags",
        "of lstmae's false alarms",
    ]
    margin = pct(data.get("margin", 0.1), 0)
    extra = f", {data['files']} files, beyond = by more than {margin} % of the range"
    if with_flags:
        extra += f"; lstmae at default options, seed {data['lstmae']['seed']}"
    return [*table(head, rows), "", source(name, run, extra)]


# --- held-out real data (never tuned on) -------------------------------------------------

HOLDOUT, HOLDOUT_RUN = "holdout_real.json", "python benchmarks/holdout_real.py"
NAB, NAB_RUN = "holdout_nab.json", "python benchmarks/holdout_real.py --dataset nab"


def holdout_real() -> list[str]:
    return holdout_table(HOLDOUT, HOLDOUT_RUN, "SMD machine")


def holdout_nab() -> list[str]:
    return holdout_table(NAB, NAB_RUN, "NAB file (realKnownCause)")


def holdout_table(name: str, run: str, member: str) -> list[str]:
    data = load(name, run)
    mean = need(data, "mean", name, run)
    rows = []
    for machine, entry in [*mean["machines"].items(), ("all, pooled", mean["pooled"])]:
        for detector, label in (
            ("lstmae", "**lstmae, default options**"),
            ("pca", "PCA on windows"),
        ):
            e = entry[detector]
            rows.append(
                [
                    machine,
                    label,
                    pct(e["far"], 2),
                    f"{e['f1']:.3f}",
                    f"{e['precision']:.3f}",
                    f"{e['recall']:.3f}",
                    f"{e['event_recall']:.2f} of {e['events']:.0f}",
                    f"{e['false_alarm_runs']:.1f}",
                    f"{e['pr_auc']:.3f}",
                    f"{pct(e['train_flagged'], 2)} %",
                    f"{e['threshold']:.4g}" if "threshold" in e else "-",
                    f"{e['train_seconds']:.0f}",
                ]
            )
    lines = table(
        [
            member,
            "detector",
            "FAR %",
            "point F1",
            "precision",
            "recall",
            "event recall",
            "false-alarm runs",
            "PR-AUC",
            "training rows flagged",
            "threshold",
            "train s",
        ],
        rows,
    )
    info = data["data"]
    seeds = data["seeds"]
    extra = (
        f", {seeds} seed{'s' if seeds > 1 else ''}{' (mean)' if seeds > 1 else ''}, "
        + (
            f"last {info['train_rows']} training rows of each machine, whole test part; "
            if isinstance(info["train_rows"], int)
            else f"training rows: the {info['train_rows']}; test: every row after them; "
        )
        + f"flag every test row: F1 {data['flag_every_row_f1']:.3f}"
    )
    return [*lines, "", source(name, run, extra)]


# --- the README's summary ----------------------------------------------------------------


def quality_summary() -> list[str]:
    """One line per data set: lstmae at its defaults beside the best reference measured or
    published under the same rule (the full tables are in docs/benchmarks.md)."""
    skab = load(SKAB, SKAB_RUN)
    synth = need(load(SYNTH, SYNTH_RUN), "mean", SYNTH, SYNTH_RUN)
    free = load("false_alarms.json", "python benchmarks/false_alarms.py").get("anomaly_free")
    held = need(load(HOLDOUT, HOLDOUT_RUN), "mean", HOLDOUT, HOLDOUT_RUN)["pooled"]

    def skab_cell(key: str) -> str:
        summary = need(skab, key, SKAB, SKAB_RUN)["summary"]
        return f"F1 {summary['f1'][0]:.3f}, FAR {pct(summary['far'][0])} %"

    def best_published(name: str) -> str:
        rows = published(name)
        best = max(rows, key=lambda row: row[1])
        return f"best published: {best[0]}, F1 {best[1]:.3f}, FAR {best[2]:.1f} %"

    def synth_cell(name: str) -> str:
        m = synth[name]
        return f"F1 {m['f1']:.3f}, PR-AUC {m['pr_auc']:.3f}, event recall {m['event_recall']:.2f}"

    def smd_cell(name: str) -> str:
        e = held[name]
        return f"F1 {e['f1']:.3f}, FAR {pct(e['far'])} %, event recall {e['event_recall']:.2f}"

    seeds = f"{skab.get('seeds', '?')} seeds"
    rows = [
        [
            f"SKAB, every test row counted ({seeds})",
            skab_cell("honest"),
            best_published("PUBLISHED_HONEST"),
        ],
        [
            f"SKAB, its leaderboard's window rule ({seeds})",
            skab_cell("window_rule"),
            best_published("PUBLISHED"),
        ],
        ["generated suite, seven anomaly kinds", synth_cell("lstmae"), "PCA: " + synth_cell("pca")],
    ]
    if free:
        flagged = statistics.fmean(f["rows_flagged"] for f in free)
        rows.append(
            [
                "purely normal real data (SKAB anomaly-free)",
                f"{pct(flagged, 2)} % of rows flagged",
                "-",
            ]
        )
    rows.append(
        [
            "held-out real data, never tuned on (SMD servers)",
            smd_cell("lstmae"),
            "PCA: " + smd_cell("pca"),
        ]
    )
    lines = table(["data", "lstmae, default options", "reference, same rule"], rows)
    return [
        *lines,
        "",
        "<sub>`make docs` writes this table from benchmarks/results/*.json; the rules, the "
        "commands and every number: [docs/benchmarks.md](docs/benchmarks.md).</sub>",
    ]


# --- generated suite ----------------------------------------------------------------------

SYNTH, SYNTH_RUN = "synthetic.json", "python benchmarks/synthetic.py"
SYNTH_NAMES = {"lstmae": "lstmae", "pca": "PCA on windows", "seed-tutorial": "seed tutorial"}
KINDS = [
    "spike",
    "level_shift",
    "drift",
    "stuck_sensor",
    "noise_burst",
    "frequency_change",
    "broken_correlation",
]


def synth_settings(data: dict) -> str:
    s = data.get("settings", {})
    extra = ", ".join(f"{k}" for k in s.get("set", []))
    text = f", mean ± std over {s.get('seeds', '?')} data seeds"
    return text + (f", options {extra}" if extra else "")


def synthetic() -> list[str]:
    data = load(SYNTH, SYNTH_RUN)
    mean = need(data, "mean", SYNTH, SYNTH_RUN)
    rows = []
    for det, m in mean.items():
        rows.append(
            [
                SYNTH_NAMES.get(det, det),
                f"{m['f1']:.2f} ± {m['f1_std']:.2f}",
                f"{m['pr_auc']:.2f} ± {m['pr_auc_std']:.2f}",
                f"{m['event_recall']:.2f} ± {m['event_recall_std']:.2f}",
                f"{m['false_alarm_runs']:.1f} ± {m['false_alarm_runs_std']:.1f}",
                f"{pct(m['normal_flagged_share'], 2)} %",
                f"{m['normal_runs']:.1f}",
            ]
        )
    head = [
        "detector",
        "point F1",
        "PR-AUC",
        "event recall",
        "false-alarm runs",
        "normal rows flagged",
        "runs there",
    ]
    return [*table(head, rows), "", source(SYNTH, SYNTH_RUN, synth_settings(data))]


def synthetic_kinds() -> list[str]:
    data = load(SYNTH, SYNTH_RUN)
    mean = need(data, "mean", SYNTH, SYNTH_RUN)
    rows = [
        [SYNTH_NAMES.get(det, det)]
        + [f"{m[f'event_recall.{k}']:.2f} / {m[f'point_recall.{k}']:.2f}" for k in KINDS]
        for det, m in mean.items()
    ]
    head = ["detector", *(k.replace("_", " ") for k in KINDS)]
    return [
        *table(head, rows),
        "",
        source(SYNTH, SYNTH_RUN, synth_settings(data).replace("± std ", "")),
    ]


def arch_choice() -> list[str]:
    name, run = "arch_choice.json", "python benchmarks/arch_choice.py"
    runs = load(name, run)
    if not isinstance(runs, list) or not runs:
        raise Missing(f"`benchmarks/results/{name}` holds no runs (rerun `{run}`)")
    keys = [
        ("pr_auc", 2),
        ("roc_auc", 2),
        ("f1", 2),
        ("event_recall", 2),
        ("false_alarm_runs", 1),
        ("val_loss", 3),
    ]
    rows = []
    for arch in dict.fromkeys(r["arch"] for r in runs):
        mine = [r for r in runs if r["arch"] == arch]
        cells = [f"`{arch}`"]
        for key, digits in keys:
            values = [r[key] for r in mine]
            cells.append(
                f"{statistics.fmean(values):.{digits}f} ± {statistics.pstdev(values):.{digits}f}"
            )
        rows.append(cells)
    head = [
        "`--arch`",
        "PR-AUC",
        "ROC-AUC",
        "point F1",
        "event recall",
        "false-alarm runs",
        "val loss",
    ]
    seeds = len({r["data_seed"] for r in runs})
    return [*table(head, rows), "", source(name, run, f", mean ± std over {seeds} data seeds")]


def missing_policy() -> list[str]:
    name, run = "missing_policy.json", "python benchmarks/missing_policy.py --seeds 0 1"
    data = load(name, run)
    runs = need(data, "runs", name, run)
    seeds = list(runs)
    policies = list(runs[seeds[0]])

    def cells(policy: str, key: str, fmt: Callable[[float], str]) -> str:
        return ", ".join(fmt(runs[s][policy][key]) for s in seeds)

    rows = [
        [
            f"`{p}`",
            cells(p, "f1", lambda v: f"{v:.3f}"),
            cells(p, "far", lambda v: f"{100 * v:#.2g} %"),
            cells(p, "false_alarm_runs", lambda v: f"{v:g}"),
            cells(p, "event_recall", lambda v: f"{v:.2f}"),
        ]
        for p in policies
    ]
    head = ["`--missing`", "point F1", "false-alarm rate", "false-alarm runs", "event recall"]
    extra = f", per data seed ({', '.join(seeds)}), {data.get('epochs', '?')} epochs"
    return [*table(head, rows), "", source(name, run, extra)]


# --- thresholds ---------------------------------------------------------------------------

FLAG = {"alerts_per": "--alerts-per"}


def method_label(entry: dict) -> str:
    method, params = entry["method"], entry.get("params", {})
    if method.startswith("fbeta"):
        beta = params.get("beta", 1)
        return f"`fbeta --beta {beta:g}`, fitted on the test labels (in-sample upper bound)"
    args = " ".join(f"{FLAG.get(k, '--' + k)} {v:g}" for k, v in params.items())
    default = " (default)" if method == "quantile" and params == {"q": 0.999} else ""
    return f"`{method} {args}`{default}"


def threshold_methods() -> list[str]:
    name, run = "threshold_methods.json", "python benchmarks/threshold_methods.py"
    data = load(name, run)
    rows = []
    for entry in need(data, "methods", name, run):
        if "error" in entry:
            rows.append([method_label(entry), f"refused: {entry['error']}", *[""] * 6])
            continue
        rows.append(
            [
                method_label(entry),
                f"{entry['threshold']:.4g}",
                f"{entry['f1']:.3f}",
                f"{entry['precision']:.3f}",
                f"{entry['recall']:.3f}",
                f"{entry['far']:.4f}",
                f"{entry['event_recall']:.2f}",
                str(entry["false_alarm_runs"]),
            ]
        )
    head = [
        "method",
        "threshold",
        "point F1",
        "precision",
        "recall",
        "false-alarm rate",
        "event recall",
        "false-alarm runs",
    ]
    lines = table(head, rows)
    if "flag_all_f1" in data:
        lines += [
            "",
            f"Flagging every row scores point F1 {data['flag_all_f1']:.3f}; the model's ROC-AUC is "
            f"{data['roc_auc']:.3f}, PR-AUC {data['pr_auc']:.3f}.",
        ]
    epochs, held = data.get("epochs", "?"), data.get("held_out_rows", "?")
    extra = f", one model, {epochs} epochs, {held} held-out rows"
    return paragraphs(lines, [source(name, run, extra)])


# --- speed --------------------------------------------------------------------------------

SPEED, SPEED_RUN = "speed.json", "make bench"


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def turn_ratios(s: dict, baseline: str) -> list[float]:
    """The tutorial `baseline`'s seconds over lstmae's, turn by turn."""
    pairs = zip(s[baseline]["rounds_seconds"], s["lstmae"]["rounds_seconds"], strict=False)
    return [a / b for a, b in pairs]


def five_times_verdict(s: dict, baseline: str, ratio: float) -> str:
    """met when the median and every turn reach 5x; not reliably met when only the median does."""
    if ratio >= 5 and min(turn_ratios(s, baseline)) >= 5:
        return "met"
    return "**not reliably met**" if ratio >= 5 else "**not met**"


def five_times_both(s: dict) -> str:
    """The scoring target against both tutorial scripts: the worse of the two verdicts."""
    verdicts = [
        five_times_verdict(s, "tutorial", s["ratio"]),
        five_times_verdict(s, "tutorial_big_batch", s["ratio_big_batch"]),
    ]
    for worst in ("**not met**", "**not reliably met**"):
        if worst in verdicts:
            return worst
    return "met"


def five_times(s: dict, baseline: str, ratio: float) -> str:
    """The scoring target (>= 5x the tutorial `baseline`), with the per-turn ratios."""
    turns = ", ".join(f"{r:.1f}x" for r in turn_ratios(s, baseline))
    return f"{five_times_verdict(s, baseline, ratio)} (turns: {turns})"


def score_big_batch(s: dict) -> list[list[str]]:
    """The scoring rows beside the tutorial script scoring in big batches (4096), if run."""
    if "tutorial_big_batch" not in s:
        return []
    big, size = s["tutorial_big_batch"], s.get("batch_sizes", {}).get("tutorial_big_batch")
    return [
        [
            f"same, beside the tutorial scoring in batches of {size}",
            f"{big['rows_per_s']:,.0f}",
            f"{s['lstmae']['rows_per_s']:,.0f}",
            f"{s['ratio_big_batch']:.1f}x",
            f">= 5x: {five_times(s, 'tutorial_big_batch', s['ratio_big_batch'])}",
        ],
        bf16_row(
            s, "tutorial_big_batch", f"same with `--precision bf16`, beside batches of {size}"
        ),
    ]


def bf16_row(s: dict, baseline: str, label: str) -> list[str]:
    """The `--precision bf16` turn beside `baseline`, or why it did not run."""
    if "lstmae_bf16" not in s:
        return [label, "", s.get("bf16_skipped", "not measured"), "", ""]
    suffix = "_big_batch" if baseline == "tutorial_big_batch" else ""
    return [
        label,
        f"{s[baseline]['rows_per_s']:,.0f}",
        f"{s['lstmae_bf16']['rows_per_s']:,.0f}",
        f"{s['ratio_bf16' + suffix]:.1f}x",
        "",
    ]


def speed() -> list[str]:
    data = load(SPEED, SPEED_RUN)
    t = need(data, "train_throughput", SPEED, SPEED_RUN)
    loss = need(data, "time_to_loss", SPEED, SPEED_RUN)
    s = need(data, "score", SPEED, SPEED_RUN)
    score_target = five_times(s, "tutorial", s["ratio"])
    loss_ratio = loss["tutorial_seconds"] / loss["lstmae_seconds"]
    rows = [
        [
            "training windows/s at the tutorial's settings (seq 50, hidden 64, batch 32), "
            "default `--arch linear`",
            f"{t['tutorial_windows_per_s']:,.0f}",
            f"{t['lstmae_linear_windows_per_s']:,.0f}",
            f"{t['ratio_linear']:.2f}x",
            f">= 2x: {met(t['ratio_linear'] >= 2)}",
        ],
        [
            "same, `--arch seed`",
            f"{t['tutorial_windows_per_s']:,.0f}",
            f"{t['lstmae_seed_arch_windows_per_s']:,.0f}",
            f"{t['ratio_seed_arch']:.2f}x",
            "",
        ],
        [
            "time to reach the tutorial's best validation loss after "
            f"{data.get('args', {}).get('tutorial_epochs', '?')} epochs (default options)",
            f"{loss['tutorial_seconds']:.1f} s",
            f"{loss['lstmae_seconds']:.1f} s",
            f"{loss_ratio:.1f}x",
            f">= 4x: {met(loss_ratio >= 4)}",
        ],
        [
            "`lstmae score` rows/s, process start to exit, "
            f"{data.get('args', {}).get('rows', 0):,} x 8 CSV (tutorial: batches of "
            f"{s.get('batch_sizes', {}).get('tutorial', 32)})",
            f"{s['tutorial']['rows_per_s']:,.0f}",
            f"{s['lstmae']['rows_per_s']:,.0f}",
            f"{s['ratio']:.1f}x",
            f">= 5x: {score_target}",
        ],
        bf16_row(s, "tutorial", "same with `--precision bf16`"),
        *score_big_batch(s),
        [
            "peak RSS while scoring"
            + (" (tutorial: batches of 32 / 4096)" if "tutorial_big_batch" in s else ""),
            f"{s['tutorial']['peak_rss_mib']:,.0f}"
            + (
                f" / {s['tutorial_big_batch']['peak_rss_mib']:,.0f}"
                if "tutorial_big_batch" in s
                else ""
            )
            + " MiB",
            f"{s['lstmae']['peak_rss_mib']:,.0f} MiB",
            "",
            "",
        ],
    ]
    if "help" in data:
        h = data["help"]["median_seconds"]
        rows.append(["`lstmae --help`", "", f"{h:.2f} s", "", f"< 0.5 s: {met(h < 0.5)}"])
    if "train_memory" in data:
        m = data["train_memory"]
        rows.append(
            [
                f"peak RSS of `lstmae train` on {m['rows']:,} rows",
                "",
                f"{m['peak_rss_mib']:,.0f} MiB",
                "",
                f"< 1 GB: {met(m['peak_rss_mib'] * 1.048576 < 1000)}",
            ]
        )
    lines = table(["step", "tutorial", "lstmae", "ratio", "target"], rows)
    gpu = data.get("gpu", {})
    lines.append("")
    if "skipped" in gpu or not gpu:
        lines.append(f"GPU: skipped ({gpu.get('skipped', 'not measured')}).")
    else:
        gs, gt = gpu["score"], gpu["train"]
        lines.append(
            f"GPU ({gpu['device']}): training {gt['tutorial_windows_per_s']:,.0f} against "
            f"{gt['lstmae_linear_windows_per_s']:,.0f} windows/s "
            f"({gt['ratio_linear']:.2f}x); scoring in process (network only) "
            f"{gs['tutorial_rows_per_s']:,.0f} against {gs['lstmae_rows_per_s']:,.0f} rows/s "
            f"({gs['lstmae_rows_per_s'] / gs['tutorial_rows_per_s']:.1f}x)."
        )
    machine = data.get("machine", {})
    threads = machine.get("threads", "?")
    extra = f", {threads} torch thread{'' if threads == 1 else 's'}, median of three turns"
    if "cpu_model" in machine:
        extra += f", on {machine['cpu_model']}"
    return paragraphs(lines, [source(SPEED, SPEED_RUN, extra)])


SCORE_THREADS, SCORE_THREADS_RUN = "score_threads.json", "python benchmarks/speed.py --score-only"
REGIMES = {
    "1": "`OMP_NUM_THREADS=1`: one torch thread on every side",
    "default": "no `OMP_NUM_THREADS`: torch's default threads for the tutorials, "
    "the thread policy's for lstmae",
}


def regime_row(regime: str, run: dict) -> list[str]:
    """One thread regime's scoring step: lstmae beside both tutorial scripts."""
    s = run["score"]
    turns = ", ".join(f"{t:.2f}" for t in s["lstmae"]["rounds_seconds"])
    return [
        REGIMES.get(regime, f"`OMP_NUM_THREADS={regime}`"),
        f"{run.get('date', '?')}, {run.get('load_average_before', float('nan')):.1f}, "
        f"{run.get('machine', {}).get('cpu_model', 'CPU not recorded')}",
        f"{s['lstmae']['rows_per_s']:,.0f} ({turns} s)",
        f"{s['ratio']:.1f}x of {s['tutorial']['rows_per_s']:,.0f}",
        f"{s['ratio_big_batch']:.1f}x of {s['tutorial_big_batch']['rows_per_s']:,.0f}",
        (
            f"{s['ratio_bf16']:.1f}x / {s['ratio_bf16_big_batch']:.1f}x"
            if "lstmae_bf16" in s
            else "no bf16 LSTM on this CPU"
        ),
        f">= 5x both: {five_times_both(s)}",
    ]


def speed_threads() -> list[str]:
    """`lstmae score` beside the tutorial scripts in each thread regime measured."""
    runs = load(SCORE_THREADS, SCORE_THREADS_RUN)
    sizes = next(iter(runs.values()), {}).get("score", {}).get("batch_sizes", {})
    head = [
        "threads",
        "date, load average, CPU",
        "lstmae rows/s (seconds a turn)",
        f"tutorial, batches of {sizes.get('tutorial', 32)}",
        f"tutorial, batches of {sizes.get('tutorial_big_batch', 4096)}",
        "bf16: same two",
        "target",
    ]
    rows = [regime_row(regime, runs[regime]) for regime in sorted(runs)]
    return paragraphs(table(head, rows), [source(SCORE_THREADS, SCORE_THREADS_RUN)])


def score_summary_row(label: str, s: dict, sizes: dict, baseline: str) -> list[str]:
    """A README row for the scoring step `s`: rows/s, both tutorial ratios, the target."""
    return [
        label,
        f"{s['lstmae']['rows_per_s']:,.0f} rows/s",
        f"{baseline} {sizes.get('tutorial', 32)}: {s['ratio']:.1f}x; "
        f"of {sizes.get('tutorial_big_batch', 4096)}: {s['ratio_big_batch']:.1f}x",
        f">= 5x both: {five_times_both(s)}",
    ]


def speed_summary() -> list[str]:
    """The README's lines: scoring and training beside the tutorial on the CPU, and the
    GPU targets with gpu.json's numbers once a GPU has run the check."""
    data = load(SPEED, SPEED_RUN)
    s, loss = need(data, "score", SPEED, SPEED_RUN), need(data, "time_to_loss", SPEED, SPEED_RUN)
    threads = data.get("machine", {}).get("threads", "?")
    sizes = s.get("batch_sizes", {})
    loss_ratio = loss["tutorial_seconds"] / loss["lstmae_seconds"]
    rows = [
        score_summary_row(
            f"CPU, {threads} torch thread{'' if threads == 1 else 's'}: `lstmae score` "
            f"{data['args']['rows']:,} x 8 CSV, process start to exit",
            s,
            sizes,
            "tutorial script, batches of",
        ),
        [
            "CPU: time to the tutorial's best validation loss",
            f"{loss['lstmae_seconds']:.1f} s",
            f"tutorial loop {loss['tutorial_seconds']:.1f} s: {loss_ratio:.1f}x",
            f">= 4x: {met(loss_ratio >= 4)}",
        ],
    ]
    details = "; details in [docs/speed.md](docs/speed.md)"
    notes = [source(SPEED, SPEED_RUN, details)]
    with contextlib.suppress(Missing, KeyError, TypeError):
        default = load(SCORE_THREADS, SCORE_THREADS_RUN)["default"]["score"]
        label = "CPU, default threads (every side its own): the same"
        rows.insert(1, score_summary_row(label, default, sizes, "batches of"))
        notes[0] = source(
            SPEED,
            SPEED_RUN,
            f", the default-threads row from `{SCORE_THREADS}` (`{SCORE_THREADS_RUN}`){details}",
        )
    try:
        gpu_rows, gpu_note = gpu_summary()
        rows += gpu_rows
        notes.append(gpu_note)
    except (Missing, KeyError, TypeError):
        rows.append(
            [
                "GPU: training, its loop, scoring 1M rows",
                "not measured yet",
                "`scripts/gpu_check.sh` runs every GPU check",
                "10x the CPU, 1M windows/s, 2 s Parquet / 4 s CSV",
            ]
        )
    return paragraphs(table(["what", "lstmae", "baseline, same run", "target"], rows), notes)


def gpu_summary() -> tuple[list[list[str]], str]:
    """The GPU targets of issue 19 from gpu.json: time to the CPU defaults' loss, the
    training loop's windows/s, scoring 1M rows end to end."""
    name, run = "gpu.json", "scripts/gpu_check.sh"
    g = need(load(name, run), "gpu", name, run)
    if "skipped" in g:
        raise Missing(f"gpu.json says skipped: {g['skipped']}")
    t, loop = g["time_to_cpu_loss"], g["train_loop_defaults"]["cuda"]
    e = g["end_to_end"]
    ratio = t["cpu_over_cuda"]
    rows = [
        [
            f"GPU ({g['device']}): training to the CPU defaults' validation loss "
            f"({t['rows']:,} x 8)",
            f"{t['cuda']['seconds']:.1f} s (batch {t['cuda']['batch_size']})",
            f"the same machine's CPU: {t['cpu']['seconds']:.1f} s"
            + (f": {ratio:.1f}x" if ratio else "; not reached on the GPU"),
            f">= 10x: {met(bool(ratio) and ratio >= 10)}",
        ],
        [
            "GPU: training loop, windows/s at the defaults",
            f"{loop['windows_per_s']:,.0f}",
            "",
            f">= 1,000,000: {met(loop['windows_per_s'] >= 1e6)}",
        ],
    ]
    for key, limit, label in (("score_parquet", 2, "Parquet"), ("score_csv", 4, "CSV")):
        seconds = e[key]["seconds"]
        rows.append(
            [
                f"GPU: `lstmae score` {e['rows']:,} x 8 {label} in and out, end to end",
                f"{seconds:.2f} s",
                "",
                f"<= {limit} s: {met(seconds <= limit)}",
            ]
        )
    return rows, source(name, run)


def batch_lr() -> list[str]:
    """Validation loss after each epoch for each (batch, lr) on each data set."""
    name, run = "batch_lr.json", "python benchmarks/batch_lr.py"
    data = need(load(name, run), "data", name, run)
    longest = max(len(r["val_loss"]) for d in data.values() for r in d["runs"].values())
    head = ["data", "batch", "lr", "steps an epoch"] + [f"ep {i + 1}" for i in range(longest)]
    rows = []
    for set_name, entry in data.items():
        shape = " x ".join(f"{n:,}" for n in entry["shape"])
        for r in sorted(entry["runs"].values(), key=lambda r: (r["batch"], r["lr"])):
            losses = [f"{v:.4f}" for v in r["val_loss"]] + [""] * (longest - len(r["val_loss"]))
            label = f"{set_name} ({shape})"
            rows.append(
                [label, str(r["batch"]), f"{r['lr']:g}", f"{r['steps_per_epoch']:,}"] + losses
            )
    windows = {r["windows_per_epoch"] for d in data.values() for r in d["runs"].values()}
    extra = f", epochs of {', '.join(f'{w:,}' for w in sorted(windows))} windows, 1 thread"
    return paragraphs(table(head, rows), [source(name, run, extra)])


def flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [row for key, v in value.items() for row in flatten(v, f"{prefix}{key}.")]
    return [(prefix.rstrip("."), value)]


def gpu() -> list[str]:
    """Every number of gpu.json (its layout is still settling: issue 19), one row each."""
    name, run = "gpu.json", "python benchmarks/speed.py --gpu-only"
    data = load(name, run)
    measured = need(data, "gpu", name, run)
    rows = []
    for key, value in flatten(measured):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        if isinstance(value, float):
            text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
        else:
            text = f"{value:,}" if isinstance(value, int) else value
        rows.append([f"`{key}`", text])
    return paragraphs(table(["measurement", "value"], rows), [source(name, run)])


def memory() -> list[str]:
    name, run = "memory.json", "make bench-memory"
    data = load(name, run)
    labels = {
        "train": "`lstmae train`",
        "score": "`lstmae score`",
        "score_small": "`lstmae score`",
        "tutorial_small": "tutorial (windows stacked)",
    }
    rows = [
        [
            label,
            f"{data[key]['rows']:,}",
            f"{data[key]['peak_rss_mib']:,.0f} MiB",
            f"{data[key]['seconds']:.0f} s",
        ]
        for key, label in labels.items()
        if key in data
    ]
    lines = table(["run", "rows", "peak RSS", "time"], rows)
    if "tutorial_stacked_gib_at_rows" in data:
        lines += [
            "",
            f"The tutorial at {data.get('rows', 0):,} rows: the stacked windows alone (windows, "
            f"a float32 copy, reconstruction, errors) take "
            f"{data['tutorial_stacked_gib_at_rows']:.1f} GiB; its measured growth extrapolates "
            f"to {data['tutorial_extrapolated_gib_at_rows']:.1f} GiB.",
        ]
    extra = (
        f", {data.get('features', '?')} features, `--score-stride {data.get('score_stride', '?')}`"
    )
    return paragraphs(lines, [source(name, run, extra)])


def ddp() -> list[str]:
    name, run = "ddp.json", "python benchmarks/ddp_speedup.py"
    data = load(name, run)
    summary = need(data, "summary", name, run)
    runs = data.get("runs", {})
    rows = []
    for launcher, med in summary.items():
        if not isinstance(med, dict):
            continue
        spread = ""
        train_s = [r["train_s"] for r in runs.get(launcher, [])]
        if train_s and max(train_s) > 1.5 * min(train_s):
            spread = f" (runs: {min(train_s):.0f} to {max(train_s):.0f})"
        rows.append(
            [
                launcher,
                f"{med['train_s']:.1f}{spread}",
                f"{med['wall_s']:.1f}",
                f"{med['val_loss']:.3f}",
            ]
        )
    head = [
        "launcher",
        "training loop (s)",
        "whole command (s)",
        f"val loss after {data.get('epochs', '?')} epochs",
    ]
    lines = table(head, rows)
    if "speedup_train_loop" in summary:
        lines += [
            "",
            f"Training loop: 2 processes {summary['speedup_train_loop']:.2f}x as fast as 1 "
            "process with torch's default threads, "
            f"{summary['speedup_train_loop_vs_1_thread']:.2f}x as fast as 1 single-threaded "
            "process.",
        ]
    load_avg = data.get("load_average_before"), data.get("load_average_after")
    extra = f", {data.get('rows', 0):,} rows, median of {len(next(iter(runs.values()), []))} runs"
    if all(load_avg):
        extra += f", load average {load_avg[0][0]:.1f} before and {load_avg[1][0]:.1f} after"
    return paragraphs(lines, [source(name, run, extra)])


def dask() -> list[str]:
    name, run = "dask.json", "make bench-dask"
    data = load(name, run)
    rows = []
    for key in ("one_worker", "two_workers"):
        for entry in need(data, key, name, run):
            rows.append(
                [
                    str(entry["workers"]),
                    f"{entry['seconds']:.1f}",
                    f"{entry['rows_per_s']:,}",
                    ", ".join(map(str, entry["bundle_loads_per_worker"])),
                    ", ".join(f"{m:,.0f}" for m in entry["worker_peak_rss_mib"]),
                ]
            )
    head = [
        "worker processes",
        "seconds",
        "rows/s",
        "bundle loads per worker",
        "peak MiB per worker",
    ]
    lines = table(head, rows)
    lines += ["", f"2 workers: {data['ratio']:.2f}x the rows/s of 1 (target 1.6x)."]
    memory = data.get("memory", [])
    if memory:
        lines += [""] + table(
            [
                "rows in one partition",
                "worker peak, model loaded",
                "after scoring it",
                "rows in pandas",
            ],
            [
                [
                    f"{m['rows']:,}",
                    f"{m['loaded_peak_rss_mib']:,.0f} MiB",
                    f"{m['scored_peak_rss_mib']:,.0f} MiB",
                    f"{m['input_mib']:,.0f} MiB",
                ]
                for m in memory
            ],
        )
    args = data.get("args", {})
    extra = (
        f", {args.get('machines', '?')} machines x {args.get('rows', 0):,} rows x "
        f"{args.get('channels', '?')} channels ({args.get('per_file', '?')} machines a file), "
        f"{data.get('machine', {}).get('cpu', '?')}, {data.get('machine', {}).get('cpus', '?')} "
        f"CPUs, load average {data['load_before'][0]:.1f} before and "
        f"{data['load_after'][0]:.1f} after"
    )
    return paragraphs(lines, [source(name, run, extra)])


TABLES: dict[str, Callable[[], list[str]]] = {
    "skab-honest": skab_honest,
    "skab-window-rule": skab_window_rule,
    "skab-strict": skab_strict,
    "skab-ceiling": skab_ceiling,
    "skab-frontier": skab_frontier,
    "false-alarms": false_alarms,
    "holdout-real": holdout_real,
    "holdout-nab": holdout_nab,
    "synthetic": synthetic,
    "synthetic-kinds": synthetic_kinds,
    "arch-choice": arch_choice,
    "missing-policy": missing_policy,
    "threshold-methods": threshold_methods,
    "speed": speed,
    "speed-summary": speed_summary,
    "speed-threads": speed_threads,
    "batch-lr": batch_lr,
    "gpu": gpu,
    "memory": memory,
    "quality-summary": quality_summary,
    "skab-anatomy": skab_anatomy,
    "ddp": ddp,
    "dask": dask,
}


def render(name: str) -> str:
    if name not in TABLES:
        return f"_Unknown table `{name}`: scripts/make_docs.py knows {', '.join(TABLES)}._\n"
    try:
        lines = TABLES[name]()
    except Missing as missing:
        lines = [f"_Not generated: {missing}._"]
    except (KeyError, TypeError, ValueError, IndexError) as error:  # a format we do not know
        lines = [f"_Not generated: the results for `{name}` have an unexpected shape ({error!r})._"]
    return "\n".join(lines) + "\n"


def rewrite(text: str) -> str:
    return BLOCK.sub(lambda m: m["open"] + render(m["name"]) + m["close"], text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for page in PAGES:
        old = page.read_text()
        new = rewrite(old)
        if new != old:
            stale.append(page.relative_to(ROOT))
            if not args.check:
                page.write_text(new)
    if args.check and stale:
        print(f"out of date: {', '.join(map(str, stale))}; run `make docs`", file=sys.stderr)
        return 1
    for path in stale:
        print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
