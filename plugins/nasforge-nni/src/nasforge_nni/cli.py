"""``nasforge nni-oneshot``: one-shot NAS with NNI on scikit-learn's digits, printing the derived architecture."""

from __future__ import annotations

import argparse
import json

from nasforge.core.errors import UserError


class OneShotCommand:
    """Train an NNI one-shot supernet (DARTS, GumbelDARTS, RandomOneShot, Proxyless) and print the architecture it derives."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's arguments."""
        from .oneshot import ALGORITHMS, OPERATIONS, REFUSED

        parser.add_argument("--algorithm", default="darts", help=f"one of {sorted(ALGORITHMS)} (refused: {sorted(REFUSED)})")
        parser.add_argument("--layers", type=int, default=3, help="searched layers (choices op_1 .. op_N; default 3)")
        parser.add_argument("--ops", default=",".join(OPERATIONS), help=f"comma-separated candidate operations (default: all of {','.join(OPERATIONS)})")
        parser.add_argument("--epochs", type=int, default=2, help="supernet training epochs (default 2)")
        parser.add_argument("--limit", type=int, default=None, help="use at most this many training images")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def run(self, args: argparse.Namespace) -> int:
        """Run the search; user mistakes raise :class:`UserError` (one line, exit code 2)."""
        from .oneshot import default_space, digits_split, search_oneshot

        if args.layers < 1:
            raise UserError(f"--layers must be at least 1, got {args.layers}")
        ops = tuple(op.strip() for op in args.ops.split(",") if op.strip())
        if not ops:
            raise UserError("--ops is empty: name at least one operation")
        space = default_space(args.layers, ops)
        train, valid = digits_split(limit=args.limit, seed=args.seed)
        result = search_oneshot(space, train, valid, algorithm=args.algorithm, epochs=args.epochs, seed=args.seed)
        if args.json:
            print(json.dumps({"algorithm": result.algorithm, "architecture": result.architecture.to_dict(), "epochs": result.epochs}))
        else:
            print(f"{result.algorithm}: {result.architecture.to_json()}")
        return 0
