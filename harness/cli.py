"""``ragmig``: certify, migrate, run, status, rollback, pause, resume, gameday, plan, serve-pinecone, serve-qdrant, bench
(contracts in design.md).

Commands import their implementation lazily so ``ragmig --help`` stays fast (it imports no numpy). A
mistake the user can make (``UsageError``) prints one line on stderr and exits 2, never a traceback.
Global options: ``--version``, ``-q``/``--quiet`` and ``-v``/``--verbose`` (``harness.console``).
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer 0.2x carries its own copy of click, whose exceptions are not click's
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - typer that still uses click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

from harness import console
from harness._version import __version__
from harness.errors import UsageError
from harness.redact import redact_text


class _OneLineErrors(TyperGroup):
    """A command-line mistake click catches itself (an unknown option, a value of the wrong type, a missing
    option) as one line on stderr and exit 2, like every other user error, instead of a usage box."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help())
            code = 2
        except click_errors.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            message = " ".join(exc.format_message().split())
            typer.echo(f"ragmig: error: {redact_text(message)}{where}", err=True)
            code = 2
        except typer.Abort:
            typer.echo("ragmig: interrupted", err=True)
            code = 130
        if not standalone_mode:
            return code
        sys.exit(code or 0)


class _PlainHelpOption:
    """Lists ``--help`` without a type: recent typer labels every flag, ``--help`` included, ``<bool>``.
    Every other option names its value itself (``metavar``: URI, PATH, N, NAME, ...)."""

    def get_help_option(self, ctx: Any) -> Any:  # typer's option class differs between versions
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class _Group(_PlainHelpOption, _OneLineErrors):
    pass


class _Command(_PlainHelpOption, TyperCommand):
    pass


class _Typer(typer.Typer):
    """Every command gets ``_Command`` unless it names its own class."""

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or _Command, **kwargs)


app = _Typer(
    name="ragmig",
    cls=_Group,
    help="Certify, gate and rehearse a vector-database migration for a RAG system.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> NoReturn:
    """One redacted line on stderr, exit 2."""
    typer.echo(f"ragmig: error: {redact_text(' '.join(message.split()))}", err=True)
    raise typer.Exit(2)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ragmig {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", metavar="", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", metavar="", help="Print only errors and the final verdict line.")
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            metavar="",
            show_default=False,
            help="Print more progress and log detail (-v: per-test lines and INFO logs; -vv: DEBUG logs).",
        ),
    ] = 0,
) -> None:
    """Certify, gate and rehearse a vector-database migration for a RAG system."""
    if quiet and verbose:
        typer.echo("ragmig: error: --quiet and --verbose contradict each other; give one", err=True)
        raise typer.Exit(2)
    console.set_verbosity(console.QUIET if quiet else verbose)


def _run(body: Callable[[], int]) -> None:
    """Run a command body, turning user errors into one line on stderr and exit code 2.

    Besides ``UsageError``, a file that cannot be read or written (``OSError``), a file that is not text
    (``UnicodeError``) and a damaged SQLite file are the user's environment, not a bug: one line too.
    """
    try:
        code = body()
    except UsageError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        typer.echo("ragmig: interrupted", err=True)
        raise typer.Exit(130) from None
    except UnicodeError as exc:
        _fail(f"a file is not valid UTF-8 text ({exc}); save it as UTF-8")
    except OSError as exc:
        _fail(f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}")
    except sqlite3.DatabaseError as exc:
        _fail(f"an SQLite file is damaged or not ragmig's ({exc})")
    raise typer.Exit(code)


WorkersOption = Annotated[
    str,
    typer.Option(
        metavar="N",
        help="Worker processes of a local Dask cluster that scan both stores at once (1: in this process; "
        "default auto: the CPU count, at most 4, from 200,000 records on, else 1).",
    ),
]
ClusterOption = Annotated[
    str | None,
    typer.Option(
        metavar="ADDRESS",
        help="Run the scans on the Dask cluster of this scheduler (tcp://HOST:8786) instead of a local one; "
        "its workers must reach both stores (README, Scaling).",
    ),
]


@app.command()
def certify(
    source: Annotated[str, typer.Option(metavar="URI", help="Source store URI.")],
    target: Annotated[str, typer.Option(metavar="URI", help="Target store URI.")],
    queries: Annotated[
        int | None,
        typer.Option(
            metavar="N", help="Queries sampled from the source (default 200, or all its records when it holds fewer)."
        ),
    ] = None,
    k: Annotated[
        int | None,
        typer.Option(metavar="K", help="Neighbours per query for recall and overlap, at most 1,000 (default 10)."),
    ] = None,
    thresholds: Annotated[
        Path | None, typer.Option(metavar="FILE.toml", help="TOML file overriding the default gates.")
    ] = None,
    query_vectors: Annotated[
        Path | None,
        typer.Option(
            "--query-vectors",
            metavar="FILE",
            help="Your users' queries instead of sampled ones: a .npy array (a vector a row) or .jsonl lines with "
            '"vector" and optionally "id", "namespace", "filter" (Pinecone syntax), "sparse".',
        ),
    ] = None,
    html: Annotated[Path | None, typer.Option(metavar="PATH", help="Write a self-contained HTML report here.")] = None,
    json: Annotated[Path | None, typer.Option("--json", metavar="PATH", help="Write the JSON verdict here.")] = None,
    junit: Annotated[Path | None, typer.Option(metavar="PATH", help="Write JUnit XML here.")] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Sampled parity, the CI-speed mode: N uniformly drawn source records fetched from both sides; the "
            "verdict states the bound it proves (at most x % missing or different, at 99 % confidence). Without "
            "it parity scans both stores in full, which is what a final gate uses. With --queries 0 quality is "
            "not measured and neither store is read in full.",
        ),
    ] = None,
    workers: WorkersOption = "auto",
    cluster: ClusterOption = None,
) -> None:
    """Run the certification suite (schema, parity, quality, latency).

    Exit 0 pass, 1 findings, 2 usage error or incomplete run (verdict "error").
    """

    def body() -> int:
        from harness.reporting.certify import certify_command

        return certify_command(
            source=source,
            target=target,
            queries=queries,
            k=k,
            thresholds=thresholds,
            html=html,
            json_path=json,
            junit=junit,
            sample=sample,
            workers=workers,
            cluster=cluster,
            query_vectors=query_vectors,
        )

    _run(body)


@app.command()
def migrate(
    source: Annotated[str, typer.Option(metavar="URI", help="Source store URI.")],
    target: Annotated[str, typer.Option(metavar="URI", help="Target store URI.")],
    journal: Annotated[Path, typer.Option(metavar="PATH", help="SQLite journal (checkpoints, outbox, events).")] = Path(
        "ragmig-journal.sqlite"
    ),
    batch_size: Annotated[int, typer.Option(min=1, metavar="N", help="Records per backfill batch.")] = 1000,
    resume: Annotated[
        bool,
        typer.Option(
            metavar="", help="Resume from the last checkpoint of an existing journal of this source and target."
        ),
    ] = False,
    into_existing: Annotated[
        bool,
        typer.Option(
            "--into-existing",
            metavar="",
            help="Copy into a target that already holds records this journal did not write (same ids are overwritten).",
        ),
    ] = False,
    payload_index: Annotated[
        list[str] | None,
        typer.Option(
            "--payload-index",
            metavar="FIELD=TYPE",
            help="Create this payload index on a target the copy creates (repeatable; TYPE keyword, integer, "
            "float, bool, geo, text, datetime or uuid). A Pinecone → Qdrant target always gets __namespace__=keyword.",
        ),
    ] = None,
    html: Annotated[Path | None, typer.Option(metavar="PATH", help="Write a self-contained HTML report here.")] = None,
    json: Annotated[Path | None, typer.Option("--json", metavar="PATH", help="Write the JSON verdict here.")] = None,
    junit: Annotated[Path | None, typer.Option(metavar="PATH", help="Write JUnit XML here.")] = None,
    workers: WorkersOption = "auto",
    cluster: ClusterOption = None,
) -> None:
    """Preflight, dual-write-safe backfill with a durable checkpoint, then verification. Exit 0 verified, 1 failed, 2 error."""

    def body() -> int:
        from functools import partial

        from harness.migration.run import Renderer, migrate_command
        from harness.parallel.engine import check_cluster, resolve_workers
        from harness.reporting.migrate import migrate_html, migrate_junit
        from harness.stores.base import parse_payload_index
        from harness.verify import Thresholds, run_verification

        if workers != "auto":
            resolve_workers(workers, 0)  # a bad count is a usage error before any work
        if cluster:
            check_cluster(cluster)

        indexes = dict(parse_payload_index(text) for text in payload_index or ())
        verifier = None
        if indexes:  # the verification checks that the target holds them (schema.payload_indexes)
            verifier = partial(run_verification, thresholds=Thresholds.model_validate({"payload_indexes": indexes}))
        reports: dict[Path, Renderer] = {}
        if html is not None:
            reports[html] = migrate_html
        if junit is not None:
            reports[junit] = migrate_junit
        return migrate_command(
            source=source,
            target=target,
            journal=journal,
            batch_size=batch_size,
            resume=resume,
            json_path=json,
            verifier=verifier or run_verification,
            into_existing=into_existing,
            workers=workers,
            cluster=cluster,
            reports=reports,
            payload_indexes=indexes,
        )

    _run(body)


@app.command("run")
def run_migration(
    config: Annotated[
        Path, typer.Option(metavar="FILE.toml", help="migration.toml: stores, flags, metrics, alerts, canary.")
    ],
    resume: Annotated[bool, typer.Option(metavar="", help="Continue the migration its journal holds.")] = False,
) -> None:
    """Run the migration as a controller process. Exit 0 completed, 1 rolled back or blocked, 2 error."""

    def body() -> int:
        from harness.control import run_command

        return run_command(config, resume)

    _run(body)


JournalOption = Annotated[
    Path, typer.Option(metavar="PATH", help="The migration's journal (the `journal` of its config).")
]


@app.command()
def status(
    journal: JournalOption,
    json: Annotated[bool, typer.Option("--json", metavar="", help="Print the status as JSON.")] = False,
) -> None:
    """Where a migration stands: phase, reads on target, write mode, health checks, outbox, orphaned writes."""

    def body() -> int:
        from harness.control import status_command

        return status_command(journal, json)

    _run(body)


WaitOption = Annotated[
    float, typer.Option(min=0, metavar="SECONDS", help="Wait up to this many seconds for the controller to take it.")
]


@app.command()
def rollback(
    journal: JournalOption,
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why (journaled and alerted).")],
    wait: WaitOption = 0.0,
) -> None:
    """Roll the running migration back: reads to 0 % at its next health check, dual-write kept."""

    def body() -> int:
        from harness.control import request_command

        return request_command(journal, "rollback", reason, wait)

    _run(body)


@app.command()
def pause(journal: JournalOption, wait: WaitOption = 0.0) -> None:
    """Hold the running migration at its canary step (health checks and rollbacks go on) until resumed."""

    def body() -> int:
        from harness.control import request_command

        return request_command(journal, "pause", None, wait)

    _run(body)


@app.command()
def resume(journal: JournalOption, wait: WaitOption = 0.0) -> None:
    """Let a paused migration go on."""

    def body() -> int:
        from harness.control import request_command

        return request_command(journal, "resume", None, wait)

    _run(body)


@app.command()
def gameday(
    scenario: Annotated[
        list[str] | None, typer.Option(metavar="NAME", help="Run only this scenario (repeatable).")
    ] = None,
    html: Annotated[Path | None, typer.Option(metavar="PATH", help="Write the HTML report here.")] = None,
    json: Annotated[Path | None, typer.Option("--json", metavar="PATH", help="Write the JSON verdict here.")] = None,
    junit: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Write JUnit XML here (one testcase per scenario).")
    ] = None,
) -> None:
    """Run the game-day scenarios on the embedded stack. Exit 0 when every scenario met its expectation."""

    def body() -> int:
        from harness.reporting.gameday import gameday_command

        return gameday_command(scenarios=scenario or [], html=html, json_path=json, junit=junit)

    _run(body)


@app.command()
def plan(
    config: Annotated[Path, typer.Option(metavar="FILE.toml", help="The migration config (migration.toml).")],
    out: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Write the runbook (Markdown) here instead of stdout.")
    ] = None,
) -> None:
    """Render the migration runbook from the same config the orchestrator runs."""

    def body() -> int:
        from harness.reporting.runbook import plan_command

        return plan_command(config=config, out=out)

    _run(body)


@app.command("serve-pinecone")
def serve_pinecone(
    host: Annotated[str, typer.Option(metavar="HOST", help="Interface to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port for the control and data planes.")] = 5080,
    data_dir: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Persist indexes here (in memory without it).")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(metavar="KEY", envvar="RAGMIG_PINECONE_SERVER_KEY", help="Require this Api-Key header."),
    ] = None,
) -> None:
    """A Pinecone-compatible server (control plane + data plane) for offline runs."""

    def body() -> int:
        from harness.pinecone_local.server import serve

        serve(host=host, port=port, data_dir=data_dir, api_key=api_key)
        return 0

    _run(body)


@app.command("serve-qdrant")
def serve_qdrant(
    data_dir: Annotated[
        Path, typer.Option(metavar="DIR", help="One Qdrant Edge shard directory per collection lives here.")
    ],
    host: Annotated[
        str, typer.Option(metavar="HOST", help="Interface to bind (loopback by default; others need --api-key).")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option(metavar="PORT", help="Port of the REST API (Qdrant's default).")] = 6333,
    api_key: Annotated[
        str | None,
        typer.Option(metavar="KEY", envvar="RAGMIG_QDRANT_SERVER_KEY", help="Require this key (api-key header)."),
    ] = None,
    read_only_api_key: Annotated[
        str | None,
        typer.Option(
            metavar="KEY", envvar="RAGMIG_QDRANT_SERVER_READ_ONLY_KEY", help="Also accept this key for reads."
        ),
    ] = None,
    optimize_after: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="Build a collection's HNSW graph after its writes are quiet this long (s; 0: on request).",
        ),
    ] = 1.0,
) -> None:
    """A Qdrant-compatible REST server over Qdrant Edge, so several processes can share collections."""

    def body() -> int:
        from harness.qdrant_server.server import serve

        serve(
            host=host,
            port=port,
            data_dir=data_dir,
            api_key=api_key,
            read_only_api_key=read_only_api_key,
            optimize_quiet_s=optimize_after,
        )
        return 0

    _run(body)


@app.command()
def bench(
    only: Annotated[
        list[str] | None, typer.Option(metavar="NAME", help="Run only this benchmark (repeatable).")
    ] = None,
    limit: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=BOUND",
            help="Also require NAME's figure to meet BOUND, e.g. 'pinecone_query_qps=>= 100' (repeatable; "
            "tightens a gate, never loosens one).",
        ),
    ] = None,
    json: Annotated[Path | None, typer.Option("--json", metavar="PATH", help="Write the benchmark JSON here.")] = None,
) -> None:
    """Print the benchmark table (each figure a ratio against its limit). Exit 0 all within limits, 1 otherwise."""

    def body() -> int:
        from rich.console import Console
        from rich.table import Table

        from harness.benchmarks import BenchResult, parse_limit, run_benchmarks, to_json
        from harness.outputs import check_writable, write_text_atomic

        limits = dict(parse_limit(text) for text in limit or [])
        if json is not None:
            check_writable(json, "--json")
        rich_console = Console()
        table = Table(title="ragmig bench")
        for col in ("benchmark", "value", "unit", "target", "ok", "details"):
            table.add_column(col)

        def show(r: BenchResult) -> None:
            console.say(f"{r.name}: {r.value:.4g} {r.unit} (target {r.target}) {'ok' if r.ok else 'NOT OK'}")
            table.add_row(
                r.name,
                f"{r.value:.4g}",
                r.unit,
                r.target,
                "yes" if r.ok else "NO",
                str(r.details.get("error", ""))[:80],
            )

        results = run_benchmarks(only or [], on_result=show, limits=limits)
        if console.verbosity() > console.QUIET:
            rich_console.print(table)
        if json is not None:
            write_text_atomic(json, to_json(results) + "\n")
            console.say(f"wrote {json}")
        missed = [r.name for r in results if not r.ok]
        console.verdict_line(
            f"bench: {len(results) - len(missed)}/{len(results)} figures within their limits"
            + (f"; missed: {', '.join(missed)}" if missed else "")
        )
        return 1 if missed else 0

    _run(body)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option(metavar="DIR", help="Where the reports go.")] = Path("reports"),
) -> None:
    """The main job on the embedded default: Pinecone-compatible source → Qdrant Edge, under load, certified."""

    def body() -> int:
        from harness.demo import run_demo

        return run_demo(out_dir=out_dir)

    _run(body)


def main() -> None:
    """Console-script entry point (user errors are turned into exit 2 by each command's ``_run``).

    ``migrate`` may verify on Dask workers, whose parity keys of string ids must equal this process's
    (``Engine.check_same_hashing``): without a ``PYTHONHASHSEED`` it restarts itself once with the
    workers' seed (``harness.parallel.engine.hash_seed_env``)."""
    if "migrate" in sys.argv[1:] and not os.environ.get("PYTHONHASHSEED"):
        from harness.parallel.engine import hash_seed_env

        os.execve(
            sys.executable,
            [sys.executable, "-m", "harness.cli", *sys.argv[1:]],
            {**os.environ, **hash_seed_env()},
        )
    app()


if __name__ == "__main__":
    main()
