"""Mutation testing of the core modules with Cosmic Ray: each group's mutants against its own test folder.

    python scripts/mutation.py                              # every group, every mutant (hours on 2 cores)
    python scripts/mutation.py --sample 25 --groups priors  # a seeded random sample of each group's mutants
    make mutation                                           # the same, MUTATION_ARGS="--sample 25"

Needs the mutation extra (pip install -e ".[mutation]"). Cosmic Ray rewrites one source file per mutant and
puts it back after the tests, so run it in a checkout nobody else is using at the time (`git worktree add`).
The checkout's own src/ is tested, whichever convis the environment has installed. A mutant is killed when
its group's tests fail or run past the timeout (three times the unmutated run, at least a minute). Mutants
into bitwise operators and out of `|` (type unions, mostly) are left out. Prints the share killed per group
and writes each session and the survivors' diffs under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

ROOT = Path(__file__).resolve().parents[1]
# group: (the code mutated, the tests that must catch it)
GROUPS = {
    "objectives": ("src/objectives", "tests/objectives"),
    "priors": ("src/priors", "tests/priors"),
    "params": ("src/params", "tests/params"),
    "metrics": ("src/metrics", "tests/metrics"),
    "attribution": ("src/attribution", "tests/attribution"),
    "backbones": ("src/backbones", "tests/backbones"),
    "visualisation": ("src/modules/visualisation.py", "tests/modules"),
}
EXCLUDED = [r"core/ReplaceBinaryOperator_.*_(BitOr|BitAnd|BitXor|LShift|RShift)$", r"core/ReplaceBinaryOperator_BitOr_"]
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "disabled"}


def test_command(tests: str) -> str:
    return f'{sys.executable} -m pytest -x -q -p no:cacheprovider -m "not slow" {tests}'


def environment(shim: Path) -> dict[str, str]:
    """This checkout's src/ as `convis` ahead of any installed one, one thread per test run."""
    (shim / "convis").symlink_to(ROOT / "src", target_is_directory=True)
    return {**os.environ, **THREADS, "PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])}


def baseline(tests: str, env: dict[str, str]) -> float:
    """Seconds the unmutated tests take; they must pass, or every mutant would count as killed."""
    start = time.monotonic()
    done = subprocess.run(test_command(tests), shell=True, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{tests} fail before any mutation:\n{done.stdout[-2000:]}")
    return time.monotonic() - start


def write_config(path: Path, code: str, tests: str, timeout: float) -> None:
    excluded = ", ".join(json.dumps(e) for e in EXCLUDED)
    path.write_text(
        f'[cosmic-ray]\nmodule-path = "{code}"\ntimeout = {timeout:.0f}\nexcluded-modules = []\n'
        f"test-command = {json.dumps(test_command(tests))}\n\n"
        f'[cosmic-ray.distributor]\nname = "local"\n\n'
        f"[cosmic-ray.filters.operators-filter]\nexclude-operators = [{excluded}]\n"
    )


def sample(session: Path, size: int | None, seed: int) -> None:
    """Mark all but `size` pending mutants, drawn at random, as skipped."""
    if size is None:
        return
    with use_db(session, WorkDB.Mode.open) as db:
        pending = [item.job_id for item in db.pending_work_items]
        drop = set(pending) - set(random.Random(seed).sample(pending, min(size, len(pending))))
        for job in drop:
            db.set_result(job, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output="not sampled"))


def summary(session: Path, survivors: Path) -> dict[str, int]:
    """Counts of killed, survived and incompetent mutants; the survivors' diffs written to `survivors`."""
    counts = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0}
    diffs = []
    with use_db(session, WorkDB.Mode.open) as db:
        for _, result in db.results:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                counts["skipped"] += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                counts["survived"] += 1
                diffs.append(result.diff)
            elif result.test_outcome == TestOutcome.INCOMPETENT or result.worker_outcome != WorkerOutcome.NORMAL:
                counts["incompetent"] += 1
            else:
                counts["killed"] += 1
    survivors.write_text("\n".join(diffs))
    return counts


def cosmic_ray(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "cosmic_ray.cli", *args], cwd=ROOT, env=env, check=True)


def run_group(name: str, out: Path, args: argparse.Namespace, env: dict[str, str]) -> dict:
    code, tests = GROUPS[name]
    seconds = baseline(tests, env)
    config, session = out / f"{name}.toml", out / f"{name}.sqlite"
    write_config(config, code, tests, max(60.0, 3 * seconds))
    session.unlink(missing_ok=True)
    cosmic_ray("init", str(config), str(session), env=env)
    subprocess.run(
        [sys.executable, "-m", "cosmic_ray.tools.filters.operators_filter", str(session), str(config)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    sample(session, args.sample, args.seed)
    cosmic_ray("exec", str(config), str(session), env=env)
    counts = summary(session, out / f"{name}-survivors.diff")
    tested = counts["killed"] + counts["survived"]
    return {
        "group": name,
        "tests_s": round(seconds, 1),
        **counts,
        "killed_share": counts["killed"] / tested if tested else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    parser.add_argument("--sample", type=int, default=None, help="mutants per group, drawn at random (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "mutation")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as shim:
        env = environment(Path(shim))
        for name in args.groups:
            rows.append(run_group(name, args.out, args, env))
            row = rows[-1]
            share = "n/a" if row["killed_share"] is None else f"{row['killed_share']:.0%}"
            print(
                f"{name:>13}: {share} killed ({row['killed']} of {row['killed'] + row['survived']}; "
                f"{row['incompetent']} incompetent, {row['skipped']} not run)",
                flush=True,
            )
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
