"""Serving-path benchmark with Locust: this tree side by side with the commit before
the scale work, same trained model (so the same NLU pipeline) on both sides.

    python -m bench.load [--baseline dd92224] [--seconds 30] [--out docs/benchmarks.md]

For each side: start the action and Rasa servers (SQLite stores, as `make run`) and a
local SMTP sink, then run the Locust profiles headless on loopback (bench/locustfile_*.py,
Locust in its own venv, LOCUST=.../locust): policy questions over REST by 1 and by 20
concurrent visitors; full verified requests (codes read from the SMTP sink); socket.io
widget sessions. Then the cost of turn 5 against turn 100 (bench/turn_cost.py). On this
tree's side, py-spy records the Rasa server during the 20-visitor run: the profile of
the next bottleneck. Prints the figures and writes them into docs/benchmarks.md between
the `load` markers (the rest of the file is left as it is).
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.profile_summary import inclusive_shares  # noqa: E402
from bench.smtp_sink import SmtpSink  # noqa: E402
from bench.turn_cost import measure  # noqa: E402
from tests.support.stack import Stack, trained_model  # noqa: E402

BEGIN, END = "<!-- load:begin -->", "<!-- load:end -->"
LOCUST_VENV = ROOT / "bench" / ".venv-locust" / "bin"


def locust(profile: str, host: str, users: int, seconds: int, workdir: Path, env: Optional[dict] = None) -> Dict:
    """One headless Locust run; returns the aggregated and per-name stats from its CSV."""
    prefix = workdir / f"{Path(profile).stem}-{users}"
    command = [os.environ.get("LOCUST", str(LOCUST_VENV / "locust")), "-f", str(ROOT / "bench" / profile),
               "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", host,
               "--csv", str(prefix), "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING"]
    subprocess.run(command, cwd=ROOT / "bench", env=dict(os.environ, **(env or {})), check=False,
                   stdout=subprocess.DEVNULL, stderr=open(workdir / "locust.log", "ab"), timeout=seconds + 180)
    stats = {}
    with open(f"{prefix}_stats.csv") as handle:
        for row in csv.DictReader(handle):
            stats[row["Name"]] = {
                "n": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]), "p50": float(row["50%"] or 0), "p95": float(row["95%"] or 0),
            }
    return stats


def run_side(label: str, root: Path, workdir: Path, seconds: int, profile_to: Optional[Path]) -> Dict:
    print(f"== {label}: starting servers ({root}) ...", flush=True)
    sink = SmtpSink().start()
    # TRUSTED_PROXIES: the requests profile gives each visitor its own X-Forwarded-For.
    stack = Stack(workdir / "stack", env_overrides=dict(sink.env(), TRUSTED_PROXIES="127.0.0.1"), root=root).start()
    results: Dict = {}
    try:
        stack.say("warm-up", "hello")
        results["rest1"] = locust("locustfile_policy.py", stack.url, 1, seconds, workdir)["Aggregated"]
        print(f"   REST, 1 visitor: {results['rest1']}", flush=True)
        spy = None
        if profile_to is not None:
            spy = subprocess.Popen([str(LOCUST_VENV / "py-spy"), "record", "-p", str(stack.rasa_process.pid),
                                    "-o", str(profile_to), "--format", "raw", "-r", "50", "-d", str(seconds),
                                    "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results["rest20"] = locust("locustfile_policy.py", stack.url, 20, seconds, workdir)["Aggregated"]
        if spy is not None:
            spy.wait(timeout=seconds + 60)
        print(f"   REST, 20 visitors: {results['rest20']}", flush=True)
        verified = locust("locustfile_requests.py", stack.url, 5, seconds, workdir, {"SMTP_SINK_URL": sink.url})
        results["requests"] = verified
        print(f"   verified requests, 5 visitors: {verified.get('4 confirm')}, all steps {verified['Aggregated']}",
              flush=True)
        results["socketio"] = locust("locustfile_socketio.py", stack.url, 10, seconds, workdir)
        print(f"   socket.io, 10 visitors: {results['socketio'].get('policy question')}", flush=True)
        results["turns"] = measure(stack.say, 100, 3, 4)
        print(f"   turn cost: {results['turns']}", flush=True)
    finally:
        stack.stop()
        sink.stop()
    return results


def baseline_tree(commit: str, into: Path) -> Path:
    tree = into / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (tree / "models").symlink_to(ROOT / "models") if not (tree / "models").exists() else None
    return tree


def profile_table(raw: Path, top: int = 12) -> str:
    counts, total = inclusive_shares(raw.read_text().splitlines())
    keep = ("rasa/core/processor.py", "rasa/core/tracker_store.py", "extensions/", "rasa/nlu/", "rasa/core/policies",
            "rasa/core/actions/action.py", "rasa/engine/graph.py", "rasa/utils/endpoints.py", "sqlalchemy/orm/session.py",
            "jsonschema", "tensorflow/python/eager/polymorphic_function/polymorphic_function.py", "aiohttp/client.py")
    rows = [(name, n) for name, n in counts.most_common() if any(k in name for k in keep)]
    lines = ["| share of samples (inclusive) | function |", "|---|---|"]
    lines += [f"| {100 * n / max(total, 1):.0f} % | `{name}` |" for name, n in rows[:top]]
    return "\n".join(lines) + f"\n\n{total} samples at 50 Hz."


def cell(value: float, unit: str = "ms") -> str:
    return f"{value:.0f} {unit}" if unit else f"{value:.1f}"


def report(before: Dict, after: Dict, commit: str, seconds: int, profile: Optional[str], machine: str) -> str:
    def ratio(key, metric):
        return after[key][metric] / before[key][metric] if before[key][metric] else float("nan")

    rows = [
        ("REST policy questions, 20 visitors: throughput", "rest20", "rps", "turns/s"),
        ("REST policy questions, 20 visitors: p50", "rest20", "p50", "ms"),
        ("REST policy questions, 20 visitors: p95", "rest20", "p95", "ms"),
        ("REST policy questions, 1 visitor: p50", "rest1", "p50", "ms"),
        ("REST policy questions, 1 visitor: p95", "rest1", "p95", "ms"),
    ]
    table = [f"| measure | before ({commit}) | this tree | ratio |", "|---|---|---|---|"]
    for name, key, metric, unit in rows:
        fmt = (lambda v: f"{v:.1f} {unit}") if unit == "turns/s" else (lambda v: f"{v:.0f} {unit}")
        table.append(f"| {name} | {fmt(before[key][metric])} | {fmt(after[key][metric])} | {ratio(key, metric):.2f}× |")
    for label, side_key in (("verified requests, 5 visitors: all steps p50", "p50"),
                            ("verified requests, 5 visitors: all steps p95", "p95")):
        b, a = before["requests"]["Aggregated"][side_key], after["requests"]["Aggregated"][side_key]
        table.append(f"| {label} | {b:.0f} ms | {a:.0f} ms | {a / b if b else float('nan'):.2f}× |")
    b, a = before["requests"].get("4 confirm", {}).get("n", 0), after["requests"].get("4 confirm", {}).get("n", 0)
    table.append(f"| verified requests filed in {seconds} s | {b} | {a} | {a / b if b else float('nan'):.2f}× |")
    for metric in ("p50", "p95"):
        b = before["socketio"].get("policy question", {}).get(metric, 0)
        a = after["socketio"].get("policy question", {}).get(metric, 0)
        table.append(f"| socket.io widget, 10 visitors: question {metric} | {b:.0f} ms | {a:.0f} ms | "
                     f"{a / b if b else float('nan'):.2f}× |")
    for side in ("p50_turn_5_ms", "p50_turn_100_ms"):
        b, a = before["turns"][side], after["turns"][side]
        table.append(f"| one conversation: {side.replace('_ms', '').replace('_', ' ')} | {b:.0f} ms | {a:.0f} ms | "
                     f"{a / b:.2f}× |")
    table.append(f"| turn 100 / turn 5 | {before['turns']['ratio']:.2f} | {after['turns']['ratio']:.2f} | |")
    failures = {side: sum(s["failures"] for key in ("rest1", "rest20") for s in [res[key]])
                + res["requests"]["Aggregated"]["failures"]
                + res["socketio"].get("Aggregated", {}).get("failures", 0)
                for side, res in (("before", before), ("this tree", after))}
    targets = [
        f"- throughput at 20 visitors ≥ 1.8×: {ratio('rest20', 'rps'):.2f}× "
        f"({'met' if ratio('rest20', 'rps') >= 1.8 else 'NOT met'})",
        f"- p95 at 20 visitors ≤ 0.6×: {ratio('rest20', 'p95'):.2f}× "
        f"({'met' if ratio('rest20', 'p95') <= 0.6 else 'NOT met'})",
        f"- p50 at 1 visitor ≤ 0.6×: {ratio('rest1', 'p50'):.2f}× ({'met' if ratio('rest1', 'p50') <= 0.6 else 'NOT met'})",
        f"- p50 at turn 100 ≤ 1.2× p50 at turn 5: {after['turns']['ratio']:.2f}× "
        f"({'met' if after['turns']['ratio'] <= 1.2 else 'NOT met'})",
    ]
    parts = [
        BEGIN, "## Serving path under load (Locust)", "",
        f"`make bench` ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC) on {machine}. Both sides run the same "
        f"trained model (same NLU pipeline), SQLite stores, one Rasa server and one action server, on loopback; "
        f"each Locust profile runs {seconds} s headless, closed loop (no think time). Locust runs in its own venv "
        f"on the same 2 cores, so it takes CPU from the servers on both sides alike. Request failures: before "
        f"{failures['before']}, this tree {failures['this tree']}.", "",
        "**Measured on a machine shared with other jobs (load average ~7 on 2 cores while this ran): the "
        "absolute numbers are noisy and lower than on an idle machine; the two sides ran one after the other, so "
        "drift in the load between them shows up in the ratios.**", "",
        *table, "", "Targets (issue 11):", *targets, "",
    ]
    if profile:
        parts += ["### Where the time goes now (py-spy, Rasa server, 20 visitors, this tree)", "", profile, ""]
    parts.append(END)
    return "\n".join(parts)


def write_section(out: Path, section: str) -> None:
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    out.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="dd92224")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    os.environ.setdefault("IMAGO_TEST_MODEL", trained_model())
    scratch = Path(tempfile.mkdtemp(prefix="imago-load-"))
    baseline = baseline_tree(args.baseline, scratch)
    profile_raw = scratch / "profile.raw"
    try:
        (scratch / "before").mkdir()
        (scratch / "after").mkdir()
        before = run_side(f"before ({args.baseline})", baseline, scratch / "before", args.seconds, None)
        after = run_side("this tree", ROOT, scratch / "after", args.seconds, profile_raw)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False)
    from bench.bench import machine

    profile = profile_table(profile_raw) if profile_raw.exists() else None
    section = report(before, after, args.baseline, args.seconds, profile, machine())
    print("\n" + section)
    write_section(args.out, section)
    print(f"written to {args.out}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
