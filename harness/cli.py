"""``ragmig``: certify, migrate, run, status, rollback, pause, resume, gameday, plan, serve-pinecone, serve-qdrant, bench
(contracts in design.md).

Commands import their implementation lazily so ``ragmig --help`` stays fast. A mistake the user can
make (``UsageError``) prints one line on stderr and exits 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from harness.errors import UsageError
from harness.redact import redact_text

app = typer.Typer(
    name="ragmig",
    help="Certify, gate and rehearse a vector-database migration for a RAG system.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _run(body: Callable[[], int]) -> None:
    """Run a command body, turning user errors into one line on stderr and exit code 2."""
    try:
        code = body()
    except UsageError as exc:
        typer.echo(f"ragmig: error: {redact_text(str(exc))}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("ragmig: interrupted", err=True)
        raise typer.Exit(130) from None
    raise typer.Exit(code)


@app.command()
def certify(
    source: Annotated[str, typer.Option(help="Source store URI.")],
    target: Annotated[str, typer.Option(help="Target store URI.")],
    queries: Annotated[int, typer.Option(min=1, help="Number of queries sampled from the source.")] = 200,
    k: Annotated[int, typer.Option(min=1, help="Neighbours per query for recall and overlap.")] = 10,
    thresholds: Annotated[Path | None, typer.Option(help="TOML file overriding the default gates.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")] = None,
    json: Annotated[Path | None, typer.Option("--json", help="Write the JSON verdict here.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here.")] = None,
) -> None:
    """Run the certification suite (schema, parity, quality, latency). Exit 0 pass, 1 findings, 2 error."""

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
        )

    _run(body)


@app.command()
def migrate(
    source: Annotated[str, typer.Option(help="Source store URI.")],
    target: Annotated[str, typer.Option(help="Target store URI.")],
    journal: Annotated[Path, typer.Option(help="SQLite journal (checkpoints, outbox, events).")] = Path(
        "ragmig-journal.sqlite"
    ),
    batch_size: Annotated[int, typer.Option(min=1, help="Records per backfill batch.")] = 1000,
    resume: Annotated[bool, typer.Option(help="Resume from the journal's last checkpoint.")] = False,
    json: Annotated[Path | None, typer.Option("--json", help="Write the JSON verdict here.")] = None,
) -> None:
    """Dual-write-safe backfill with a durable checkpoint, then verification. Exit 0 verified, 1 failed, 2 error."""

    def body() -> int:
        from harness.migration.run import migrate_command

        return migrate_command(
            source=source,
            target=target,
            journal=journal,
            batch_size=batch_size,
            resume=resume,
            json_path=json,
        )

    _run(body)


@app.command("run")
def run_migration(
    config: Annotated[Path, typer.Option(help="migration.toml: stores, flags, metrics, alerts, canary.")],
    resume: Annotated[bool, typer.Option(help="Continue the migration its journal holds.")] = False,
) -> None:
    """Run the migration as a controller process. Exit 0 completed, 1 rolled back or blocked, 2 error."""

    def body() -> int:
        from harness.control import run_command

        return run_command(config, resume)

    _run(body)


JournalOption = Annotated[Path, typer.Option(help="The migration's journal (the `journal` of its config).")]


@app.command()
def status(
    journal: JournalOption,
    json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Where a migration stands: phase, reads on target, write mode, health checks, outbox, orphaned writes."""

    def body() -> int:
        from harness.control import status_command

        return status_command(journal, json)

    _run(body)


WaitOption = Annotated[float, typer.Option(min=0, help="Wait up to this many seconds for the controller to take it.")]


@app.command()
def rollback(
    journal: JournalOption,
    reason: Annotated[str, typer.Option(help="Why (journaled and alerted).")],
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
    scenario: Annotated[list[str] | None, typer.Option(help="Run only this scenario (repeatable).")] = None,
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    json: Annotated[Path | None, typer.Option("--json", help="Write the JSON verdict here.")] = None,
) -> None:
    """Run the game-day scenarios on the embedded stack. Exit 0 when every scenario met its expectation."""

    def body() -> int:
        from harness.reporting.gameday import gameday_command

        return gameday_command(scenarios=scenario or [], html=html, json_path=json)

    _run(body)


@app.command()
def plan(
    config: Annotated[Path, typer.Option(help="migration.toml")],
    out: Annotated[Path | None, typer.Option(help="Write the runbook (Markdown) here instead of stdout.")] = None,
) -> None:
    """Render the migration runbook from the same config the orchestrator runs."""

    def body() -> int:
        from harness.reporting.runbook import plan_command

        return plan_command(config=config, out=out)

    _run(body)


@app.command("serve-pinecone")
def serve_pinecone(
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for the control and data planes.")] = 5080,
    data_dir: Annotated[Path | None, typer.Option(help="Persist indexes here (in memory without it).")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="RAGMIG_PINECONE_SERVER_KEY", help="Require this Api-Key header.")
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
    data_dir: Annotated[Path, typer.Option(help="One Qdrant Edge shard directory per collection lives here.")],
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default; others need --api-key).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port of the REST API (Qdrant's default).")] = 6333,
    api_key: Annotated[
        str | None, typer.Option(envvar="RAGMIG_QDRANT_SERVER_KEY", help="Require this key (api-key header).")
    ] = None,
    read_only_api_key: Annotated[
        str | None, typer.Option(envvar="RAGMIG_QDRANT_SERVER_READ_ONLY_KEY", help="Also accept this key for reads.")
    ] = None,
    optimize_after: Annotated[
        float,
        typer.Option(help="Build a collection's HNSW graph after its writes are quiet this long (s; 0: on request)."),
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
    only: Annotated[list[str] | None, typer.Option(help="Run only this benchmark (repeatable).")] = None,
    json: Annotated[Path | None, typer.Option("--json", help="Write the benchmark JSON here.")] = None,
) -> None:
    """Print the benchmark table (each figure a ratio against its limit) and optionally write JSON."""

    def body() -> int:
        from rich.console import Console
        from rich.table import Table

        from harness.benchmarks import BenchResult, run_benchmarks, to_json

        console = Console()
        table = Table(title="ragmig bench")
        for col in ("benchmark", "value", "unit", "target", "ok", "details"):
            table.add_column(col)

        def show(r: BenchResult) -> None:
            console.print(
                f"[dim]{r.name}: {r.value:.4g} {r.unit} (target {r.target}) {'ok' if r.ok else 'NOT OK'}[/dim]"
            )
            table.add_row(
                r.name,
                f"{r.value:.4g}",
                r.unit,
                r.target,
                "yes" if r.ok else "NO",
                str(r.details.get("error", ""))[:80],
            )

        results = run_benchmarks(only or [], on_result=show)
        console.print(table)
        if json is not None:
            json.parent.mkdir(parents=True, exist_ok=True)
            json.write_text(to_json(results) + "\n")
            console.print(f"wrote {json}")
        return 0

    _run(body)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option(help="Where the reports go.")] = Path("reports"),
) -> None:
    """The main job on the embedded default: Pinecone-compatible source → Qdrant Edge, under load, certified."""

    def body() -> int:
        from harness.demo import run_demo

        return run_demo(out_dir=out_dir)

    _run(body)


def main() -> None:
    """Console-script entry point (user errors are turned into exit 2 by each command's ``_run``)."""
    app()


if __name__ == "__main__":
    main()
