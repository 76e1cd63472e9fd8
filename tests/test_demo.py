"""`calibrate demo` through the installed entry point, as a newcomer runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from calibration.raters.local import local_extra_installed


def _run_demo(tmp_path, *extra):
    exe = shutil.which("calibrate")
    assert exe, "the `calibrate` console script is not installed (pip install -e .)"
    out = tmp_path / "demo"
    proc = subprocess.run([exe, "demo", "--out", str(out), *extra], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc.stdout, json.loads((out / "demo_summary.json").read_text())


def test_demo_loads_golden_set_and_reports_humans_and_baseline(tmp_path):
    out, stdout, summary = _run_demo(tmp_path, "--no-llm")
    assert (out / "calibrate.db").exists() and (out / "agreement.json").exists()
    assert summary["items"] >= 60
    humans = [r for r in summary["accuracy"] if r.startswith(("mod_", "junior_"))]
    assert len(humans) >= 5
    assert "baseline-tfidf-lr" in summary["accuracy"]
    for rater, acc in summary["accuracy"].items():
        assert 0.0 <= acc <= 1.0, rater
    assert "Accuracy against gold" in stdout and str(out) in stdout
    agreement = json.loads((out / "agreement.json").read_text())
    assert agreement["n_raters"] == len(humans)
    # Re-running into the same folder starts from a fresh store: same figures.
    _, _, again = _run_demo(tmp_path, "--no-llm")
    assert again["accuracy"] == summary["accuracy"]


@pytest.mark.llama
@pytest.mark.skipif(
    not local_extra_installed() and not os.environ.get("CI"), reason="the `local` extra is not installed"
)
def test_demo_with_local_llm(tmp_path):
    _, stdout, summary = _run_demo(tmp_path, "--llm-items", "12")
    assert "local-smollm2" in summary["ai_raters"]
    ran = summary["ai_raters"]["local-smollm2"]
    assert ran["ok"] + ran["errors"] == 12
    assert "Local LLM" in stdout
