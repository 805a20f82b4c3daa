"""bench/load.py without running it: the benchmark model's cache key, the report when
one side could not run a profile, and the docs section it writes (issue 11)."""

import yaml

from bench import load

BUILT_IN = {"WhitespaceTokenizer", "RegexFeaturizer", "LexicalSyntacticFeaturizer", "CountVectorsFeaturizer",
            "DIETClassifier", "FallbackClassifier", "MemoizationPolicy", "RulePolicy"}


def stats(n=100, rps=10.0, p50=100.0, p95=200.0, failures=0):
    return {"n": n, "failures": failures, "rps": rps, "p50": p50, "p95": p95}


def side(rps, p50_1, p95_20, requests=True):
    result = {
        "load_average": ["1.0/1.0/1.0", "1.2/1.0/1.0"], "skipped": {},
        "rest1": stats(p50=p50_1), "rest20": stats(rps=rps, p95=p95_20),
        "socketio": {"policy question": stats(), "Aggregated": stats()},
        "turns": {"p50_turn_5_ms": 40.0, "p50_turn_100_ms": 44.0, "ratio": 1.1, "samples_each": 12},
    }
    if requests:
        result["requests"] = {"Aggregated": stats(), "4 confirm": stats(n=7)}
    else:
        result["skipped"]["requests"] = "its action server lacks action_finish_request"
    return result


def test_the_benchmark_pipeline_uses_only_rasa_components_both_sides_can_load():
    config = yaml.safe_load(load.BENCH_CONFIG.read_text())
    names = {entry["name"] for entry in config["pipeline"] + config["policies"]}
    assert names <= BUILT_IN


def test_the_model_name_follows_its_inputs(tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(load.BENCH_CONFIG.read_text())
    same = load.bench_model_name(config)
    assert same == load.bench_model_name(load.BENCH_CONFIG)
    assert same.startswith("bench-load-") and not same.startswith("imago-")
    config.write_text(load.BENCH_CONFIG.read_text() + "\n# changed\n")
    assert load.bench_model_name(config) != same


def test_a_cached_model_is_not_trained_again(tmp_path, monkeypatch):
    cached = tmp_path / f"{load.bench_model_name()}.tar.gz"
    cached.write_bytes(b"model")

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(load.subprocess, "run", no_training)
    assert load.bench_model(models=tmp_path) == cached


def test_the_report_gives_the_three_ratios_against_their_targets():
    section = load.report(side(10.0, 100.0, 1000.0), side(20.0, 50.0, 500.0), "dd92224", 30, None, "a machine",
                          "bench-load-x.tar.gz")
    assert "- throughput at 20 visitors ≥ 1.8×: 2.00× (met)" in section
    assert "- p95 at 20 visitors ≤ 0.6×: 0.50× (met)" in section
    assert "- p50 at 1 visitor ≤ 0.6×: 0.50× (met)" in section
    assert "- p50 at turn 100 ≤ 1.2× p50 at turn 5 (this tree): 1.10× (met)" in section
    assert "bench-load-x.tar.gz" in section and "short run" not in section


def test_a_profile_the_baseline_cannot_run_is_reported_not_a_crash():
    section = load.report(side(10.0, 100.0, 1000.0, requests=False), side(15.0, 70.0, 800.0), "dd92224", 5, None,
                          "a machine", "m")
    assert "| verified requests filed in 5 s | not run | 7 | — |" in section
    assert "- before: requests not run: its action server lacks action_finish_request." in section
    assert "- throughput at 20 visitors ≥ 1.8×: 1.50× (NOT met)" in section
    assert "A short run (5 s per profile)" in section


def test_a_failed_locust_run_leaves_its_figures_out():
    before = side(10.0, 100.0, 1000.0)
    before["rest20"] = None
    section = load.report(before, side(20.0, 50.0, 500.0), "dd92224", 30, None, "a machine", "m")
    assert "- throughput at 20 visitors ≥ 1.8×: not measured" in section


def test_the_section_replaces_only_what_is_between_the_markers(tmp_path):
    out = tmp_path / "benchmarks.md"
    out.write_text(f"# Benchmarks\n\nbefore\n\n{load.BEGIN}\nold\n{load.END}\n\nafter\n")
    load.write_section(out, f"{load.BEGIN}\nnew\n{load.END}")
    assert out.read_text() == f"# Benchmarks\n\nbefore\n\n{load.BEGIN}\nnew\n{load.END}\n\nafter\n"

