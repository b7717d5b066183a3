#!/usr/bin/env python3
"""Summarises search run folders (events.jsonl) as the search-tuning table of bench/README.md:
α at the fix, the α margin, τ, the mean mask agreement over the last search epoch, and the
validation accuracy at the fix and at the end. Usage: tuning_stats.py OUT.json RUN_DIR..."""
import json
import sys


def summarise(run):
    events = [json.loads(line) for line in open(run + "/events.jsonl") if line.strip()]
    started = [e for e in events if e["type"] == "run_started"][-1]
    steps = {e["step"]: e for e in events if e["type"] == "step"}  # a resumed step supersedes
    search = [steps[k] for k in sorted(steps) if steps[k]["phase"] == "search"]
    epochs = {e["epoch"]: e for e in events if e["type"] == "epoch"}
    out = {"run_dir": run, "mode": started["mode"], "config": started["config"]}
    if search:
        last = search[-1]
        tail = search[-started["steps_per_epoch"]:]
        out.update({
            "max_abs_alpha_at_fix": max(abs(a) for a in last["alpha"]),
            "alpha_margin_at_fix": last.get("alpha_margin"),
            "noise_at_fix": last.get("noise_scale"),
            "mask_agreement_last_search_epoch": sum(s["mask_agreement"] for s in tail) / len(tail),
        })
        fixes = [e for e in events if e["type"] == "phase" and e["to"] == "fixed"]
        if fixes:
            at_fix = [e for e in epochs.values() if e["step"] + 1 == fixes[-1]["step"]]
            out["val_accuracy_at_fix"] = at_fix[0]["val_accuracy"] if at_fix else None
    ordered = [epochs[k] for k in sorted(epochs)]
    out["val_accuracy_per_epoch"] = [e["val_accuracy"] for e in ordered]
    out["final_val_accuracy"] = ordered[-1]["val_accuracy"] if ordered else None
    out["final_train_accuracy"] = ordered[-1]["train_accuracy"] if ordered else None
    out["epoch_seconds"] = sum(e["seconds"] for e in ordered)
    return out


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    rows = [summarise(run) for run in sys.argv[2:]]
    for r in rows:
        print("%-40s max|a| %s  agreement %s  val end %s" % (
            r["run_dir"], r.get("max_abs_alpha_at_fix"), r.get("mask_agreement_last_search_epoch"),
            r["final_val_accuracy"]))
    with open(sys.argv[1], "w") as f:
        json.dump({"benchmark": "search-tuning", "rows": rows}, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
