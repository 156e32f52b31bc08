"""``circuitlearn sweep SWEEP.toml``: a grid of runs on dask.distributed, one table and figure.

A sweep file::

    [sweep]
    kind = "ratenet"          # or "train" (circuit presets through circuitlearn.train.train)
    out = "runs/comparison"   # default: runs/<file stem>, relative to the sweep file
    workers = 2               # LocalCluster size when no --scheduler is given
    report_epochs = [1, 20]   # table columns: test accuracy after these epochs (and the final)
    plot = "accuracy"         # or "error": the figure's y axis (test accuracy or 1 − it)
    publish = "../docs/RESULTS.md"   # optional: also write the table and figure into this file
    records = "records/comparison"   # optional: where finished runs' records go (default OUT/runs)
    train_workers = 1         # kind "train": processes sharing each run's mini-batches

    [base]                    # parameters shared by every run
    epochs = 20

    [grid]                    # the product of these lists; one run per combination
    dataset = ["mnist", "fashion-mnist"]
    method = ["vf", "aep", "dyadic", "exact"]
    seed = [0, 1, 2]

    [[preset]]                # optional: named sets of parameters, crossed with the grid
    name = "small"
    hidden = [32]

Each run's parameters are hashed into its id; its metrics (its record) are written atomically to
``OUT/runs/<id>.json`` by the worker that ran it, its run folder (``train``: checkpoints) is
``OUT/runs/<id>/``. A run whose record exists is not recomputed, so an interrupted sweep resumes
where it stopped, and a worker killed mid-run loses only that run (dask reschedules it).
``records`` puts the records elsewhere, apart from the bulky run folders: a folder kept under
version control then carries a long sweep's finished runs from one machine or session to the
next (each computes only the runs without a record), and lets ``--collect`` rebuild the table
in any clone. ``train_workers`` (kind ``train``) gives each run that many processes
(``circuitlearn train --workers``; gradients equal to rounding, so not part of a run's id):
with ``workers = 1``, one long run at a time on every core. The table (``OUT/results.csv`` and
``OUT/results.md``: mean ± std over seeds of the test accuracy after each reported epoch) and
the figure (``OUT/accuracy.png``: accuracy against epoch with ±1 std bands, one panel per
dataset or preset) are rebuilt from all run files at the end; the table also holds each cell's
final accuracy (after its runs' last epoch, which may differ between presets) and mean seconds
per epoch.

With ``publish``, the table replaces the lines between ``<!-- BEGIN sweep NAME -->`` and
``<!-- END sweep NAME -->`` of that Markdown file (NAME: the sweep file's stem), followed by the
figure, copied to ``figures/NAME.png`` beside the file: one command regenerates a results section.
Only a complete sweep is published: while runs are missing (failed, not run yet, or a ``--collect``
in a checkout without the run files) the file is left as it is and the local table says how many
runs it holds.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import os
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from circuitlearn.errors import CircuitLearnError, ConfigError
from circuitlearn.sweep.runs import RUN_CHECKS, RUN_KINDS, config_digest
from circuitlearn.train.rundir import RunLock, write_bytes, write_text

__all__ = ["SweepResult", "SweepSpec", "collect", "load_sweep", "run_sweep"]

_SWEEP_KEYS = {
    "kind", "out", "workers", "report_epochs", "plot", "publish", "records", "train_workers",
}  # fmt: skip
_PLOTS = ("accuracy", "error")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file: the run kind, output folder and the list of runs' parameters."""

    kind: str
    out: Path
    runs: list[dict[str, Any]]
    grid_keys: tuple[str, ...]
    workers: int = 2
    report_epochs: tuple[int, ...] = (1,)
    source: Path | None = None
    plot: str = "accuracy"
    publish: Path | None = None
    records: Path | None = None
    """Folder of the finished runs' records (None: ``out / "runs"``)."""
    train_workers: int = 1
    """Processes of each ``train`` run (``circuitlearn train --workers``)."""

    def run_id(self, params: dict[str, Any]) -> str:
        """Stable id of a run: a hash of its kind and parameters (key order does not matter),
        and for a ``train`` run of its config's settings, so that changing a setting of a preset
        or config makes its runs new ones instead of reusing results of the old settings."""
        identity = {"kind": self.kind, **params}
        if self.kind == "train" and "config" in params:
            identity["config text"] = config_digest(str(params["config"]))
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_train_workers(self, count: int) -> SweepSpec:
        """This sweep with ``count`` processes a ``train`` run.

        Raises
        ------
        ConfigError
            ``count`` > 1 for another kind of run, or where processes cannot fork.
        """
        if count > 1:
            if self.kind != "train":
                raise ConfigError(f"train_workers is for kind = 'train'; got {self.kind!r}")
            from circuitlearn.learn.parallel import check_workers

            check_workers(count)
        return replace(self, train_workers=count)

    @property
    def record_dir(self) -> Path:
        """The folder of the finished runs' records."""
        return self.records or self.out / "runs"

    def result_path(self, params: dict[str, Any]) -> Path:
        """Where the run's record (its metrics) is, or will be, written."""
        return self.record_dir / f"{self.run_id(params)}.json"

    def run_dir(self, params: dict[str, Any]) -> Path:
        """The run's own folder (``train``: its checkpoints and metrics after every epoch)."""
        return self.out / "runs" / self.run_id(params)


@dataclass
class SweepResult:
    """What a sweep produced: counts, the table rows, and the files written."""

    computed: int
    skipped: int
    failed: list[str]
    rows: list[dict[str, Any]]
    table_csv: Path
    table_md: Path
    figure: Path | None
    errors: dict[str, str] = field(default_factory=dict)
    missing: int = 0
    """Runs of the sweep without a result file (failed or not run): the sweep is complete at 0."""
    published: Path | None = None
    """The file whose section was rewritten (``publish``, complete sweeps only)."""

    def to_dict(self) -> dict[str, Any]:
        """The ``circuitlearn sweep --json`` object."""
        return {
            "computed": self.computed,
            "skipped": self.skipped,
            "failed": self.failed,
            "missing": self.missing,
            "published": None if self.published is None else str(self.published),
            "errors": self.errors,
            "table_csv": str(self.table_csv),
            "table_md": str(self.table_md),
            "figure": None if self.figure is None else str(self.figure),
            "rows": self.rows,
        }


def load_sweep(path: str | Path) -> SweepSpec:
    """Parse a sweep TOML file (see the module docstring).

    Raises
    ------
    ConfigError
        Naming the file and the table or key at fault, or the first run whose parameters its
        run kind refuses (an unknown key, a bad value: found before any run starts).
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown_tables = sorted(set(raw) - {"sweep", "base", "grid", "preset"})
    if unknown_tables:
        raise ConfigError(
            f"{path}: unknown table(s) {unknown_tables}; valid: [sweep], [base], [grid], [[preset]]"
        )
    head = raw.get("sweep", {})
    unknown = sorted(set(head) - _SWEEP_KEYS)
    if unknown:
        raise ConfigError(f"{path}: [sweep] unknown key(s) {unknown}; valid: {sorted(_SWEEP_KEYS)}")
    kind = head.get("kind", "ratenet")
    if kind not in RUN_KINDS:
        raise ConfigError(f"{path}: [sweep] kind must be one of {sorted(RUN_KINDS)}; got {kind!r}")
    grid = raw.get("grid", {})
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: [grid] {key} must be a non-empty list; got {values!r}")
    presets = raw.get("preset", [{}])
    for number, preset in enumerate(presets, start=1):
        if len(presets) > 1 and "name" not in preset:
            raise ConfigError(f"{path}: [[preset]] number {number} needs a 'name'")
    base = raw.get("base", {})
    keys = tuple(grid)
    runs = []
    # Presets innermost, so that a partial sweep has every preset for its first grid values.
    for combo in itertools.product(*grid.values()):
        for preset in presets:
            params = {**base, **{k: v for k, v in preset.items() if k != "name"}}
            params.update(zip(keys, combo, strict=True))
            if "name" in preset:
                params["preset"] = preset["name"]
            runs.append(params)
    workers, train_workers = head.get("workers", 2), head.get("train_workers", 1)
    for key, value in (("workers", workers), ("train_workers", train_workers)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{path}: [sweep] {key} must be an integer >= 1; got {value!r}")
    epochs = head.get("report_epochs", [1, int(base.get("epochs", 1))])
    out = Path(head.get("out", Path("runs") / path.stem))
    out = out if out.is_absolute() else path.parent / out
    grid_keys = (*keys, "preset") if "name" in presets[0] else keys
    for params in runs:
        try:
            RUN_CHECKS[kind](_settings(params))
        except CircuitLearnError as exc:
            shown = {k: params[k] for k in grid_keys if k in params}
            raise ConfigError(f"{path}: the run {shown}: {exc}") from None
    plot = head.get("plot", "accuracy")
    if plot not in _PLOTS:
        raise ConfigError(f"{path}: [sweep] plot must be one of {_PLOTS}; got {plot!r}")
    publish, records = (_relative_to(path, head, key) for key in ("publish", "records"))
    spec = SweepSpec(
        kind, out, runs, grid_keys, workers, tuple(int(e) for e in epochs), path, plot, publish,
        records,
    )  # fmt: skip
    try:
        return spec.with_train_workers(train_workers)
    except ConfigError as exc:
        raise ConfigError(f"{path}: [sweep] {exc}") from None


def _relative_to(sweep_file: Path, head: dict[str, Any], key: str) -> Path | None:
    """The path ``[sweep] key`` (``publish``, ``records``), relative to the file's folder."""
    value = head.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{sweep_file}: [sweep] {key} must be a path (a string); got {value!r}")
    return Path(value) if Path(value).is_absolute() else sweep_file.parent / value


def run_sweep(
    spec: SweepSpec | str | Path,
    *,
    scheduler: str | None = None,
    processes: bool = True,
    progress: Callable[[str], None] | None = None,
    compute: bool = True,
) -> SweepResult:
    """Run every pending run of ``spec`` on dask.distributed, then build the table and figure.

    Parameters
    ----------
    spec : SweepSpec or path of a sweep file
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``); by default a
        ``LocalCluster`` of ``spec.workers`` single-threaded workers is started and closed.
    processes : bool
        LocalCluster workers as processes (default) or threads.
    progress : callable, optional
        Called with one line per finished run.
    compute : bool
        False: only rebuild the table and figure from the runs finished so far (a sweep still
        running, or one to finish later), and the published section once every run is.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_sweep(spec)
    (spec.out / "runs").mkdir(parents=True, exist_ok=True)
    spec.record_dir.mkdir(parents=True, exist_ok=True)
    if not compute:  # reads finished runs only: beside a sweep still running, too
        done = sum(spec.result_path(params).is_file() for params in spec.runs)
        return _finish(spec, 0, done, [], {})
    with RunLock(spec.out, holder="circuitlearn sweep", what="sweep", advice=_LOCKED_ADVICE):
        return _compute(spec, scheduler, processes, progress)


_LOCKED_ADVICE = (
    "wait for it (circuitlearn sweep --collect reads the runs it has finished), or set another "
    "[sweep] out"
)


def _compute(
    spec: SweepSpec,
    scheduler: str | None,
    processes: bool,
    progress: Callable[[str], None] | None,
) -> SweepResult:
    """:func:`run_sweep`'s runs, once the output folder is locked."""
    pending = [p for p in spec.runs if not spec.result_path(p).is_file()]
    skipped = len(spec.runs) - len(pending)
    failed: list[str] = []
    errors: dict[str, str] = {}
    if progress is not None:
        progress(
            f"{len(pending)} of {len(spec.runs)} runs to compute ({skipped} finished before); "
            f"each run's folder, with its metrics.json after every epoch: {spec.out / 'runs'}"
        )
    if pending:
        from dask.distributed import as_completed

        with _client(scheduler, spec.workers, processes, spec.train_workers > 1) as client:
            futures = {
                client.submit(
                    execute_run, spec.kind, params, str(spec.result_path(params)),
                    str(spec.run_dir(params)), spec.train_workers,
                    key=f"run-{spec.run_id(params)}", pure=False,
                ): params
                for params in pending
            }  # fmt: skip
            for done, future in enumerate(as_completed(futures), start=1):
                params = futures[future]
                run_id = spec.run_id(params)
                try:
                    future.result()
                except Exception as exc:  # a failed run is reported, the sweep goes on
                    failed.append(run_id)
                    errors[run_id] = f"{type(exc).__name__}: {exc}"
                    line = f"run {run_id} FAILED ({errors[run_id]})"
                else:
                    line = f"run {run_id} done"
                if progress is not None:
                    shown = {k: params[k] for k in spec.grid_keys if k in params}
                    progress(f"[{done}/{len(pending)}] {line}: {shown}")
    return _finish(spec, len(pending) - len(failed), skipped, failed, errors)


def _finish(
    spec: SweepSpec, computed: int, skipped: int, failed: list[str], errors: dict[str, str]
) -> SweepResult:
    """The table and figure of every finished run, published when none is missing."""
    rows, curves = collect(spec)
    table_csv, table_md = spec.out / "results.csv", spec.out / "results.md"
    table = _write_tables(rows, table_csv, table_md)
    figure = _write_figure(spec, curves) if curves else None
    missing = sum(not spec.result_path(params).is_file() for params in spec.runs)
    published = None
    if spec.publish is not None and not missing:  # a partial table never replaces a published one
        _publish(spec, table, figure)
        published = spec.publish
    return SweepResult(
        computed,
        skipped,
        failed,
        rows,
        table_csv,
        table_md,
        figure,
        errors,
        missing,
        published,
    )


def execute_run(
    kind: str, params: dict[str, Any], result_path: str, run_dir: str, train_workers: int = 1
) -> dict[str, Any]:
    """Run one job on a worker (``train``: in ``run_dir``, with ``train_workers`` processes)
    and write its record atomically (temporary file + rename)."""
    path = Path(result_path)
    if kind == "train":
        metrics = RUN_KINDS[kind](_settings(params), Path(run_dir), train_workers)
    else:
        metrics = RUN_KINDS[kind](_settings(params), None)
    record = {"kind": kind, "params": params, "metrics": metrics}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(record, stream, default=_json_default)
    os.replace(temporary, path)
    return metrics


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    """A run's parameters as its run kind takes them: without ``preset``, which is a label."""
    return {k: v for k, v in params.items() if k != "preset"}


def collect(spec: SweepSpec) -> tuple[list[dict[str, Any]], dict[tuple, np.ndarray]]:
    """Table rows (one per grid cell without the seed) and accuracy curves from the run files."""
    groups: dict[tuple, list[list[float]]] = {}
    seconds: dict[tuple, list[float]] = {}
    labels = [k for k in spec.grid_keys if k != "seed"]
    for params in spec.runs:
        path = spec.result_path(params)
        if not path.is_file():
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        key = tuple(_hashable(params.get(k)) for k in labels)
        accuracy = record["metrics"]["test_accuracy"]
        groups.setdefault(key, []).append(accuracy)
        epochs = max(len(accuracy) - 1, 1)
        seconds.setdefault(key, []).append(float(record["metrics"].get("seconds", 0.0)) / epochs)
    rows, curves = [], {}
    for key, runs in groups.items():
        length = max(len(r) for r in runs)
        values = np.full((len(runs), length), np.nan)
        for i, run in enumerate(runs):
            values[i, : len(run)] = [np.nan if v is None else v for v in run]
        curves[key] = values
        row: dict[str, Any] = dict(zip(labels, key, strict=True))
        row["runs"] = len(runs)
        for epoch in spec.report_epochs:
            column = values[:, epoch] if epoch < length else np.full(len(runs), np.nan)
            row[f"acc_epoch{epoch}_mean"] = _finite(np.nanmean(column))
            row[f"acc_epoch{epoch}_std"] = _finite(np.nanstd(column))
        final = np.array([np.nan if run[-1] is None else run[-1] for run in runs], dtype=float)
        row["acc_final_mean"] = _finite(np.nanmean(final))
        row["acc_final_std"] = _finite(np.nanstd(final))
        row["seconds_per_epoch"] = round(float(np.mean(seconds[key])), 2)
        rows.append(row)
    return rows, curves


# -- private helpers --------------------------------------------------------------------------


@contextlib.contextmanager
def _client(
    scheduler: str | None, workers: int, processes: bool, forks: bool = False
) -> Iterator[Any]:
    """A client of the scheduler, or of a LocalCluster of ``workers`` single-threaded workers;
    ``forks``: its runs fork processes of their own, which dask's daemonic workers cannot."""
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise CircuitLearnError(
                f"sweep: cannot reach the dask scheduler at {scheduler} ({exc}); start one with "
                "'dask scheduler' or omit --scheduler for a local cluster"
            ) from None
        with client:
            yield client
        return
    with (
        dask.config.set(
            {
                "distributed.nanny.pre-spawn-environ": _worker_environ(),
                **({"distributed.worker.daemon": False} if forks else {}),
            }
        ),
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=processes,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        yield client


def _worker_environ() -> dict[str, Any]:
    """dask's environment for new worker processes, without its ``MALLOC_TRIM_THRESHOLD_``.

    dask sets glibc's trim threshold to 64 KiB in its workers, so that every large numpy
    temporary is handed back to the kernel when freed and page-faulted in again when the next
    one is allocated: a training step of mnist_5k then takes 3× the wall time, a third of it in
    the kernel (measured: 330× more page faults). The workers keep dask's thread limits.
    """
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return environ


def _write_tables(rows: list[dict[str, Any]], csv_path: Path, md_path: Path) -> str:
    """Write the CSV and Markdown tables; returns the Markdown text."""
    columns = list(rows[0]) if rows else ["runs"]
    write_text(csv_path, _csv_text(rows, columns))
    shown = [c for c in columns if not c.endswith("_std")]
    header = [c.replace("_mean", " (mean ± std)") for c in shown]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = []
        for column in shown:
            value = row[column]
            if column.endswith("_mean"):
                std = row[column.replace("_mean", "_std")]
                cells.append("n/a" if value is None else f"{value:.4f} ± {std:.4f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    write_text(md_path, table)
    return table


def _csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _write_figure(spec: SweepSpec, curves: dict[tuple, np.ndarray]) -> Path:
    """One panel per value of the first non-seed grid key other than ``method``."""
    import matplotlib.pyplot as plt

    from circuitlearn.diagnostics.plots import fit_trained_epochs

    labels = [k for k in spec.grid_keys if k != "seed"]
    panel_keys = [k for k in labels if k != "method"]
    panel_index = labels.index(panel_keys[0]) if panel_keys else None
    panels = sorted({key[panel_index] for key in curves}, key=str) if panel_keys else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        shown = [k for k in curves if panel_index is None or k[panel_index] == panel]
        bands = []
        for number, key in enumerate(shown):
            values = curves[key]
            shown_values = 1.0 - values if spec.plot == "error" else values
            mean, std = np.nanmean(shown_values, axis=0), np.nanstd(shown_values, axis=0)
            epochs = np.arange(values.shape[1])
            style = ("-", "--", ":", "-.")[number % 4]  # curves that coincide stay visible
            label = _curve_label(key, panel_index, values.shape[0])
            (line,) = ax.plot(epochs, mean, style, label=label)
            band = (mean - std, mean + std)
            ax.fill_between(epochs, *band, color=line.get_color(), alpha=0.2)
            bands.append(band)
        fit_trained_epochs(ax, bands)
        ax.set_title("" if panel is None else f"{panel_keys[0]} = {panel}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"test {spec.plot}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = spec.out / "accuracy.png"
    write_bytes(path, lambda handle: fig.savefig(handle, format="png", dpi=120))
    plt.close(fig)
    return path


def _curve_label(key: tuple, panel_index: int | None, runs: int) -> str:
    """A curve's legend entry: its grid values other than the panel's, and how many runs it
    averages (a grid of one config over seeds has no other value: the entry then says so)."""
    name = ", ".join(str(v) for i, v in enumerate(key) if i != panel_index)
    return f"{name or 'mean ± std over seeds'} (n={runs})"


def _publish(spec: SweepSpec, table: str, figure: Path | None) -> None:
    """Write the table and figure between the sweep's markers in ``spec.publish``."""
    assert spec.publish is not None and spec.source is not None
    name = spec.source.stem
    begin, end = f"<!-- BEGIN sweep {name} -->", f"<!-- END sweep {name} -->"
    try:
        text = spec.publish.read_text(encoding="utf-8")
    except OSError as exc:
        raise CircuitLearnError(f"{spec.source}: [sweep] publish: cannot read {exc}") from None
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise CircuitLearnError(
            f"{spec.source}: [sweep] publish: {spec.publish} needs one '{begin}' line and, after "
            f"it, one '{end}' line around the section to regenerate"
        )
    block = [begin, table.rstrip("\n")]
    if figure is not None:
        target = spec.publish.parent / "figures" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(target, figure.read_bytes())
        block += ["", f"![{name}: test {spec.plot} against epoch](figures/{name}.png)"]
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    write_text(spec.publish, head + "\n".join(block) + "\n" + end + tail)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
