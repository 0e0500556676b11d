"""The docs against the code, as sqlite-utils' test_docs does it.

- every command and every option of the CLI appears in docs/commands.md, in the command's
  own section (a new option fails here until it is documented);
- the recipes marked `<!-- docs-test -->` in the README and docs/ run, with a tiny model;
- the generated benchmark tables match benchmarks/results/*.json (`make docs`);
- links between the pages point at files and headings that exist; the README stays short.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
COMMANDS_PAGE = DOCS / "commands.md"
TINY = {"epochs": 1, "seq_len": 8, "hidden": 8}
TINY_ARGS = ["--epochs", "1", "--seq-len", "8", "--hidden", "8"]
RECIPE = re.compile(r"^<!-- docs-test -->\n```(?P<lang>\w+)\n(?P<code>.*?)^```", re.S | re.M)


def cli_group():
    import typer

    from lstmae_cli.cli.app import app

    return typer.main.get_command(app)


def option_names(params) -> list[str]:
    """Every spelling of every option (`--resume` and `--no-resume`), short ones only when
    an option has no long one; not --help."""
    names = []
    for param in params:
        if param.param_type_name != "option" or getattr(param, "hidden", False):
            continue
        spellings = [*param.opts, *param.secondary_opts]
        if "--help" in spellings:
            continue
        long = [s for s in spellings if s.startswith("--")]
        names += long or spellings
    return names


GROUP = cli_group()
COMMANDS = list(GROUP.commands)
COMMAND_OPTIONS = [
    (name, option)
    for name, command in GROUP.commands.items()
    for option in option_names(command.params)
]


def sections(path: Path) -> dict[str, str]:
    """`## ` heading -> the text under it, up to the next `## ` heading."""
    parts = re.split(r"^## (.*)$", path.read_text(), flags=re.M)
    return {heading.strip(): body for heading, body in zip(parts[1::2], parts[2::2], strict=True)}


def command_section(command: str) -> str:
    found = [
        body
        for head, body in sections(COMMANDS_PAGE).items()
        if head.startswith(f"`lstmae {command} ") or head == f"`lstmae {command}`"
    ]
    assert found, f"docs/commands.md has no section '## `lstmae {command} ...`'"
    return found[0]


def mentions(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_section(command):
    command_section(command)


@pytest.mark.parametrize(("command", "option"), COMMAND_OPTIONS)
def test_every_option_is_documented(command, option):
    assert mentions(command_section(command), option), (
        f"`lstmae {command} {option}` is not documented: add it to the section of "
        f"`lstmae {command}` in docs/commands.md"
    )


@pytest.mark.parametrize("option", option_names(GROUP.params))
def test_global_options_are_documented(option):
    assert mentions(sections(COMMANDS_PAGE)["Global options"], option)


RUNTIME = {"device", "precision"}  # chosen where it runs: the CLI's default is auto


def documented_train_defaults() -> list[tuple[str, str]]:
    """(DetectorParams field, the default written in docs/commands.md's train table) for
    each row naming options of the detector, one default per option."""
    from dataclasses import fields

    from lstmae_cli.params import DetectorParams

    known = {f.name for f in fields(DetectorParams)}
    pairs = []
    for line in command_section("train").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`--"):
            continue
        names = [re.sub(r"\s.*", "", n.strip("` ")).lstrip("-") for n in cells[0].split(",")]
        defaults = [d.strip() for d in cells[1].split(",")]
        for name, default in zip(names, defaults, strict=False):
            field = name.replace("-", "_")
            if len(names) == len(defaults) and field in known and field not in RUNTIME:
                pairs.append((field, default))
    return pairs


TRAIN_DEFAULTS = documented_train_defaults()


def test_train_table_documents_defaults():
    documented = dict(TRAIN_DEFAULTS).keys()
    assert {"calibration_folds", "drift_rate", "scoring", "seq_len", "batch_size"} <= documented


@pytest.mark.parametrize(("field", "documented"), TRAIN_DEFAULTS)
def test_documented_defaults_are_the_code_defaults(field, documented):
    from lstmae_cli.params import DetectorParams, training_pace

    actual = getattr(DetectorParams(), field)
    if field in ("batch_size", "lr"):  # chosen for the device: the table gives the CPU's
        cpu = training_pace("cpu", 0, None, None)
        actual = cpu[0] if field == "batch_size" else cpu[1]
    if isinstance(actual, int | float) and re.fullmatch(r"[-+.\deE]+", documented):
        assert float(documented) == pytest.approx(float(actual)), field
    elif isinstance(actual, str):
        assert documented == actual, field


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_lists_every_command(command):
    assert f"`lstmae {command} " in README.read_text()


def test_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= 200, f"README.md has {lines} lines: move detail to docs/"


# --- links -------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+ (.*)$", path.read_text(), flags=re.M)}


LINKS = [
    (page, target)
    for page in PAGES
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text())
    if not re.match(r"[a-z]+:", target)
]


@pytest.mark.parametrize(("page", "target"), LINKS, ids=[f"{p.name}->{t}" for p, t in LINKS])
def test_links_resolve(page, target):
    file, _, anchor = target.partition("#")
    path = (page.parent / file).resolve() if file else page
    assert path.exists(), f"{page.name}: link to {file}, which does not exist"
    if anchor and path.suffix == ".md":
        assert anchor in anchors(path), f"{page.name}: no heading #{anchor} in {path.name}"


# --- generated tables ----------------------------------------------------------------------


def test_generated_tables_match_the_results():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + "(run `make docs` and commit the docs)"


def test_table_generator_notes_missing_results(tmp_path, monkeypatch):
    """A results file that is not there, or in an older format, gives a note, not an error."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_docs", ROOT / "scripts" / "make_docs.py")
    make_docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_docs)
    monkeypatch.setattr(make_docs, "RESULTS", tmp_path)
    page = "a\n<!-- table:skab-window-rule -->\nold\n<!-- /table -->\nb\n"
    assert "does not exist yet" in make_docs.rewrite(page)
    (tmp_path / "skab.json").write_text('{"leaderboard": {"summary": {}}}')
    assert "has no `window_rule`" in make_docs.rewrite(page)
    assert make_docs.rewrite(page).startswith("a\n<!-- table:skab-window-rule -->\n")
    assert make_docs.rewrite(page).endswith("<!-- /table -->\nb\n")


def _score_run(ours: float, tutorial: float, big: float) -> dict:
    """A score_threads.json regime: seconds a turn for lstmae and both tutorial scripts."""
    turns = {"lstmae": ours, "lstmae_bf16": ours, "tutorial": tutorial, "tutorial_big_batch": big}
    score = {
        name: {"rows_per_s": 400_000 / t, "rounds_seconds": [t] * 3, "peak_rss_mib": 500}
        for name, t in turns.items()
    }
    score |= {"ratio": tutorial / ours, "ratio_big_batch": big / ours}
    score |= {"ratio_bf16": tutorial / ours, "ratio_bf16_big_batch": big / ours}
    score["batch_sizes"] = {"tutorial": 32, "tutorial_big_batch": 4096}
    return {"score": score, "date": "2026-12-01", "load_average_before": 0.5}


def test_thread_regime_table_judges_each_regime_against_both_tutorials(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_docs", ROOT / "scripts" / "make_docs.py")
    make_docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_docs)
    monkeypatch.setattr(make_docs, "RESULTS", tmp_path)
    runs = {"1": _score_run(4.0, 20.0, 24.0), "default": _score_run(3.2, 20.0, 15.2)}
    runs["2"] = _score_run(4.0, 21.0, 24.0)
    runs["2"]["score"]["lstmae"]["rounds_seconds"] = [4.0, 4.4, 3.9]  # one turn 4.8x
    (tmp_path / "score_threads.json").write_text(json.dumps(runs))
    one, two, default = make_docs.speed_threads()[2:5]
    assert "`OMP_NUM_THREADS=1`" in one and "5.0x of 20,000" in one and "6.0x of" in one
    assert one.endswith(">= 5x both: met |")
    assert "`OMP_NUM_THREADS=2`" in two and two.endswith(">= 5x both: **not reliably met** |")
    assert "no `OMP_NUM_THREADS`" in default and "4.7x of 26,316" in default
    assert default.endswith(">= 5x both: **not met** |")


# --- recipes -------------------------------------------------------------------------------

RECIPES = [
    (page, match["lang"], match["code"], page.read_text()[: match.start()].count("\n") + 2)
    for page in PAGES
    for match in RECIPE.finditer(page.read_text())
]
RECIPE_IDS = [f"{page.name}:{line}" for page, _, _, line in RECIPES]

# `lstmae train` gets the tiny options (the last value of an option wins); any exit status
# but 0 and 3 (flagged, with --fail-on-anomaly) is recorded as a failure
SHELL_PRELUDE = """
lstmae() {
  if [ "$1" = train ]; then command lstmae "$@" $TINY_ARGS; else command lstmae "$@"; fi
  status=$?
  case $status in 0|3) ;; *) echo "lstmae $*: exit $status" >> "$FAILURES" ;; esac
  return $status
}
"""


@pytest.fixture(scope="module")
def tiny_cli_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("docs") / "model.safetensors"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "lstmae"),
            "train",
            str(ROOT / "sample_data" / "machine_train.csv"),
            "-o",
            str(path),
            "-q",
            *TINY_ARGS,
        ],
        check=True,
    )
    return path


@pytest.fixture
def workdir(tmp_path, tiny_cli_model) -> Path:
    """A folder with sample_data/ and a tiny model.safetensors, as after the quick start."""
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    shutil.copy(tiny_cli_model, tmp_path / "model.safetensors")
    return tmp_path


def test_there_are_recipes():
    assert {page.name for page, *_ in RECIPES} >= {"README.md", "library.md"}


@pytest.mark.parametrize(("page", "lang", "code", "line"), RECIPES, ids=RECIPE_IDS)
def test_recipe_runs(page, lang, code, line, workdir, monkeypatch):
    if lang in ("bash", "sh"):
        failures = workdir / "failures.txt"
        env = dict(os.environ, FAILURES=str(failures), TINY_ARGS=" ".join(TINY_ARGS))
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        result = subprocess.run(
            ["bash", "-c", SHELL_PRELUDE + code],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        problems = failures.read_text() if failures.exists() else ""
        assert result.returncode == 0 and not problems, (
            f"{page.name}:{line}: {problems}{result.stderr[-2000:]}"
        )
    elif lang == "python":
        import lstmae_cli
        from lstmae_cli.detector import Detector

        class TinyDetector(Detector):
            def __init__(self, **params) -> None:
                super().__init__(**(params | TINY))

        monkeypatch.setattr(lstmae_cli, "Detector", TinyDetector)
        monkeypatch.chdir(workdir)
        exec(compile(code, f"{page.name}:{line}", "exec"), {"__name__": "recipe"})
    else:
        pytest.fail(f"{page.name}:{line}: no runner for a ```{lang} block")
