"""``python -m chalicelib.ops``: the operator's commands (docs/OPERATIONS.md, the runbook), on the adapters
the app uses, chosen by the same environment (Settings.from_env): locally the SQLite store and the embedded
queue under ``$DATA_DIR``; deployed, ``TABLE_NAME`` and ``ACTIVITY_QUEUE_URL`` with the caller's AWS
credentials.

    dead-letters list                        the kept dead letters, one JSON line each
    dead-letters show MESSAGE_ID             one of them, whole (its body included)
    dead-letters replay (MESSAGE_ID ... | --all)    back into the activity queue, then forgotten
    dead-letters discard MESSAGE_ID ...      forgotten without a replay (a message that can never apply)
    stats rebuild (SUB ... | --all) [--settle SECONDS] [--dry-run]    STATS recomputed from items
    region (status | fail | restore)         this region's switch, which GET /health reports (503: failed)

Exit status 0 when everything asked for was done, 1 when something was not (each line says what).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any
from typing import TextIO

from chalicelib import wiring
from chalicelib.errors import AppError
from chalicelib.tasks.stats import DEFAULT_SETTLE_SECONDS
from chalicelib.tasks.stats import Rebuilt
from chalicelib.tasks.stats import ShardedStats
from chalicelib.vocabulary import REGION_FAILED
from chalicelib.vocabulary import REGION_SERVING


def main(argv: Sequence[str] | None = None, services: wiring.Services | None = None, out: TextIO = sys.stdout) -> int:
    """Run one command; ``services``: the app's (the process's, from the environment) unless given."""
    args = _parser().parse_args(argv)
    own = services is None
    services = services if services is not None else wiring.services()
    try:
        return int(args.run(services, args, out))
    finally:
        if own:
            wiring.reset()  # stops the embedded queue's worker, if a replay started one


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.ops", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    letters = commands.add_parser("dead-letters", help="inspect, replay or discard kept dead letters")
    actions = letters.add_subparsers(required=True, metavar="ACTION")
    actions.add_parser("list", help="every kept dead letter, one JSON line each").set_defaults(run=_list)
    show = actions.add_parser("show", help="one kept dead letter, whole")
    show.add_argument("message_id")
    show.set_defaults(run=_show)
    replay = actions.add_parser("replay", help="send kept dead letters back into the activity queue")
    _ids_or_all(replay, "message_ids", "MESSAGE_ID", "every kept dead letter")
    replay.set_defaults(run=_replay)
    discard = actions.add_parser("discard", help="forget kept dead letters without replaying them")
    discard.add_argument("message_ids", nargs="+", metavar="MESSAGE_ID")
    discard.set_defaults(run=_discard)

    stats = commands.add_parser("stats", help="the STATS counters")
    stats_actions = stats.add_subparsers(required=True, metavar="ACTION")
    rebuild = stats_actions.add_parser("rebuild", help="recompute users' STATS from their items")
    _ids_or_all(rebuild, "subs", "SUB", "every user (a full-table scan: run it off-peak)")
    rebuild.add_argument(
        "--settle",
        type=float,
        default=DEFAULT_SETTLE_SECONDS,
        metavar="SECONDS",
        help=f"a difference is corrected only if seen again this long after (default {DEFAULT_SETTLE_SECONDS:g})",
    )
    rebuild.add_argument("--dry-run", action="store_true", help="report the differences, correct nothing")
    rebuild.set_defaults(run=_rebuild)

    region = commands.add_parser("region", help="this region's switch (REGION_SWITCH_PARAMETER, else a local file)")
    region_actions = region.add_subparsers(required=True, metavar="ACTION")
    for action, state, said in (
        ("status", None, "print it"),
        ("fail", REGION_FAILED, "GET /health answers 503"),
        ("restore", REGION_SERVING, "GET /health answers 200"),
    ):
        region_actions.add_parser(action, help=said).set_defaults(run=_region, state=state)
    return parser


def _ids_or_all(parser: argparse.ArgumentParser, dest: str, metavar: str, every: str) -> None:
    parser.add_argument(dest, nargs="*", metavar=metavar)
    parser.add_argument("--all", action="store_true", help=every)


def _chosen(args: argparse.Namespace, dest: str) -> list[str] | None:
    """The ids named, or None for --all; refuses both or neither."""
    named = getattr(args, dest)
    if bool(named) == bool(args.all):
        raise SystemExit(f"name at least one {dest[:-1].replace('_', ' ')}, or --all (not both)")
    return None if args.all else named


# --- the region switch ---------------------------------------------------------------------------


def _region(services: wiring.Services, args: argparse.Namespace, out: TextIO) -> int:
    switch = services.region_switch
    try:
        if args.state is not None:
            switch.set(args.state)
        out.write(switch.read_now() + "\n")
    except AppError as error:
        out.write(f"region switch: {error.detail}\n")
        return 1
    return 0


# --- dead letters ----------------------------------------------------------------------------------


def _list(services: wiring.Services, args: argparse.Namespace, out: TextIO) -> int:
    for record in services.dead_letters.list():
        out.write(json.dumps(_summary(record)) + "\n")
    return 0


def _show(services: wiring.Services, args: argparse.Namespace, out: TextIO) -> int:
    record = services.dead_letters.get(args.message_id)
    if record is None:
        out.write(f"{args.message_id}: no such dead letter\n")
        return 1
    out.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return 0


def _replay(services: wiring.Services, args: argparse.Namespace, out: TextIO) -> int:
    letters = services.dead_letters
    chosen = _chosen(args, "message_ids")
    ids = chosen if chosen is not None else [record["message_id"] for record in letters.list()]
    status = 0
    for message_id in ids:
        sent = letters.replay(message_id, services.queue)
        if sent is None:
            out.write(f"{message_id}: no such dead letter\n")
            status = 1
        else:
            out.write(f"{message_id}: replayed as message {sent}\n")
    return status


def _discard(services: wiring.Services, args: argparse.Namespace, out: TextIO) -> int:
    status = 0
    for message_id in args.message_ids:
        if services.dead_letters.discard(message_id):
            out.write(f"{message_id}: discarded\n")
        else:
            out.write(f"{message_id}: no such dead letter\n")
            status = 1
    return status


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(record.get("body") or "")
    except ValueError:
        body = None
    event = body if isinstance(body, dict) else {}
    names = ("message_id", "dead_lettered_at", "receive_count", "failures", "first_failure", "last_failure", "sub")
    return {
        **{name: record.get(name) for name in names},
        "event": {name: event.get(name) for name in ("id", "type", "item_id", "at")} if event else None,
    }


# --- stats -----------------------------------------------------------------------------------------


def _rebuild(services: wiring.Services, args: argparse.Namespace, out: TextIO) -> int:
    rebuild = services.stats_rebuild
    rebuild.settle = args.settle
    chosen = _chosen(args, "subs")
    # A dead-lettered event is not in STATS yet: a rebuild would count its item, and the replay would
    # count it again. Such users wait until their dead letters are replayed (or discarded).
    waiting: dict[str, int] = {}
    for record in services.dead_letters.list():
        sub = record.get("sub")
        if isinstance(sub, str):
            waiting[sub] = waiting.get(sub, 0) + 1
    status = 0
    for sub in chosen if chosen is not None else rebuild.users():
        if sub in waiting:
            out.write(f"{sub}: skipped, {waiting[sub]} dead letter(s) of theirs wait for a replay; replay first\n")
            status = 1
            continue
        try:
            outcome = rebuild.rebuild(sub, correct=not args.dry_run)
        except ShardedStats as refused:
            out.write(f"{refused}\n")
            return 2
        out.write(_reported(outcome, dry_run=args.dry_run) + "\n")
        if not outcome.settled:
            status = 1
    return status


def _reported(outcome: Rebuilt, *, dry_run: bool) -> str:
    if not outcome.settled:
        return f"{outcome.sub}: the counters kept moving (a busy user); nothing changed, run it again later"
    if not outcome.corrected:
        return f"{outcome.sub}: counters match the items"
    changes = ", ".join(
        f"{name} {outcome.found[name]} -> {outcome.found[name] + amount} ({amount:+d})"
        for name, amount in outcome.corrected.items()
    )
    return f"{outcome.sub}: {'would correct' if dry_run else 'corrected'} {changes}"


if __name__ == "__main__":
    raise SystemExit(main())
