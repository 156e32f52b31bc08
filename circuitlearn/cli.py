"""The ``circuitlearn`` command: the only argparse module of the package.

Contract (docs/cli.md), for every command:

- ``--json`` prints exactly one JSON object on stdout and nothing else there (anything a library
  or simulator prints while the command runs is sent to stderr);
- a user error (a :class:`~circuitlearn.errors.CircuitLearnError`, a missing file, bad arguments)
  exits 2 with one line on stderr naming the file, line or element, without a traceback;
- success exits 0; a result that is valid but failed (a solve that did not converge, a benchmark
  script that failed) exits 1 after printing it.

Adding a command: write ``_add_<name>(parser)`` (its arguments) and ``_run_<name>(args) ->
Outcome`` (the JSON object and the human text), then append ``Command(name, help, add, run)``
to :data:`COMMANDS`. Shared helpers: :func:`load_circuit` (NETLIST plus ``--set``) and
:func:`parse_assignments` (``NAME=VALUE`` lists such as ``--set`` or ``--output NODE=TARGET``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from circuitlearn import __version__
from circuitlearn.circuit import Circuit
from circuitlearn.circuit.units import try_parse_value
from circuitlearn.errors import CircuitError, CircuitLearnError, ConvergenceError

__all__ = [
    "COMMANDS",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "Outcome",
    "UsageError",
    "build_parser",
    "format_operating_point",
    "load_circuit",
    "main",
    "parse_assignments",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
"""Exit codes: success; a valid result that failed (non-convergence...); a user error."""


class UsageError(Exception):
    """A command-line mistake (bad syntax, missing file); printed as one line, exit code 2."""


@dataclass
class Outcome:
    """What a command produced: the ``--json`` object, the text for people, and its exit code."""

    payload: dict[str, Any]
    text: str
    code: int = EXIT_OK


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, one-line help, argument builder and runner."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Outcome]
    description: str = field(default="")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``circuitlearn`` command line and return its exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (``sys.argv[1:]`` by default).

    Examples
    --------
    >>> main(["--version"])
    circuitlearn 0.1.0
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except UsageError as exc:
        return _fail(str(exc))
    if args.version:
        print(f"circuitlearn {__version__}")
        return EXIT_OK
    if args.command is None:
        names = ", ".join(c.name for c in COMMANDS)
        return _fail(f"circuitlearn: choose a command ({names}); see circuitlearn --help")
    want_json = bool(getattr(args, "json", False))
    try:
        with _stdout_to_stderr(want_json), _one_line_warnings(args.command):
            outcome = args.run(args)
    except ConvergenceError as exc:
        result = getattr(exc, "result", None)
        if result is None or not hasattr(result, "to_dict"):
            return _fail(f"circuitlearn {args.command}: {exc}", code=EXIT_FAILED)
        outcome = Outcome(result.to_dict(), format_operating_point(result), EXIT_FAILED)
    except (CircuitLearnError, UsageError) as exc:
        return _fail(f"circuitlearn {args.command}: {exc}")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"circuitlearn {args.command}: {where}{exc.strerror or exc}")
    if want_json:
        sys.stdout.write(json.dumps(_jsonable(outcome.payload), allow_nan=False) + "\n")
    else:
        sys.stdout.write(outcome.text.rstrip("\n") + "\n")
    sys.stdout.flush()
    return outcome.code


@contextlib.contextmanager
def _one_line_warnings(command: str) -> Iterator[None]:
    """Show warnings as ``circuitlearn CMD: warning: ...`` lines on stderr (no file/line noise)."""

    def show(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        text = " ".join(str(message).split())
        sys.stderr.write(f"circuitlearn {command}: warning: {text}\n")
        sys.stderr.flush()

    with warnings.catch_warnings():
        warnings.simplefilter("default")  # the user sees each warning, whatever the filters
        warnings.showwarning = show  # type: ignore[assignment]
        yield


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command of :data:`COMMANDS`."""
    parser = _Parser(
        prog="circuitlearn",
        description="Simulate and train analog learning circuits (native DC solver and ngspice).",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        child = sub.add_parser(
            command.name, help=command.help, description=command.description or command.help
        )
        command.add_arguments(child)
        child.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        child.set_defaults(run=command.run)
    return parser


def parse_assignments(items: Sequence[str] | None, option: str) -> dict[str, float]:
    """Parse ``NAME=VALUE`` strings (engineering suffixes allowed: ``2k``, ``10u``, ``1meg``).

    Names are lower-cased. Raises :class:`UsageError` naming ``option`` and the bad item.

    Examples
    --------
    >>> parse_assignments(["V1=0.3", "r4=2k"], "--set")
    {'v1': 0.3, 'r4': 2000.0}
    """
    values: dict[str, float] = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        name = name.strip().lower()
        if not sep or not name or not text.strip():
            raise UsageError(f"{option} {item!r}: expected NAME=VALUE, e.g. {option} r4=2k")
        value = try_parse_value(text)
        if value is None or not math.isfinite(value):
            raise UsageError(
                f"{option} {item!r}: {text.strip()!r} is not a number (use e.g. 0.3, 2k, 10u, 1meg)"
            )
        values[name] = value
    return values


def load_circuit(
    path: str | os.PathLike[str], sets: Sequence[str] | None = None, seed: int | None = None
) -> Circuit:
    """Read a netlist file and apply ``--set NAME=VALUE`` overrides; returns a flat circuit.
    ``seed`` seeds the deck's Monte Carlo draws (``from_spice(seed=)``).

    Overrides are applied after flattening, so elements inside subcircuits are reachable by their
    flat names (``r.x1.r1``). Errors name the file (and line, for the element's card).
    """
    from circuitlearn.netlist import flat_origins, from_spice

    file = Path(path)
    if not file.exists():
        raise UsageError(f"{file}: no such netlist file")
    if not file.is_file():
        raise UsageError(f"{file}: is not a file (expected a SPICE netlist)")
    circuit = from_spice(file, check=True, seed=seed)
    origins = flat_origins(circuit)
    overrides = parse_assignments(sets, "--set")
    try:
        flat = circuit.flatten()
    except CircuitError as exc:
        raise CircuitError(
            f"{_where(origins, file, exc.element)}{exc}", element=exc.element
        ) from None
    for name, value in overrides.items():
        if name not in flat:
            known = ", ".join(e.name for e in flat.elements[:8]) + (
                ", ..." if len(flat) > 8 else ""
            )
            raise UsageError(
                f"--set {name}=...: no element named {name!r} in {file} (elements: {known})"
            )
        try:
            flat.set_value(name, value)
        except CircuitError as exc:
            raise CircuitError(
                f"{_where(origins, file, name)}--set {name}={_fmt(value)}: {exc}", element=name
            ) from None
    return flat


def format_operating_point(op: Any, title: str = "") -> str:
    """Readable table of an :class:`~circuitlearn.solve.OperatingPoint`: node voltages, source
    currents and the convergence diagnostics."""
    status = "converged" if op.converged else f"NOT converged ({op.message})"
    residual = "n/a" if not math.isfinite(op.max_residual) else f"{op.max_residual:.3g} A"
    lines = [title] if title else []
    lines += [
        f"backend {op.backend}: {status}; strategy {op.strategy}, {op.iterations} iterations, "
        f"max KCL residual {residual}",
        "",
    ]
    width = max([len("node"), len("source"), *map(len, op.voltages), *map(len, op.currents)])
    lines.append(f"{'node':<{width}}  {'voltage [V]':>16}")
    lines += [f"{name:<{width}}  {value + 0.0:>16.9g}" for name, value in op.voltages.items()]
    if op.currents:
        lines += ["", f"{'source':<{width}}  {'current [A]':>16}"]
        lines += [f"{name:<{width}}  {value + 0.0:>16.9g}" for name, value in op.currents.items()]
    if not op.converged and getattr(op, "worst_node", None):
        lines += ["", f"largest residual at node {op.worst_node}"]
    return "\n".join(lines)


# -- simulate ---------------------------------------------------------------------------------


def _add_simulate(parser: argparse.ArgumentParser) -> None:
    from circuitlearn.solve import BACKENDS

    parser.add_argument("netlist", metavar="NETLIST", help="SPICE netlist file (.cir)")
    parser.add_argument(
        "--backend", default="native", choices=BACKENDS, help="solver (default: native)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="override an element's value, e.g. --set v1=0.3 --set r4=2k (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=None, metavar="S",
        help="seed of the deck's Monte Carlo draws (agauss, gauss, aunif, unif, limit; default: "
        "the deck's .options seed=, else 1)",
    )  # fmt: skip
    parser.add_argument(
        "--spice-options", default="native", choices=("native", "deck"),
        help="ngspice backend: run at the native solver's tolerances (native, the default: both "
        "backends agree to the printed digits) or keep the deck's own .options (deck)",
    )  # fmt: skip


def _run_simulate(args: argparse.Namespace) -> Outcome:
    from circuitlearn.solve import solve_dc

    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be >= 0; got {args.seed}")
    circuit = load_circuit(args.netlist, args.set, args.seed)
    if args.spice_options != "native" and args.backend != "ngspice":
        raise UsageError("--spice-options applies to --backend ngspice only")
    options = {"spice_options": args.spice_options} if args.backend == "ngspice" else None
    op = solve_dc(circuit, backend=args.backend, options=options)
    title = f"{circuit.title} ({args.netlist})"
    return Outcome(
        op.to_dict(), format_operating_point(op, title), EXIT_OK if op.converged else EXIT_FAILED
    )


# -- demo -------------------------------------------------------------------------------------


def _add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="circuitlearn-demo", metavar="DIR",
        help="run directory for figures and results (default: ./circuitlearn-demo)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--no-ngspice", action="store_true", help="skip the ngspice comparison")
    parser.add_argument(
        "--steps", type=int, default=None, metavar="N",
        help="training steps per learning rule (default: 25; 0 skips training)",
    )  # fmt: skip


def _run_demo(args: argparse.Namespace) -> Outcome:
    from circuitlearn.demo import DEMO_STEPS, run_demo

    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0; got {args.seed}")
    if args.steps is not None and args.steps < 0:
        raise UsageError(f"--steps must be >= 0; got {args.steps}")
    report = run_demo(
        Path(args.out),
        seed=args.seed,
        ngspice=not args.no_ngspice,
        steps=DEMO_STEPS if args.steps is None else args.steps,
    )
    return Outcome(report.to_dict(), report.summary())


# -- bench ------------------------------------------------------------------------------------

_BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


def _add_bench(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help="benchmarks to run (script names without .py; default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--dir", default=None, metavar="DIR",
        help="benchmarks folder (default: benchmarks/ of the source checkout)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds per script (default 1800)"
    )
    parser.add_argument(
        "--record", action="store_true",
        help="let the scripts rewrite benchmarks/results/*.csv and benchmarks/README.md",
    )  # fmt: skip


def _run_bench(args: argparse.Namespace) -> Outcome:
    folder = Path(args.dir) if args.dir else _BENCH_DIR
    if not folder.is_dir():
        raise UsageError(
            f"{folder}: no benchmarks folder (run from a source checkout or pass --dir)"
        )
    scripts = {p.stem: p for p in sorted(folder.glob("*.py")) if _is_script(p)}
    unknown = [n for n in args.names if n not in scripts]
    if unknown:
        raise UsageError(
            f"no benchmark {unknown[0]!r} in {folder}; available: {', '.join(scripts) or 'none'}"
        )
    chosen = {n: scripts[n] for n in args.names} if args.names else scripts
    results: dict[str, Any] = {}
    texts: list[str] = []
    for name, script in chosen.items():
        flags = [*(["--json"] if args.json else []), *(["--record"] if args.record else [])]
        if not args.json:
            print(f"== {name}", flush=True)
        start = time.perf_counter()
        code, stdout, stderr_tail = _stream_script(
            [sys.executable, str(script), *flags], folder.parent, args.timeout, echo=not args.json
        )
        seconds = round(time.perf_counter() - start, 3)
        if code is None:
            results[name] = {"status": "timeout", "seconds": args.timeout}
            texts.append(f"== {name}: timed out after {args.timeout:g} s")
            continue
        entry: dict[str, Any] = {"status": "ok" if code == 0 else "failed",
                                 "returncode": code, "seconds": seconds}  # fmt: skip
        if args.json and code == 0:
            try:
                entry["result"] = json.loads(stdout)
            except json.JSONDecodeError:
                entry.update(status="failed", error="its --json output is not one JSON object")
        if entry["status"] != "ok":
            entry["stderr_tail"] = stderr_tail
        results[name] = entry
        texts.append(f"== {name} ({entry['status']}, {seconds:.1f} s)")
    failed = [n for n, r in results.items() if r["status"] != "ok"]
    payload = {"benchmarks": results, "failed": failed, "folder": str(folder)}
    text = "\n\n".join(texts) if texts else f"no benchmark scripts in {folder}"
    if failed:
        text += f"\n\nfailed: {', '.join(failed)}"
    return Outcome(payload, text, EXIT_FAILED if failed else EXIT_OK)


def _stream_script(
    command: list[str], cwd: Path, timeout: float, *, echo: bool
) -> tuple[int | None, str, list[str]]:
    """Run a benchmark script, passing its lines on as they come (stdout too when ``echo``).

    Returns the exit code (None on timeout), the whole stdout and the last lines of stderr.
    """
    import threading
    from collections import deque

    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, bufsize=1,
    )  # fmt: skip
    tail: deque[str] = deque(maxlen=5)

    def relay_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            tail.append(line.rstrip())

    relay = threading.Thread(target=relay_stderr, daemon=True)
    relay.start()
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    out: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            out.append(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
        code = process.wait()
    finally:
        timed_out = not timer.is_alive()
        timer.cancel()
        relay.join(timeout=5)
    return (None if timed_out and code != 0 else code), "".join(out), list(tail)


# -- learning: gradient, report, export-phase, conservation -------------------------------------

_VARIANTS = ("centered", "positive", "negative")


def _add_task(parser: argparse.ArgumentParser, *, backend: bool = True) -> None:
    """The learning commands' task options: NETLIST, --trainable, --output, --set, --beta..."""
    from circuitlearn.solve import BACKENDS

    parser.add_argument("netlist", metavar="NETLIST", help="SPICE netlist file (.cir)")
    parser.add_argument(
        "--trainable", nargs="+", action="extend", required=True, metavar="GLOB",
        help="trainable resistors by name or glob, case-insensitive (e.g. 'r*')",
    )  # fmt: skip
    parser.add_argument(
        "--output", nargs="+", action="extend", required=True, metavar="NODE=TARGET",
        help="output node and its target voltage, e.g. --output out=0.3 (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="override an element's value before learning (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--beta", type=_positive_float, default=None, metavar="B",
        help="nudging strength [S] (cl: clamping factor eta; fd: relative step); "
        "default scales with the mean trainable conductance (docs/learning.md)",
    )  # fmt: skip
    parser.add_argument("--cost", default="mse", choices=("mse", "cross_entropy"))
    if backend:
        parser.add_argument(
            "--backend", default="native", choices=BACKENDS, help="solver (default: native)"
        )


def _add_gradient(parser: argparse.ArgumentParser) -> None:
    _add_task(parser)
    parser.add_argument("--method", default="exact", choices=_method_names(), help="default: exact")
    parser.add_argument("--variant", default="centered", choices=_VARIANTS)
    parser.add_argument(
        "--clamp", default=None, choices=("matched", "relative"),
        help="cl only: 'matched' (default) tends to the gradient; 'relative' is Stern et al.'s "
        "v + eta (y - v), whose limit weights the cost gradient by the output conductances",
    )  # fmt: skip
    parser.add_argument(
        "--batch", default=None, metavar="FILE.csv",
        help="one sample per row: columns name V/I sources and y(NODE) targets; prints the "
        "gradient of the mean cost (docs/cli.md)",
    )  # fmt: skip


def _run_gradient(args: argparse.Namespace) -> Outcome:
    from circuitlearn.learn.api import batch_gradient

    circuit = load_circuit(args.netlist, args.set)
    outputs = parse_assignments(args.output, "--output")
    gradient = batch_gradient(
        circuit, args.trainable, outputs, args.batch, method=args.method, variant=args.variant,
        beta=args.beta, backend=args.backend, cost=args.cost, clamp=args.clamp,
    )  # fmt: skip
    payload = gradient.to_dict()
    if args.batch is None:  # the single-sample contract has no batch_size
        del payload["batch_size"]
    beta = "n/a" if payload["beta"] is None else f"{payload['beta']:.4g}"
    if "beta_range" in payload:
        beta += " (mean; {:.4g} to {:.4g})".format(*payload["beta_range"])
    width = max([len("parameter"), *map(len, gradient.values)])
    samples = f"; batch of {gradient.batch_size}" if args.batch is not None else ""
    lines = [
        f"{args.method} gradient of {args.netlist} ({args.backend}{samples}); beta {beta}; "
        f"{'mean ' if samples else ''}cost C = {gradient.cost:.9g} V^2",
        "",
        f"{'parameter':<{width}}  {'G [S]':>14}  {'dC/dG [V^2/S]':>16}",
    ]
    lines += [
        f"{name:<{width}}  {gradient.parameters[name]:>14.6g}  {value:>16.9g}"
        for name, value in gradient.values.items()
    ]
    return Outcome(payload, "\n".join(lines))


def _add_report(parser: argparse.ArgumentParser) -> None:
    _add_task(parser)
    parser.add_argument(
        "--methods", nargs="+", default=None, choices=_method_names()[1:], metavar="METHOD",
        help="methods to compare with the exact gradient (default: fd ep cl aep dyadic)",
    )  # fmt: skip
    parser.add_argument("--variant", default="centered", choices=_VARIANTS)
    parser.add_argument("--plot", default=None, metavar="FILE.png", help="scatter plot vs exact")


def _run_report(args: argparse.Namespace) -> Outcome:
    from circuitlearn.learn import gradient_report
    from circuitlearn.learn.report import DEFAULT_METHODS

    circuit = load_circuit(args.netlist, args.set)
    outputs = parse_assignments(args.output, "--output")
    report = gradient_report(
        circuit, args.trainable, outputs, args.methods or DEFAULT_METHODS, variant=args.variant,
        beta=args.beta, backend=args.backend, cost=args.cost, plot=args.plot,
    )  # fmt: skip
    payload = report.to_dict()
    text = report.to_text()
    if args.plot:
        payload["plot"] = str(args.plot)
        text += f"\n\nscatter plot: {args.plot}"
    return Outcome(payload, text)


def _add_export_phase(parser: argparse.ArgumentParser) -> None:
    _add_task(parser)
    parser.add_argument("--method", required=True, choices=("ep", "cl", "aep", "dyadic"))
    parser.add_argument("--variant", default="centered", choices=_VARIANTS)
    parser.add_argument(
        "-o", "--out", required=True, metavar="OUT.cir",
        help="base file name: writes OUT_free.cir and one OUT_<phase>.cir per phase",
    )  # fmt: skip


def _run_export_phase(args: argparse.Namespace) -> Outcome:
    from circuitlearn.learn import export_phases

    circuit = load_circuit(args.netlist, args.set)
    outputs = parse_assignments(args.output, "--output")
    files = export_phases(
        circuit, args.method, args.trainable, outputs, args.beta, args.out,
        variant=args.variant, cost=args.cost, backend=args.backend,
    )  # fmt: skip
    payload = {"method": args.method, "variant": args.variant, "files": [str(f) for f in files]}
    text = f"wrote {len(files)} ngspice netlists ({args.method}):\n" + "\n".join(
        f"  {f}" for f in files
    )
    return Outcome(payload, text + "\nrun any of them with: ngspice -b FILE")


def _add_conservation(parser: argparse.ArgumentParser) -> None:
    _add_task(parser, backend=False)
    parser.add_argument("--method", default="ep", choices=_method_names(conservation=True))
    parser.add_argument(
        "--lr", type=_positive_float, default=None, metavar="ETA",
        help="learning rate [S^2/V^2] (default: relative to |G|/|dC/dG|)",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, default=100, metavar="N", help="default: 100")
    parser.add_argument("--plot", default=None, metavar="FILE.png", help="drift and loss figure")


def _run_conservation(args: argparse.Namespace) -> Outcome:
    from circuitlearn.diagnostics import conservation_run

    if args.steps < 1:
        raise UsageError(f"--steps must be >= 1; got {args.steps}")
    if args.cost != "mse":
        raise UsageError("conservation: only --cost mse is supported (the law is stated for MSE)")
    circuit = load_circuit(args.netlist, args.set)
    outputs = parse_assignments(args.output, "--output")
    result = conservation_run(
        circuit, args.trainable, outputs, method=args.method, beta=args.beta, lr=args.lr,
        steps=args.steps, plot=args.plot,
    )  # fmt: skip
    verdict = "applies" if result["applicable"] else "does NOT apply"
    lines = [
        f"conservation of {result['quantity']} on {args.netlist} "
        f"({args.method}, {args.steps} steps)",
        f"the law {verdict}" + ("" if result["applicable"] else ":"),
        *[f"  - {reason}" for reason in result["reasons"]],
        f"initial {result['initial']:.12g}   final {result['final']:.12g}   "
        f"relative drift {result['relative_drift']:.3e}",
        f"cost {result['cost_initial']:.6g} -> {result['cost_final']:.6g}   "
        f"linear circuit: {'yes' if result['linear'] else 'no'}",
    ]
    if result.get("message"):
        lines.append(str(result["message"]))
    if args.plot:
        lines.append(f"figure: {args.plot}")
    return Outcome(result, "\n".join(lines))


def _add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config", metavar="PRESET|CONFIG.toml",
        help="a packaged preset's name (e.g. iris, fashion_drn_xs) or a TOML config file",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=None, metavar="S",
        help="override every seed of the config (data split, conductances, batch order)",
    )  # fmt: skip
    parser.add_argument(
        "--epochs", type=int, default=None, metavar="N", help="override [learning] epochs"
    )
    parser.add_argument(
        "--method", default=None, choices=_method_names(trainable=True),
        help="override [learning] method",
    )  # fmt: skip
    parser.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in --out"
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="run directory (default: runs/<config stem>[-<method>][-seed<S>])",
    )
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="processes sharing each mini-batch, one core each (Linux; default 1); the "
        "gradients agree with 1 worker to rounding",
    )  # fmt: skip


def _run_train(args: argparse.Namespace) -> Outcome:
    from circuitlearn.train.config import load_config, with_overrides
    from circuitlearn.train.trainer import TrainingStoppedError, run_label, train

    config = with_overrides(
        load_config(args.config), seed=args.seed, epochs=args.epochs, method=args.method
    )
    out = args.out
    if out is None and (args.seed is not None or args.method is not None):
        # one run directory per overridden method and seed by default
        method = "" if args.method is None else f"-{args.method}"
        seed = "" if args.seed is None else f"-seed{args.seed}"
        out = Path("runs") / f"{Path(config.source).stem}{method}{seed}"
    try:
        result = train(config, out, resume=args.resume, workers=args.workers)
    except TrainingStoppedError as exc:  # a run that stopped still reports as a run
        lines = [f"training stopped: {exc}"]
        if "checkpoint" in exc.payload:
            lines.append(f"last good checkpoint: {exc.payload['checkpoint']} (--resume continues)")
        return Outcome(exc.payload, "\n".join(lines), EXIT_FAILED)
    last = result.metrics["epochs"][-1]
    payload = {
        "run_dir": str(result.run_dir),
        "metrics": str(result.run_dir / "metrics.json"),
        "checkpoint": str(result.checkpoint),
        "figures": [str(f) for f in result.figures],
        "final": last,
    }
    text = (
        f"trained with {run_label(result.metrics)} on {result.metrics['dataset']} for "
        f"{last['epoch']} epochs: train loss {last['train_loss']:.4g}, "
        f"test accuracy {last['test_accuracy']:.3f}\nrun directory: {result.run_dir}\n"
        + "\n".join(f"figure: {f}" for f in result.figures)
    )
    return Outcome(payload, text)


def _add_export_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a circuitlearn train run directory")
    parser.add_argument(
        "-o", "--out", required=True, metavar="NET.cir", help="the netlist to write"
    )  # fmt: skip
    parser.add_argument(
        "--sample", type=int, default=0, metavar="I",
        help="which sample's inputs the sources hold (default: 0)",
    )  # fmt: skip
    parser.add_argument(
        "--split", default="test", choices=("test", "train", "validation"),
        help="the set the sample comes from (default: test)",
    )  # fmt: skip
    parser.add_argument(
        "--epoch", type=int, default=None, metavar="E",
        help="the checkpoint's epoch (default: the last; 0: the initial conductances)",
    )  # fmt: skip


def _run_export_run(args: argparse.Namespace) -> Outcome:
    from circuitlearn.solve import solve_dc
    from circuitlearn.train.export import trained_circuit
    from circuitlearn.train.rundir import write_text

    out, run = Path(args.out), Path(args.run_dir)
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; name the netlist file (e.g. net.cir)")
    if not out.resolve().parent.is_dir():
        raise UsageError(f"--out {out}: its folder {out.resolve().parent} does not exist")
    if run.is_dir() and out.resolve().parent == run.resolve():
        raise UsageError(
            f"--out {out}: write it outside the run directory (a run directory holds only the "
            "run's files, and --resume would refuse it)"
        )
    trained = trained_circuit(run, sample=args.sample, split=args.split, epoch=args.epoch)
    write_text(out, trained.circuit.to_spice())
    op = solve_dc(trained.circuit)
    outputs = {node: op.voltage(node) for node in trained.output_nodes}
    answer = max(range(len(outputs)), key=lambda k: outputs[trained.output_nodes[k]])
    payload = {
        "netlist": str(out), "run_dir": str(run), "epoch": trained.epoch,
        "split": trained.split, "sample": trained.sample, "label": trained.label,
        "output_nodes": list(trained.output_nodes), "native_outputs": outputs,
        "native_class": answer,
    }  # fmt: skip
    winner = trained.output_nodes[answer]
    text = (
        f"wrote {out}: the network of {run} after epoch {trained.epoch}, inputs of "
        f"{trained.split} sample {trained.sample} (class {trained.label})\n"
        f"native solve: class {answer} ({winner} = {outputs[winner]:.4g} V, the highest of "
        f"{', '.join(trained.output_nodes)})\nrun it with: ngspice -b {out}"
    )
    return Outcome(payload, text)


def _add_dyadic_bp(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes", required=True, metavar="N0,N1,...,NL", help="layer widths, input first"
    )
    parser.add_argument(
        "--steps", type=int, default=None, metavar="K", help="Euler steps (default: 2L + 2)"
    )
    parser.add_argument(
        "--step-size", type=_positive_float, default=1.0, metavar="H",
        help="Euler step h (default 1: exact at step 2L; other h converge without reaching it)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="default: 0")
    parser.add_argument("--plot", default=None, metavar="FILE.png", help="error vs step figure")


def _run_dyadic_bp(args: argparse.Namespace) -> Outcome:
    from circuitlearn.learn.dyadic_bp import dyadic_bp_trace

    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps must be >= 1; got {args.steps}")
    trace = dyadic_bp_trace(args.sizes, steps=args.steps, step_size=args.step_size, seed=args.seed)
    payload = trace.to_dict()
    lines = [
        f"Dyadic BP on sizes {','.join(map(str, trace.sizes))} (L = {trace.depth}), "
        f"h = {trace.step_size:g}: relative error of the weight gradient vs backprop",
        *[f"  step {k:3d}  {e:.3e}" for k, e in enumerate(trace.relative_error, start=1)],
    ]
    if args.plot:
        from circuitlearn.diagnostics.learning_plots import plot_dyadic_bp

        plot_dyadic_bp([trace], path=args.plot)
        payload["plot"] = str(args.plot)
        lines.append(f"figure: {args.plot}")
    return Outcome(payload, "\n".join(lines))


def _method_names(**capabilities: bool) -> tuple[str, ...]:
    """Learning method names from the registry (imported here: ``--help`` stays fast)."""
    from circuitlearn.learn.methods import names

    return names(**capabilities)


def _add_sweep(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep_file", metavar="SWEEP.toml", help="sweep definition (TOML)")
    parser.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="address of a running dask scheduler (default: a LocalCluster on this machine)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="LocalCluster workers (default: [sweep] workers, else 2)",
    )  # fmt: skip
    parser.add_argument(
        "--train-workers", type=int, default=None, metavar="N",
        help="processes sharing each train run's mini-batches (default: [sweep] train_workers, "
        "else 1); with --workers 1, one long run at a time on N cores",
    )  # fmt: skip
    parser.add_argument(
        "--collect", action="store_true",
        help="compute nothing: rebuild the table and figure from the runs finished so far",
    )  # fmt: skip


def _run_sweep(args: argparse.Namespace) -> Outcome:
    import dataclasses

    from circuitlearn.sweep import load_sweep, run_sweep

    spec = load_sweep(args.sweep_file)
    if args.workers is not None:
        if args.workers < 1:
            raise UsageError(f"--workers must be >= 1; got {args.workers}")
        spec = dataclasses.replace(spec, workers=args.workers)
    if args.train_workers is not None:
        if args.train_workers < 1:
            raise UsageError(f"--train-workers must be >= 1; got {args.train_workers}")
        spec = spec.with_train_workers(args.train_workers)
    result = run_sweep(
        spec,
        scheduler=args.scheduler,
        progress=lambda line: print(line, file=sys.stderr),
        compute=not args.collect,
    )
    text = (
        f"{result.computed} runs computed, {result.skipped} already done, "
        f"{len(result.failed)} failed\n\n{result.table_md.read_text(encoding='utf-8')}\n"
        f"table: {result.table_csv}, {result.table_md}\nfigure: {result.figure}"
    )
    if result.published is not None:
        text += f"\npublished: {result.published}"
    elif spec.publish is not None:
        text += (
            f"\nnot published: {result.missing} of {len(spec.runs)} runs have no result yet; "
            f"{spec.publish} is left as it was"
        )
    text += "".join(f"\nFAILED {run}: {why}" for run, why in result.errors.items())
    return Outcome(result.to_dict(), text, EXIT_FAILED if result.failed else EXIT_OK)


def _positive_float(text: str) -> float:
    value = try_parse_value(text)
    if value is None or not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive number (e.g. 1e-6, 10u); got {text!r}"
        )
    return value


COMMANDS: list[Command] = [
    Command(
        "simulate",
        "DC operating point of a netlist (native solver or ngspice)",
        _add_simulate,
        _run_simulate,
    ),
    Command(
        "demo",
        "small end-to-end example: build, simulate, compare backends, plot",
        _add_demo,
        _run_demo,
    ),
    Command(
        "gradient",
        "dC/dG of trainable resistors by exact, fd, ep, cl, aep or dyadic",
        _add_gradient,
        _run_gradient,
    ),
    Command(
        "report",
        "compare every gradient method with the exact one (table, scatter plot)",
        _add_report,
        _run_report,
    ),
    Command(
        "export-phase",
        "write a learning rule's phase circuits as ngspice netlists",
        _add_export_phase,
        _run_export_phase,
    ),
    Command(
        "conservation",
        "train on fixed targets and track the conserved quantity (McGinnis et al.)",
        _add_conservation,
        _run_conservation,
    ),
    Command(
        "train",
        "train a layered network on a dataset from a TOML config (run directory, checkpoints)",
        _add_train,
        _run_train,
    ),
    Command(
        "export-run",
        "write a trained run's network as an ngspice netlist, inputs set for one sample",
        _add_export_run,
        _run_export_run,
    ),
    Command("bench", "run the benchmark scripts in benchmarks/", _add_bench, _run_bench),
    Command(
        "dyadic-bp",
        "Dyadic Backpropagation: gradient error vs backprop after each Euler step",
        _add_dyadic_bp,
        _run_dyadic_bp,
    ),
    Command(
        "sweep",
        "run a grid of trainings on dask.distributed; one table and figure, resumable",
        _add_sweep,
        _run_sweep,
    ),
]
"""The subcommands, in help order."""


# -- private helpers --------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` (one line) instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    sys.stderr.write(" ".join(message.split()) + "\n")
    sys.stderr.flush()
    return code


@contextlib.contextmanager
def _stdout_to_stderr(active: bool) -> Iterator[None]:
    """Send everything written to stdout (Python and C level) to stderr while ``active``."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved_fd = os.dup(1)
    saved_stream = sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        sys.stdout = saved_stream


def _jsonable(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become ``null``, tuples lists, paths strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        return _jsonable(value.item())
    return value


def _where(origins: dict[str, int], file: Path, element: str | None) -> str:
    line = origins.get(element) if element else None
    return f"{file}:{line}: " if line else f"{file}: "


def _fmt(value: float) -> str:
    return f"{value:g}"


def _is_script(path: Path) -> bool:
    if path.name.startswith("_"):
        return False
    try:
        return "__main__" in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
