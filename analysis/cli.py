"""`na64 <step>`: the command-line entry point.

Thin by design: every subcommand parses options and calls one public function of the
package. Subcommands live in sections below, one per workflow step.
"""

from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="na64")
def main() -> None:
    """NA64-style missing-energy dark-sector analysis."""


# --- schema / datasets --------------------------------------------------------------------


@main.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
def validate_cmd(files: tuple[str, ...], as_json: bool) -> None:
    """Check ROOT FILES against the ntuple contract (docs/ntuple.md); exit 1 on any problem."""
    import json
    import sys

    from .schema import validate_files

    reports = validate_files(files)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        for r in reports:
            if r.ok:
                click.echo(click.style("OK   ", fg="green") + f"{r.file} ({r.entries} events)")
                continue
            click.echo(click.style("FAIL ", fg="red", bold=True)
                       + f"{r.file}: {len(r.problems)} problem(s)")
            for p in r.problems:
                click.echo(f"  {p.where}: [{p.code}] {p.message}")
        bad = sum(not r.ok for r in reports)
        click.echo(f"{len(reports)} file(s) checked, {bad} with problems")
    if any(not r.ok for r in reports):
        sys.exit(1)


@main.command("catalogue")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--name", required=True, help="Dataset name in the manifest.")
@click.option("--setup", required=True, type=click.Choice(["electron", "positron", "muon",
                                                             "hadron"]))
@click.option("--period", required=True, help="Run period label, e.g. 2023.")
@click.option("--kind", required=True, type=click.Choice(["data", "pseudo-data", "simulation",
                                                           "signal"]))
@click.option("--process", required=True, help='e.g. "background", "hadron", a signal model.')
@click.option("--manifest", "manifest_path", required=True,
              type=click.Path(dir_okay=False, path_type=str),
              help="Manifest YAML to add the dataset to (created if missing).")
@click.option("--origin", type=click.Choice(["committed", "generated"]), default="committed",
              show_default=True)
@click.option("--generated-by", default=None, help="Command that makes the files "
              "(required with --origin generated).")
@click.option("--no-validate", is_flag=True, help="Skip the full ntuple validation.")
def catalogue_cmd(files, name, setup, period, kind, process, manifest_path, origin,
                  generated_by, no_validate) -> None:
    """Catalogue ROOT FILES as dataset NAME in a manifest (adds or replaces it)."""
    from .datasets import ManifestError, catalogue_into

    try:
        entry = catalogue_into(manifest_path, files, name, setup=setup, period=period,
                               kind=kind, process=process, origin=origin,
                               generated_by=generated_by, validate=not no_validate)
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{manifest_path}: dataset {name!r}: {len(entry.files)} file(s), "
               f"{entry.entries} entries, n_on_target {entry.n_on_target:.6g}")


# --- simulation ---------------------------------------------------------------------------


def _sim_progress(enabled: bool, label: str):
    """A rich progress bar as a (done, total) callback, and its context manager."""
    import contextlib

    if not enabled:
        return contextlib.nullcontext(), None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), transient=False)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


@main.command("simulate")
@click.option("--setup", default="electron", show_default=True,
              type=click.Choice(["electron", "hadron", "muon"]),
              help="Beam/detector setup (hadron: NA64h, 50 GeV pi-, docs/na64h.md; muon: NA64mu, "
                   "160 GeV mu, docs/na64mu.md).")
@click.option("--period", default=None,
              type=click.Choice(["2016-2022", "2023", "2022"]),
              help="Run period: electron 2016-2022 or 2023 (VHCAL from 2023; default 2023), "
                   "hadron 2023, muon 2022 (default for --setup muon).")
@click.option("--n-on-target", type=float, default=None,
              help="EOT: exposure of pseudo-data, or EOT-equivalent of a --process sample.")
@click.option("--n-events", type=int, default=None,
              help="Events to generate (--process or --signal samples).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Output ROOT file (NTUPLE.md TTrees).")
@click.option("--process", default=None,
              help="Generate one background process, biased/weighted (e.g. dimuon).")
@click.option("--bias", type=float, default=None,
              help="With --process: oversample the process tail down to this quantile.")
@click.option("--signal", default=None,
              help="Signal model, e.g. dark-photon; eta or eta-prime for --setup hadron.")
@click.option("--mass", type=float, default=None,
              help="Signal mass, GeV (hadron setup: the meson mass, may be omitted).")
@click.option("--compression", default="lz4", show_default=True,
              type=click.Choice(["lz4", "zlib", "zstd", "lzma", "none"]))
@click.option("--chunk-spills", type=int, default=10, show_default=True,
              help="Spills generated per chunk (memory only: output is identical).")
@click.option("--record", type=click.Choice(["triggered", "all"]), default=None,
              help="Write triggered events (default) or all generated (default for signal).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def simulate_cmd(setup, period, n_on_target, n_events, seed, out, process, bias, signal, mass,
                 compression, chunk_spills, record, quiet) -> None:
    """Simulate NA64e events into an ntuple: pseudo-data (--n-on-target), one biased
    background (--process --n-events [--n-on-target E] [--bias Q]) or signal
    (--signal --mass --n-events). Physics and sources: docs/simulation.md."""
    from .simulation import simulate

    if period is None:
        period = "2022" if setup == "muon" else "2023"
    bar, update = _sim_progress(not quiet, f"simulate {period}")
    try:
        with bar:
            res = simulate(setup, period, n_on_target=n_on_target, n_events=n_events, seed=seed,
                           out=out, process=process, signal=signal, mass=mass, bias=bias,
                           compression=compression, chunk_spills=chunk_spills, record=record,
                           progress=update)
    except (ValueError, NotImplementedError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{res.path}: {res.kind}, period {res.period}, {res.n_events} events, "
               f"n_on_target {res.n_on_target:.6g}")
    for name, t in res.per_process.items():
        click.echo(f"  {name:24s} generated {t['generated']:>10d}  recorded "
                   f"{t['recorded']:>9d}  sum(w) {t['weight_sum']:.6g}")


@main.command("samples")
@click.option("--recipe", default="data/samples/builtin.yaml", show_default=True,
              type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--force", is_flag=True, help="Regenerate datasets that are up to date.")
@click.option("--only", multiple=True, help="Only this dataset (repeatable).")
@click.option("--strict", is_flag=True, help="Exit 1 if any dataset could not be made.")
def samples_cmd(recipe, force, only, strict) -> None:
    """Generate the built-in sample described by RECIPE (skips up-to-date datasets) and
    write its dataset manifest."""
    import sys

    from .simulation.samples import RecipeError, make_samples

    def announce(name, i, n):
        click.echo(f"[{i + 1}/{n}] generating {name} ...")

    try:
        rep = make_samples(recipe, force=force, only=list(only) or None, progress=announce)
    except RecipeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"generated {len(rep.generated)}, up to date {len(rep.skipped)}, "
               f"not made {len(rep.failed)}; manifest {rep.manifest}")
    for name, why in rep.failed.items():
        click.echo(click.style("NOT MADE ", fg="yellow", bold=True) + f"{name}: {why}")
    if rep.failed and strict:
        sys.exit(1)

# --- physics ------------------------------------------------------------------------------

_PHYS_MODELS = ["dark-photon", "scalar", "pseudoscalar", "axial", "zprime"]


def _physics_result(compute, as_json: bool) -> dict | None:
    """``compute().to_dict()``, a ValueError/KeyError reported as a click error; with
    ``as_json`` the dict is printed as JSON and None returned (nothing more to print)."""
    import json

    try:
        r = compute()
    except (ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None
    d = r.to_dict()
    if as_json:
        click.echo(json.dumps(d))
        return None
    return d


@main.command("xsec")
@click.option("--model", type=click.Choice(_PHYS_MODELS), required=True)
@click.option("--beam", type=click.Choice(["electron", "positron", "muon"]), required=True)
@click.option("--energy", type=click.FloatRange(min=0, min_open=True), required=True, help="Beam energy (GeV).")
@click.option("--target", default="Pb", show_default=True, help="Pb, W, Cu, Fe, Si, Al, C, Sc.")
@click.option("--mass", type=click.FloatRange(min=0, min_open=True), required=True, help="Mediator mass (GeV).")
@click.option("--coupling", type=float, required=True,
              help="epsilon for dark-photon, g otherwise (eps_eff = g/e); sigma scales as coupling^2.")
@click.option("--method", type=click.Choice(["ww", "iww", "etl"]), default="etl", show_default=True)
@click.option("--min-fraction", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Minimum E_X/E0.")
@click.option("--no-inelastic", is_flag=True, help="Elastic form factor only.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def xsec_cmd(model, beam, energy, target, mass, coupling, method, min_fraction, no_inelastic, as_json):
    """Production cross section l N -> l N X (pb per atom)."""
    from .physics.cross_sections import cross_section

    d = _physics_result(lambda: cross_section(model, beam, energy, target, mass, coupling, method,
                                              min_fraction, not no_inelastic), as_json)
    if d is None:
        return
    click.echo(f"sigma({model}, {beam} {energy:g} GeV on {d['target']}, m = {mass:g} GeV, "
               f"E_X/E0 > {min_fraction:g}) = {d['cross_section_pb']:.5g} pb "
               f"[{d['method_used']}{'' if d['method_used'] == method else ', requested ' + method}]")
    click.echo(f"coupling {coupling:g}: {d['coupling_convention']} (eps_eff = {d['epsilon_eff']:.4g})")
    for n in d["notes"]:
        click.echo(f"note: {n}")


@main.command("yield")
@click.option("--setup", type=click.Choice(["electron", "positron", "muon"]), required=True)
@click.option("--energy", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Beam energy (GeV; default 100 for e+-, 160 for mu).")
@click.option("--model", type=click.Choice(_PHYS_MODELS), required=True)
@click.option("--mass", type=click.FloatRange(min=0, min_open=True), required=True, help="Mediator mass (GeV).")
@click.option("--coupling", type=float, required=True, help="epsilon for dark-photon, g otherwise.")
@click.option("--threshold", type=float, default=None,
              help="Missing-energy threshold E_miss = E_X > threshold (GeV; default 50 e+-, 80 mu).")
@click.option("--method", type=click.Choice(["ww", "iww", "etl"]), default="etl", show_default=True)
@click.option("--no-inelastic", is_flag=True, help="Elastic form factor only.")
@click.option("--no-annihilation", is_flag=True, help="Do not add resonant e+e- -> A' annihilation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def yield_cmd(setup, energy, model, mass, coupling, threshold, method, no_inelastic, no_annihilation, as_json):
    """Signal yield per particle on target (produced X with E_X above the threshold)."""
    from .physics.yields import SETUPS, signal_yield

    st = SETUPS[setup]
    energy = st.default_energy if energy is None else energy
    threshold = st.default_threshold if threshold is None else threshold
    d = _physics_result(lambda: signal_yield(setup, energy, model, mass, coupling, threshold,
                                             method, not no_inelastic,
                                             False if no_annihilation else None), as_json)
    if d is None:
        return
    click.echo(f"N_X/N_beam = {d['signal_per_particle']:.5g} (brem {d['brem_per_particle']:.4g}, "
               f"annihilation {d['annihilation_per_particle']:.4g}) [{d['method_used']}]")
    click.echo(f"{setup} {energy:g} GeV, {model}, m = {mass:g} GeV, coupling {coupling:g}, "
               f"E_X > {threshold:g} GeV; target {d['effective_target']}")
    for n in d["notes"]:
        click.echo(f"note: {n}")


@main.command("xsec-compare")
@click.option("--out", "out_dir", default="results/physics", show_default=True,
              type=click.Path(file_okay=False, path_type=str))
def xsec_compare_cmd(out_dir):
    """Figure + CSV comparing WW, IWW and ETL cross sections vs mass (e 100 GeV, mu 160 GeV, Pb)."""
    from .physics.compare import write_xsec_comparison

    paths = write_xsec_comparison(out_dir)
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}")


# --- processing (run) ---------------------------------------------------------------------


@main.command("run")
@click.argument("selection", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.argument("files", nargs=-1, type=click.Path(path_type=str))
@click.option("--dataset", "datasets", multiple=True, help="Dataset NAME from the manifest "
              "(repeatable).")
@click.option("--manifest", default="data/samples/builtin/manifest.yaml", show_default=True,
              type=click.Path(dir_okay=False, path_type=str))
@click.option("--files", "use_files", is_flag=True,
              help="Process the ROOT FILES given after the selection instead of a dataset.")
@click.option("--name", default=None, help="Dataset name for --files (default: first stem).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--executor", type=click.Choice(["iterative", "futures", "dask"]),
              default="futures", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes (default: all local cores).")
@click.option("--chunksize", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--scheduler", default=None, help="Address of a running dask scheduler "
              "(tcp://HOST:PORT; implies --executor dask).")
@click.option("--cluster", default=None, help="local:N (LocalCluster of N workers), slurm or "
              "htcondor (with --cluster-config); implies --executor dask.")
@click.option("--cluster-config", default=None, type=click.Path(dir_okay=False, path_type=str),
              help="YAML for --cluster slurm|htcondor (see examples/cluster-*.yaml).")
@click.option("--checkpoint", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Directory of finished chunks; a restarted run processes only the "
              "missing ones.  [default: OUT/.checkpoint]")
@click.option("--no-checkpoint", is_flag=True, help="Do not store finished chunks.")
@click.option("--skip-bad-files", is_flag=True, help="Leave unreadable/invalid files and "
              "files whose processing fails out (recorded, with their particles on target "
              "removed) instead of stopping.")
@click.option("--bad-spills", default=None, type=click.Path(dir_okay=False, path_type=str),
              help="CSV (run,spill) or YAML list of bad spills to exclude, events and "
              "particles on target.")
@click.option("--no-validate", is_flag=True, help="Skip the up-front NTUPLE.md validation "
              "of the inputs (faster; bad input is then found only while processing).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def run_cmd(selection, files, datasets, manifest, use_files, name, out_dir, executor, workers,
            chunksize, scheduler, cluster, cluster_config, checkpoint, no_checkpoint,
            skip_bad_files, bad_spills, no_validate, no_progress) -> None:
    """Apply SELECTION (YAML) to a dataset or to FILES; write cut flow, histograms and
    provenance to --out.

    \b
    na64 run selections/na64e_2016_2022.yaml --dataset NAME --out results/x
    na64 run selections/na64e_2016_2022.yaml --files a.root b.root --name mine --out results/y
    """
    from pathlib import Path

    from .execution import IncompleteProcessingError, run
    from .results import write_results
    from .selection import SelectionError, load_selection

    if bool(datasets) == bool(use_files):
        raise click.UsageError("give either --dataset NAME or --files FILE...")
    if files and not use_files:
        raise click.UsageError(f"unexpected arguments {list(files)} (use --files)")
    if use_files:
        if not files:
            raise click.UsageError("--files needs at least one ROOT file")
        fileset = {name or Path(files[0]).stem: list(files)}
    else:
        from .datasets import ManifestError, fileset as manifest_fileset, load_manifest, verify

        try:
            m = load_manifest(manifest)
            verify(m, list(datasets))
            fileset = manifest_fileset(m, list(datasets))
        except ManifestError as exc:
            raise click.ClickException(str(exc)) from None
    if checkpoint and no_checkpoint:
        raise click.UsageError("give either --checkpoint DIR or --no-checkpoint")
    ckpt = None if no_checkpoint else (checkpoint or str(Path(out_dir) / ".checkpoint"))
    try:
        sel = load_selection(selection)
        result = run(sel, fileset, executor=executor, workers=workers, chunksize=chunksize,
                     scheduler=scheduler, cluster=cluster, cluster_config=cluster_config,
                     progress=not no_progress, checkpoint=ckpt, skip_bad_files=skip_bad_files,
                     bad_spills=bad_spills, validate=not no_validate)
    except (SelectionError, IncompleteProcessingError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a message, never a traceback
        raise click.ClickException(f"processing failed: {type(exc).__name__}: {exc}") from None
    command = ["na64", "run", selection]
    if use_files:
        command += ["--files", *files] + (["--name", name] if name else [])
    else:
        command += [a for d in datasets for a in ("--dataset", d)] + ["--manifest", manifest]
    command += ["--out", out_dir, "--executor", executor, "--chunksize", str(chunksize)]
    command += (["--workers", str(workers)] if workers else []) + \
        (["--scheduler", scheduler] if scheduler else [])
    command += (["--cluster", cluster] if cluster else []) + \
        (["--cluster-config", cluster_config] if cluster_config else [])
    command += (["--no-checkpoint"] if no_checkpoint else
                ["--checkpoint", checkpoint] if checkpoint else [])
    command += (["--skip-bad-files"] if skip_bad_files else []) + \
        (["--bad-spills", bad_spills] if bad_spills else []) + \
        (["--no-validate"] if no_validate else [])
    _report_run(result)
    paths = write_results(result, out_dir, command_line=command)
    for ds in result.datasets:
        d = result[ds]
        final = "signal box blinded" if sel.blinding and d["kind"].get("data") else \
            f"{d['cutflow']['events'][-1]} pass all cuts"
        click.echo(f"{ds}: {d['entries']} entries, {final} "
                   f"(n_on_target {d['n_on_target']:.6g})")
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}")


def _report_run(result) -> None:
    """Chunk statistics and skipped files of a run (before the per-dataset lines)."""
    c = result.chunks
    if c:
        click.echo(f"chunks: {c['total']} ({c['from_checkpoint']} from the checkpoint, "
                   f"{c['processed']} processed)")
    for b in result.skipped:
        click.echo(f"SKIPPED {b}", err=True)
    if result.skipped:
        e = result.exposure
        req = "unknown" if e.get("requested") is None else f"{e['requested']:.6g}"
        click.echo(f"exposure NOT reconciled: processed {e['processed']:.6g} of {req} "
                   "particles on target (skipped files are recorded in cutflow.json)", err=True)


@main.command("rerun")
@click.argument("provenance", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Output directory (default: the provenance file's directory + '-rerun').")
@click.option("--executor", type=click.Choice(["iterative", "futures", "dask"]), default=None,
              help="Override the recorded executor (results do not depend on it).")
@click.option("--workers", type=click.IntRange(min=1), default=None)
@click.option("--scheduler", default=None, help="Address of a running dask scheduler.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def rerun_cmd(provenance, out_dir, executor, workers, scheduler, no_progress) -> None:
    """Re-run a `na64 run` from its PROVENANCE (provenance.json) alone: the recorded
    selection, inputs (refused if a checksum changed), datasets, bad spills and settings."""
    from pathlib import Path

    from .execution import IncompleteProcessingError
    from .results import RerunError, rerun

    out_dir = out_dir or str(Path(provenance).resolve().parent) + "-rerun"
    try:
        result, paths = rerun(provenance, out_dir, executor=executor, workers=workers,
                              scheduler=scheduler, progress=not no_progress)
    except (RerunError, IncompleteProcessingError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # noqa: BLE001
        raise click.ClickException(f"re-run failed: {type(exc).__name__}: {exc}") from None
    _report_run(result)
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}")


@main.command("plot")
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=str))
def plot_cmd(out_dir) -> None:
    """Draw the cut flow, N−1 distributions and the ECAL–HCAL plane of a `na64 run` output
    directory into OUT_DIR/plots/."""
    from .plotting import plot_results

    written = plot_results(out_dir)
    click.echo(f"wrote {len(written)} plot(s) to {out_dir}/plots")


# --- background / statistics / limits -----------------------------------------------------


@main.command("upper-limit")
@click.option("--n-obs", type=click.IntRange(min=0), required=True, help="Observed events.")
@click.option("--background", type=click.FloatRange(min=0), required=True, help="Expected background (events).")
@click.option("--background-unc", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Absolute background uncertainty (events; Gamma prior).")
@click.option("--signal-unc", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Relative signal-yield uncertainty (log-normal prior).")
@click.option("--cl", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.9, show_default=True)
@click.option("--method", type=click.Choice(["auto", "exact", "asymptotic", "toys", "pyhf-toys"]),
              default="auto", show_default=True)
@click.option("--ntoys", type=click.IntRange(min=100), default=None, help="Toys (toys: 20000; pyhf-toys: 500/point).")
@click.option("--seed", type=int, default=20240917, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def upper_limit_cmd(n_obs, background, background_unc, signal_unc, cl, method, ntoys, seed, as_json):
    """CLs upper limit on the number of signal events (single-bin counting)."""
    import json

    from .stats import upper_limit

    r = upper_limit(n_obs, background, background_unc, cl, method,
                    signal_rel_unc=signal_unc, ntoys=ntoys, seed=seed)
    d = r.to_dict()
    if as_json:
        click.echo(json.dumps(d))
        return
    b = d["band"]
    click.echo(f"{100 * cl:g}% CL upper limit on signal events: {d['upper_limit']:.4g}  [{d['method']}]")
    click.echo(f"expected: {d['expected']:.4g}  -1s/+1s: {b[1]:.4g}/{b[2]:.4g}  -2s/+2s: {b[0]:.4g}/{b[3]:.4g}")
    click.echo(f"notes: {d['notes']}")


def _float_list(text):
    """'0.001,0.01,0.1' -> [0.001, 0.01, 0.1] (None stays None)."""
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}") from None


def _efficiency_arg(text):
    """--efficiency: a number, or a CSV file with columns mass,efficiency."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        from pathlib import Path

        if not Path(text).is_file():
            raise click.BadParameter(f"{text!r} is neither a number nor a CSV file") from None
        return text


@main.command("project")
@click.option("--setup", type=click.Choice(["electron", "positron", "muon", "hadron"]), required=True)
@click.option("--energy", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Beam energy (GeV; default 100 e+-, 160 mu, 50 hadron).")
@click.option("--n-on-target", type=click.FloatRange(min=0), required=True,
              help="Planned particles on target (EOT/MOT/POT).")
@click.option("--threshold", type=click.FloatRange(min=0), default=None,
              help="Missing-energy threshold E_miss = E_X > threshold (GeV; default 50 e+-, 80 mu).")
@click.option("--background", type=click.FloatRange(min=0), required=True, help="Expected background (events).")
@click.option("--background-unc", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Absolute background uncertainty (events; Gamma prior).")
@click.option("--model", type=click.Choice(["dark-photon", "scalar", "pseudoscalar", "axial", "zprime",
                                            "eta", "eta-prime"]), default=None,
              help="Signal model (default dark-photon; eta for --setup hadron). Limits are on "
                   "epsilon (dark-photon), g (scalar/.../zprime) or Br (eta, eta-prime).")
@click.option("--selection", type=click.Path(exists=True, dir_okay=False, path_type=str), default=None,
              help="Selection YAML whose simulated signal efficiency is used (needs signal samples).")
@click.option("--efficiency", "efficiency", default=None,
              help="Signal efficiency: a number, or a CSV with columns mass,efficiency.")
@click.option("--efficiency-includes-threshold", is_flag=True,
              help="The efficiency already contains the E_miss acceptance (selected/generated): "
                   "use the total production yield instead of the yield above --threshold.")
@click.option("--masses", default=None, help="Comma-separated masses in GeV (default 1 MeV-1 GeV).")
@click.option("--cl", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.9, show_default=True)
@click.option("--xsec-unc", type=click.FloatRange(min=0), default=0.1, show_default=True,
              help="Relative production cross-section uncertainty (arXiv:2409.12748).")
@click.option("--pot-unc", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Relative particles-on-target uncertainty.")
@click.option("--efficiency-unc", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Relative signal-efficiency uncertainty.")
@click.option("--alpha-d", type=click.FloatRange(min=0, min_open=True), default=0.5, show_default=True,
              help="alpha_D of the resonant-annihilation yield (dark photon, e+- beams).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Also write limits.json/.csv/.yaml (HEPData) to this directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def project_cmd(setup, energy, n_on_target, threshold, background, background_unc, model, selection,
                efficiency, efficiency_includes_threshold, masses, cl, xsec_unc, pot_unc, efficiency_unc,
                alpha_d, out_dir, as_json):
    """Expected coupling limits (median, +-1/2 sigma) for a planned exposure (docs/limits.md).

    \b
    na64 project --setup electron --energy 100 --n-on-target 1e13 --threshold 40 \\
        --background 0.5 --efficiency 0.5 --masses 0.001,0.01,0.1 --json
    """
    import json

    from .limits import SignalSystematics, projection_dict, projection_table, write_limits

    model = model or ("eta" if setup == "hadron" else "dark-photon")
    try:
        t = projection_table(setup, energy, n_on_target, threshold, background, model,
                             _efficiency_arg(efficiency), _float_list(masses), cl, selection,
                             background_unc=background_unc,
                             systematics=SignalSystematics(pot=pot_unc, xsec=xsec_unc,
                                                           efficiency=efficiency_unc),
                             efficiency_includes_threshold=efficiency_includes_threshold,
                             alpha_d=alpha_d)
    except (ValueError, NotImplementedError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    d = projection_dict(t)
    if out_dir:
        write_limits(t, out_dir)
    if as_json:
        click.echo(json.dumps(d))
        return
    click.echo(f"{model} ({d['coupling']}), {setup} {d['energy']:g} GeV, {n_on_target:.3g} on target, "
               f"background {background:g} +- {background_unc:g}, {100 * cl:g}% CL [{d['method']}]")
    click.echo(f"{'mass/GeV':>10} {'expected':>11} {'-2s':>11} {'-1s':>11} {'+1s':>11} {'+2s':>11}")
    fmt = lambda v: f"{v:11.4g}" if v is not None else f"{'inf':>11}"  # noqa: E731
    for p in d["points"]:
        click.echo(f"{p['mass']:10.4g} {fmt(p['expected'])} " + " ".join(fmt(v) for v in p["band"]))
    if out_dir:
        click.echo(f"wrote {out_dir}/limits.json")


@main.command("limits")
@click.argument("target", type=click.Path(exists=True, path_type=str))
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=str),
              help="With a CONFIG file: where to write (required).")
@click.option("--plot", is_flag=True, help="With a CONFIG file: also draw the exclusion plots.")
@click.option("--allow-partial", is_flag=True,
              help="Accept a results directory whose processed exposure does not reconcile "
                   "with its inputs (skipped files): the limit then uses what was processed.")
def limits_cmd(target, out_dir, plot, allow_partial):
    """Coupling limits vs mass.

    TARGET is a results directory of `na64 analysis` (limits into TARGET/limits, observed
    only after `na64 unblind`), or a limits CONFIG (YAML: model, periods with exposure,
    efficiency, background, observed; docs/limits.md) written to --out."""
    from pathlib import Path

    if Path(target).is_dir():
        from .pipeline import ConfigError, set_limits, write_summary

        try:
            doc = set_limits(Path(target), allow_partial=allow_partial)
        except (ConfigError, ValueError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        write_summary(Path(target))
        state = "observed and expected" if not doc.get("blinded") \
            else "expected only (blinded)"
        click.echo(f"{doc['model']} ({doc['coupling']}): {state}; wrote {target}/limits/, "
                   f"{target}/summary.md")
        return
    from .limits import load_limit_config, write_limits

    if out_dir is None:
        raise click.UsageError("--out is required with a limits CONFIG file")
    try:
        t = load_limit_config(target)
    except (ValueError, NotImplementedError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    paths = write_limits(t, out_dir)
    click.echo(f"{t.model} ({t.coupling}), {len(t.masses)} masses, method {t.method}"
               + (" (blinded: expected only)" if t.blinded else ""))
    if plot:
        from .exclusion import plot_limits

        paths = {**paths, **{p.name: p for p in plot_limits(t, f"{out_dir}/plots")}}
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}")


@main.command("background")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=str))
def background_cmd(results_dir):
    """Background in the signal box (simulation, sideband extrapolation, closure) for a
    results directory of `na64 analysis`: writes background.json and background.md."""
    from pathlib import Path

    from .pipeline import ConfigError, estimate_background

    try:
        doc = estimate_background(Path(results_dir))
    except (ConfigError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo((Path(results_dir) / "background.md").read_text())
    if "closure" in doc and not doc["closure"]["passes_2sigma"]:
        click.echo("warning: the data-driven method does not close on simulation", err=True)


@main.command("unblind")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=str))
def unblind_cmd(results_dir):
    """Open the signal box of the data: list the candidate events (run, spill, event,
    energies), record it in RESULTS_DIR/unblinding.json and recompute the limits with the
    observed count."""
    from pathlib import Path

    from .pipeline import ConfigError, set_limits, unblind, write_summary

    out = Path(results_dir)
    try:
        doc = unblind(out)
        set_limits(out)
    except (ConfigError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    write_summary(out)
    click.echo(f"UNBLINDED {doc['selection']} on {', '.join(doc['datasets'])} at "
               f"{doc['unblinded_at']}: {doc['n_observed']} event(s) in the signal box")
    for c in doc["candidates"]:
        click.echo(f"  run {c['run']} spill {c['spill']} event {c['event']}: "
                   f"E_ECAL = {c['ecal_energy']:.2f} GeV, E_HCAL = {c['hcal_energy']:.2f} GeV "
                   f"({c['file']})")
    click.echo(f"limits with the observed count: {out}/limits/; summary: {out}/summary.md")


@main.command("plot-limits")
@click.argument("limits_json", type=click.Path(exists=True, path_type=str))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--curve", "curves", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="Extra curve on the coupling plot: CSV with columns mass,value (label: file name).")
@click.option("--y-curve", "y_curves", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="Extra curve on the y plot: CSV with columns mass (m_chi),value.")
@click.option("--band", default=None, type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="Shaded band on the coupling plot, e.g. (g-2)_mu: CSV with columns mass,low,high.")
def plot_limits_cmd(limits_json, out_dir, curves, y_curves, band):
    """Exclusion plots (PNG + PDF) of LIMITS_JSON (from `na64 limits`/`na64 project --out`):
    coupling vs mass with bands and, for the dark photon, y vs m_chi with relic targets."""
    from .exclusion import plot_limits

    try:
        paths = plot_limits(limits_json, out_dir, curves, y_curves=y_curves, band=band)
    except (ValueError, KeyError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {', '.join(str(p) for p in paths)}")


# --- full analyses ------------------------------------------------------------------------


@main.command("analysis")
@click.argument("config", required=False, default="analyses/na64e_2023.yaml",
                type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_dir", default="results/na64e", show_default=True,
              type=click.Path(file_okay=False, path_type=str))
@click.option("--executor", type=click.Choice(["iterative", "futures", "dask"]),
              default="futures", show_default=True)
@click.option("--workers", type=int, default=None, help="Default: all local cores.")
@click.option("--chunksize", type=int, default=None)
@click.option("--no-progress", is_flag=True)
def analysis_cmd(config, out_dir, executor, workers, chunksize, no_progress):
    """The whole analysis of CONFIG (default: NA64e 2023 on the built-in sample): samples,
    selection, normalisation check, background, limits, plots, summary.md. The data stay
    blind: run `na64 unblind OUT` to open the box."""
    from pathlib import Path

    from .pipeline import ConfigError, run_analysis

    try:
        summary = run_analysis(config, out_dir, executor=executor, workers=workers,
                               chunksize=chunksize, progress=not no_progress)
    except (ConfigError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(Path(summary).read_text())
    click.echo(f"wrote {out_dir}/ (summary.md, run/, background.md, limits/)")


if __name__ == "__main__":  # pragma: no cover
    main()
