"""Crash at any point (issue 15, part 3), the full suite: ``make crash-suite``.

Starts its own local control plane and PostgreSQL in a temporary directory, an
operator for one namespace, and runs ``--trials`` trials of each fault (kill -9 of
the migration Job's process; kill -9 of the operator) across transactional,
multi-step and non-transactional plans, restarting the API server or PostgreSQL in
about a third of the waves. Prints the trial count, convergence time percentiles
and every violation with the seed; exits 1 if there was one. The driver is
tests/e2e/crash_support.py (the short version is tests/e2e/test_crash.py).

    .venv/bin/python bench/crash/run.py [--trials 50] [--seed N] [--wave 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from crash_support import FAULTS, Suite, plan_waves, report, run, summary_figures  # noqa: E402
from kube_support import Operator, apply_crds  # noqa: E402
from kubernetes import config  # noqa: E402

from devenv import cluster as devcluster  # noqa: E402
from devenv import pg as devpg  # noqa: E402

NS = "crash"


def log(message: str) -> None:
    print(f"[bench/crash] {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50, help="trials of each fault")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--wave", type=int, default=4, help="trials running at once")
    parser.add_argument("--operator-log", help="keep the operator's log in this file")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="schemaop-crash-") as tmp:
        work = Path(tmp)
        cluster = devcluster.start(work / "cluster")
        postgres = devpg.start(work / "postgres")
        operator = None
        try:
            apply_crds(cluster)
            cluster.kubectl("create", "namespace", NS)
            kube = config.new_client_from_config(config_file=str(cluster.kubeconfig))
            os.environ["KUBECONFIG"] = str(cluster.kubeconfig)  # the operator's
            operator = Operator(NS, work / "operator.log")
            operator.start()
            suite = Suite(cluster, postgres, kube, NS, operator, log=log)
            outcomes = list(run(suite, plan_waves(seed, args.trials, args.wave)))
        finally:
            if operator is not None:
                operator.stop()
                if args.operator_log:
                    Path(args.operator_log).write_text(operator.log())
            postgres.destroy()
            cluster.stop()
    print(report(outcomes, seed))
    print(f"  wall time {time.monotonic() - started:.0f} s")
    if args.json:
        figures = {
            fault: summary_figures([o for o in outcomes if o.trial.fault == fault])
            for fault in FAULTS
        }
        print(json.dumps({"seed": seed, **figures}, indent=1))
    return 1 if any(o.violations for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
