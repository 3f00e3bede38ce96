"""The command line under a hostile user: Ctrl-C, unwritable outputs, strict JSON, atomic writes.

Every writer goes through ``theory.files`` (checked by scanning the sources), results are strict
JSON, output folders are checked before any work, and Ctrl-C prints one line and exits 130.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from eigennas.cli import main
from empirics.nas.cache import ScoreCache
from theory import files

ROOT = Path(__file__).resolve().parents[1]


def _strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# ------------------------------------------------------------------------------------------ Ctrl-C


def _interrupt_after(monkeypatch, k: int) -> None:
    """ScoreCache.put raises KeyboardInterrupt after its k-th record is stored (as a Ctrl-C would)."""
    orig = ScoreCache.put
    calls = {"n": 0}

    def put(self, key, value, **fields):
        orig(self, key, value, **fields)
        calls["n"] += 1
        if calls["n"] == k:
            raise KeyboardInterrupt

    monkeypatch.setattr(ScoreCache, "put", put)


@pytest.mark.parametrize("command", ["search", "correlate"])
def test_ctrl_c_prints_one_line_exits_130_and_the_rerun_resumes(command, data_dir, tmp_path, monkeypatch, capsys):
    args = [command, "--score", "params", "--n", "12", "--data-dir", str(data_dir), "--cache", str(tmp_path / "c"),
            "--out", str(tmp_path / "out"), "--no-progress"]
    args += ["--boot", "20"] if command == "correlate" else ["--repeats", "1"]
    _interrupt_after(monkeypatch, 3)
    assert main(args) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert re.search(r"interrupted; 3 cells cached, rerun to resume", err[0]), err
    assert not list((tmp_path / "out").glob("*.json")), "no result file from an interrupted run"
    monkeypatch.undo()
    assert main(args) == 0
    assert len(ScoreCache(tmp_path / "c")) == 12  # the 3 cached cells were reused, 9 more computed
    assert "9 cells scored" in capsys.readouterr().out


@pytest.mark.data
def test_real_sigint_gives_one_line_and_130(data_dir, tmp_path):
    """A real SIGINT to a running ``eigennas search`` (each cell slowed down so that it is running)."""
    script = (
        "import sys, time\n"
        "from empirics.nas.cache import ScoreCache\n"
        "orig = ScoreCache.put\n"
        "def put(self, *a, **k):\n"
        "    orig(self, *a, **k); print('put', flush=True); time.sleep(0.3)\n"
        "ScoreCache.put = put\n"
        "from eigennas.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", script, "search", "--score", "params", "--n", "200", "--repeats", "1",
           "--data-dir", str(data_dir), "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o"), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    assert proc.stdout is not None
    for _ in range(2):
        assert proc.stdout.readline().strip() == "put"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "interrupted;" in lines[0] and "rerun to resume" in lines[0], err
    assert "Traceback" not in err


def test_ctrl_c_in_a_command_without_cache(monkeypatch, capsys):
    import eigennas.commands.kernel as kernel_cmd

    def boom(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(kernel_cmd, "run", boom)
    assert main(["kernel", "|dense_relu~0|"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("eigennas kernel: interrupted; no partial output")


# ------------------------------------------------------------------------------------ output paths


@pytest.mark.parametrize("command", ["search", "correlate", "ablate"])
def test_unwritable_out_is_refused_before_any_work(command, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    import empirics.nas.benchmark as B

    def no_work(*a, **k):
        raise AssertionError("the benchmark was loaded before --out was checked")

    monkeypatch.setattr(B, "load_benchmark", no_work)
    monkeypatch.setattr("eigennas.commands._nats_common.load_benchmark", no_work)
    assert main([command, "--out", str(blocker / "sub"), "--no-progress", "--cache", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert "not writable" in err and str(blocker) in err


# ------------------------------------------------------------------------------------ strict JSON


def test_result_json_is_strict_nan_becomes_null(tmp_path):
    from eigennas.commands._nats_common import write_json

    p = tmp_path / "r.json"
    write_json(p, {"a": math.nan, "b": [1.0, math.inf, -math.inf], "c": {"d": 2}})
    got = _strict_loads(p.read_text())
    assert got == {"a": None, "b": [1.0, None, None], "c": {"d": 2}}


def test_search_json_parses_strictly(data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["search", "--score", "params", "--n", "5", "--repeats", "2", "--data-dir", str(data_dir),
               "--no-cache", "--out", str(out), "--no-progress"])
    assert rc == 0
    for p in out.glob("*.json"):
        _strict_loads(p.read_text())


def test_cache_lines_are_strict_json(tmp_path):
    c = ScoreCache(tmp_path)
    c.put("k", math.nan, time_s=math.nan, arch="|none~0|")
    for line in (tmp_path / "scores.jsonl").read_text().splitlines():
        rec = _strict_loads(line)
        assert rec["time_s"] is None and rec["value"] == "nan"
    assert math.isnan(ScoreCache(tmp_path).get("k"))


# ---------------------------------------------------------------------------------- atomic writes


def test_atomic_write_leaves_no_partial_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("old\n")

    def half(t: Path) -> None:
        t.write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(p, half)
    assert p.read_text() == "old\n"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["x.csv"]  # the temporary file is gone


WRITERS = re.compile(
    r"open\([^)]*['\"][wax]b?['\"]|\.savefig\(|np\.save[z]?\(|json\.dump\(|(?<!files)\.write_text\(|\.write_bytes\(|"
    r"torch\.save\(|\.to_csv\("
)


def test_every_writer_goes_through_the_atomic_helper():
    """No package module writes a file except through theory.files (grep of the sources); the
    exceptions are writes into a temporary path handed over by atomic_write, the append-only cache
    and the exclusive-creation claim of a result name."""
    allowed = {
        "theory/files.py",  # the helper itself
        "empirics/cache.py",  # append-only JSON lines, one os.write per record (torn lines skipped)
    }
    offenders = []
    for pkg in ("theory", "bounds", "empirics", "eigennas"):
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel in allowed:
                continue
            for k, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#")[0]
                if WRITERS.search(code) and "atomic_write" not in code and "_claim_file" not in code:
                    offenders.append(f"{rel}:{k}: {line.strip()}")
    assert not offenders, "writers outside theory.files:\n" + "\n".join(offenders)


# ------------------------------------------------------------------------------------- size guards

NATS_CELL = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"


def _cli(*argv: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "eigennas.cli", *argv], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_measure_refuses_a_kernel_that_cannot_fit_up_front():
    r = _cli("measure", "|dense_relu~0|", "--n", "200000", "--d", "4", "--width", "8")
    assert r.returncode == 1, r.stderr
    assert "estimate: ~" in r.stderr and "GiB" in r.stderr and "available" in r.stderr


@pytest.mark.data
def test_measure_batch_larger_than_the_pool_is_refused_not_hung(data_dir):
    """2,000 images from a pool of 1,100 through a BatchNorm-coupled network used to run for hours."""
    r = _cli("measure", NATS_CELL, "--n", "2000", "--data-dir", str(data_dir))
    assert r.returncode == 1, r.stderr
    assert "estimate: ~" in r.stderr and "N^2" in r.stderr
    r = _cli("measure", NATS_CELL, "--n", "200", "--width", "4", "--cells", "1", "--max-time", "1",
             "--data-dir", str(data_dir))
    assert r.returncode == 1 and "--max-time" in r.stderr, r.stderr


def test_measure_estimate_is_printed_and_small_runs_go_through(capsys):
    assert main(["measure", "|dense_relu~0|", "--n", "6", "--d", "3", "--width", "16", "--seeds", "2",
                 "--no-progress"]) == 0
    cap = capsys.readouterr()
    assert "estimate: ~" in cap.err and "lambda_min:" in cap.out


# ------------------------------------------------------------------------------ times that go stale

STALE_TIME = re.compile(
    r"(≈|~|about|under|within)\s*[0-9]+(\.[0-9]+)?\s*(s|sec|seconds?|min|minutes?|h|hours?)\b|few (minutes|seconds)"
)


def test_readme_and_help_quote_no_run_times_that_can_go_stale():
    """Run times depend on the machine and its load (figures --quick took 22 s alone and over a minute
    next to five other jobs): the README and --help say what a command prints instead of a number."""
    from eigennas.cli import build_parser

    texts = {"README.md": (ROOT / "README.md").read_text()}
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        texts[f"eigennas {name} --help"] = p.format_help()
    bad = [f"{where}: {m.group(0)!r}" for where, t in texts.items() for m in STALE_TIME.finditer(t)]
    assert not bad, bad


def test_search_reports_time_since_start_up(data_dir, tmp_path, capsys):
    assert main(["search", "--score", "params", "--n", "4", "--repeats", "1", "--data-dir", str(data_dir),
                 "--no-cache", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "since start-up, loading included" in capsys.readouterr().out


# ---------------------------------------------------------------------------- hostile-user findings


@pytest.mark.parametrize("opt", ["C=\u0663", "C=1.5", "batch_size=1e400", "seeds=", "N=true"])
def test_score_options_read_ascii_numbers_only(opt):
    from empirics.nas.scores import ScoreError, parse_options

    with pytest.raises(ScoreError, match="must be an integer"):
        parse_options([opt], "eigen")
    assert parse_options(["C=8", "N=1"], "eigen") == {"C": 8, "N": 1}


def test_ablation_variant_fields_read_ascii_numbers_only():
    from experiments.ablation import AblationError, parse_variant

    for text in ("C=\u0661\u0666", "batch_size=2.5", "seeds=True"):
        with pytest.raises(AblationError, match="variant field"):
            parse_variant(text)


def test_figures_only_empty_is_refused(tmp_path, capsys):
    assert main(["figures", "--only", "", "--out", str(tmp_path), "--no-progress"]) == 1
    assert "no figure named" in capsys.readouterr().err
    assert main(["figures", "--only", " , ", "--out", str(tmp_path), "--no-progress"]) == 1


def test_cache_path_that_is_a_file_is_named(tmp_path):
    f = tmp_path / "cache"
    f.write_text("")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        ScoreCache(f)


def test_empty_out_is_refused(capsys):
    assert main(["search", "--out", "", "--no-progress", "--no-cache"]) == 1
    assert "is empty" in capsys.readouterr().err


def test_atlas_interrupt_ends_with_the_standard_line(data_dir, tmp_path, monkeypatch, capsys):
    import eigennas.commands.atlas as atlas_cmd

    orig = atlas_cmd.run_atlas
    seen = []

    def stop(col, rep, value):
        seen.append(rep)
        if len(seen) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(atlas_cmd, "run_atlas", lambda *a, **k: orig(*a, **{**k, "on_result": stop}))
    rc = main(["atlas", "--scores", "theory", "--datasets", "cifar10", "--workers", "0", "--cells", "25",
               "--chunk", "1", "--table", str(tmp_path / "t.csv"), "--cache", str(tmp_path / "c"),
               "--data-dir", str(data_dir), "--no-progress"])
    assert rc == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert re.fullmatch(r"eigennas atlas: interrupted; 3 cells cached, rerun to resume \(table .*\)", err[-1]), err
    assert not any("Traceback" in ln for ln in err)


@pytest.mark.parametrize("bad", [1.5, True, 0, "\u0663"])
def test_image_batch_size_must_be_a_positive_integer(bad, data_dir):
    from empirics.nas.images import image_batch

    with pytest.raises(ValueError, match="batch_size"):
        image_batch("cifar10", bad, data_dir=data_dir)


def test_image_batch_too_large_for_memory_is_refused_before_allocating(data_dir):
    from empirics.nas.images import image_batch

    with pytest.raises(MemoryError, match="GiB"):
        image_batch("cifar10", 10**9, data_dir=data_dir)


def test_run_protocol_refuses_zero_repeats(bench):
    from empirics.nas.scores import get_score
    from empirics.nas.search import run_protocol

    for kw in ({"n": 5, "repeats": 0}, {"n": 0, "repeats": 1}, {"n": 5, "repeats": 1.5}):
        with pytest.raises(ValueError, match="repeats|n \\(cells"):
            run_protocol("sample", get_score("params"), bench, progress=False, **kw)


def test_measure_checks_its_options_before_the_estimate_and_progress_bar(capsys):
    assert main(["measure", "|dense_relu~0|", "--output", "class:5", "--n", "4", "--width", "4"]) == 1
    err = capsys.readouterr().err
    assert "class:5" in err and "estimate" not in err and "seeds:" not in err


def test_hermite_prints_significant_digits_at_any_scale(capsys):
    assert main(["hermite", "relu", "--r", "2", "--q", "1e-300"]) == 0
    out = capsys.readouterr().out
    assert "3.989422804e-151" in out and "0.0000000000" not in out
    assert main(["hermite", "relu", "--r", "2", "--q", "1e300"]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) < 100


def test_atlas_table_folder_checked_before_any_work(tmp_path, monkeypatch, capsys):
    import eigennas.commands.atlas as atlas_cmd

    blocker = tmp_path / "f"
    blocker.write_text("")

    def no_work(*a, **k):
        raise AssertionError("the benchmark was loaded before the table folder was checked")

    monkeypatch.setattr(atlas_cmd, "load_benchmark", no_work)
    assert main(["atlas", "--scores", "params", "--table", str(blocker / "t.csv"), "--no-progress"]) == 1
    assert "not writable" in capsys.readouterr().err
