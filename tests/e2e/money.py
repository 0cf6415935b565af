"""Exact about money: what must hold after any crash, restart or fault, checked from outside.

``assert_money_exact(discord, kie, db)`` reads the Discord stand-in (every message the bot
ever made, deleted or not), the kie stand-in (every task it made and what it charged) and the
bot's database (jobs, quota reservations and usage), and fails with every broken guarantee
spelled out:

* each image kie made is posted at most once, and a finished job either posted all of its
  images or told its member exactly once why not (a cancelled job posts none);
* each member action (interaction) made at most one job, and each job at most one kie task;
* quota used equals images delivered: a finished job's reservation is settled or refunded and
  charges exactly the images posted, and each usage bucket holds exactly what its jobs charge;
  no reservation is still ``reserved`` once its job has ended, and none exists without a job;
* every credit kie charged is recorded on the job whose task it was (a cancelled job's task
  runs on at kie and is charged too), and no job records credits kie did not charge.

Images are told apart by the stamp the kie stand-in writes into every file it serves
(``read_stamp``: task id and index), so an image is recognised wherever it was posted:
interaction followup, original response or channel message. An image the bot re-encoded to
fit Discord's limit has lost the stamp; it is recognised by its look (a thumbnail compared
with kie's originals, whose colours differ per index) among the tasks of the job its
message's buttons name (``identify``). Tasks are matched to jobs by
the job's task id, else by the job's callback token in the task's ``callBackUrl``, else by
prompt (so give each member action its own prompt when callbacks are off).

``money_report`` returns the same findings without raising; a problem marked ``settling`` may
still resolve itself (a job not yet ended, a charge not yet recorded), the others cannot.
"""

from __future__ import annotations

import functools
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from PIL import Image

from bot.control.quotas import buckets
from bot.control.quotas.ledger import Ledger, Reservation
from bot.control.quotas.rules import Bucket
from bot.jobs.models import Job, JobState
from bot.jobs.store import JobStore
from bot.store.database import Database
from imagine_standins.discord import FakeDiscord, StoredMessage
from imagine_standins.kie import FakeKie, FakeTask, read_stamp
from imagine_standins.kie.images import render_image
from tests.e2e.stack import text_of

__all__ = [
    "JobAccount",
    "MoneyReport",
    "Problem",
    "assert_money_exact",
    "identify",
    "money_report",
]

# Mean squared difference (per channel, 0-255) under which a thumbnail is "the same image".
_SAME_LOOK = 300.0
# How much nearer the best match must be than any other image for the match to count.
_CLEARLY_NEARER = 4.0


def _thumbnail(data: bytes) -> tuple[int, ...] | None:
    """Return an 8×8 RGB thumbnail of an image's bytes (None if they are no image)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (64, 64))
            small = image.convert("RGB").resize((8, 8), Image.Resampling.BOX)
            return tuple(small.tobytes())
    except Exception:  # noqa: BLE001 - anything that is not a readable image
        return None


@functools.lru_cache(maxsize=512)
def _original_thumbnail(size: str, resolution: str, index: int, large: bool) -> tuple[int, ...]:
    thumb = _thumbnail(render_image(size, resolution, index, large))
    assert thumb is not None
    return thumb


def _distance(a: Sequence[int], b: Sequence[int]) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) / len(a)


def identify(data: bytes, tasks: Iterable[FakeTask]) -> tuple[str, int] | None:
    """Return (task id, 0-based index) of the kie result these bytes show, or None.

    The stamp decides when it is there; otherwise the look, among ``tasks``' results. Tasks
    of one shape render the same pictures, so the look only tells which index, and a match
    is given only when it points at one task (pass the tasks of the message's job).
    """
    stamp = read_stamp(data)
    if stamp is not None:
        return stamp
    thumb = _thumbnail(data)
    if thumb is None:
        return None
    scored = []
    for task in tasks:
        if not task.settled or task.fail is not None:
            continue
        size = str(task.input.get("image_size", "square_hd"))
        resolution = str(task.input.get("image_resolution", "1K"))
        for index in range(task.image_count):
            original = _original_thumbnail(size, resolution, index, task.large)
            scored.append((_distance(thumb, original), task.task_id, index))
    if not scored:
        return None
    scored.sort()
    best, task_id, index = scored[0]
    if best > _SAME_LOOK:
        return None
    for distance, other_task, other_index in scored[1:]:
        if distance > best * _CLEARLY_NEARER + 1.0:
            break
        if (other_task, other_index) != (task_id, index):
            return None  # two candidates look alike: no verdict
    return task_id, index


@dataclass(frozen=True)
class Problem:
    """One broken guarantee, in words; ``settling`` if it may still resolve itself."""

    text: str
    settling: bool = False

    def __str__(self) -> str:
        return self.text


@dataclass
class JobAccount:
    """What one job cost and delivered, seen from kie, Discord and the database."""

    job: Job
    tasks: list[FakeTask] = field(default_factory=list)
    #: Image index (0-based) → messages carrying it (deleted ones too).
    posted: dict[int, list[StoredMessage]] = field(default_factory=dict)
    #: Attachments in this job's messages that are no recognisable kie result.
    unidentified: int = 0
    reservation: Reservation | None = None
    #: Live messages that show the job's failure text.
    told: list[StoredMessage] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Return how problems name the job: id and prompt."""
        return f"job {self.job.id[:12]} ({self.job.options.prompt!r})"

    @property
    def images_posted(self) -> int:
        """Return how many distinct images of the job reached Discord."""
        return len(self.posted) + self.unidentified

    @property
    def images_made(self) -> int | None:
        """Return how many images kie made for the job (None: no task, or not finished)."""
        finished = [t for t in self.tasks if t.settled and t.fail is None]
        return sum(t.image_count for t in finished) if finished else None

    @property
    def charged_by_kie(self) -> Decimal:
        """Return the credits kie charged for the job's tasks."""
        return sum((Decimal(str(t.credits_consumed)) for t in self.tasks), Decimal(0))


@dataclass
class MoneyReport:
    """Every job's account and every problem found."""

    accounts: dict[str, JobAccount]
    problems: list[Problem]
    #: Tasks kie made that no job can be matched to.
    orphan_tasks: list[FakeTask]

    @property
    def settled(self) -> bool:
        """Return True when no problem may still resolve itself."""
        return not any(p.settling for p in self.problems)

    def describe(self) -> str:
        """Return the problems, one a line, then each job's figures."""
        return "\n".join([*(f"- {p}" for p in self.problems), self.figures()])

    def figures(self) -> str:
        """Return each job's figures (and kie's tasks of no job), one a line."""
        lines = ["jobs:"]
        for account in self.accounts.values():
            job = account.job
            res = account.reservation
            lines.append(
                f"  {account.name}: {job.state.value}"
                f" tasks={[t.task_id[:8] for t in account.tasks]}"
                f" posted={ {i + 1: len(m) for i, m in sorted(account.posted.items())} }"
                f" images_delivered={job.images_delivered}"
                f" quota={res.state + ':' + str(res.charged) if res else None}"
                f" credits={job.credits_consumed} (kie: {account.charged_by_kie})"
                f" fail={job.fail_code}"
            )
        for task in self.orphan_tasks:
            lines.append(
                f"  kie task {task.task_id[:8]} of no job: {task.credits_consumed} credits"
            )
        return "\n".join(lines)


def _credits(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _by_prompt(prompt: str, jobs: list[Job]) -> Job | None:
    """Return the one job whose prompt kie's prompt starts with (the bot may add a sentence)."""
    matches = [j for j in jobs if prompt.startswith(j.options.prompt.strip())]
    if not matches:
        return None
    longest = max(len(j.options.prompt.strip()) for j in matches)
    best = [j for j in matches if len(j.options.prompt.strip()) == longest]
    return best[0] if len(best) == 1 else None


def _attribute(tasks: Iterable[FakeTask], jobs: list[Job]) -> dict[str, Job | None]:
    """Match each kie task to a job: task id, else callback token, else a unique prompt."""
    by_task = {j.task_id: j for j in jobs if j.task_id}
    found: dict[str, Job | None] = {}
    for task in tasks:
        job = by_task.get(task.task_id)
        if job is None and task.callback_url:
            job = next((j for j in jobs if j.callback_token in task.callback_url), None)
        if job is None:
            job = _by_prompt(str(task.input.get("prompt") or ""), jobs)
        found[task.task_id] = job
    return found


async def money_report(
    discord: FakeDiscord,
    kie: FakeKie,
    db: Database,
    *,
    guild_id: int | Iterable[int] | None = None,
    unknowable_tasks: Iterable[str] = (),
) -> MoneyReport:
    """Check every guarantee; return the accounts and the problems (see the module doc).

    ``unknowable_tasks``: ids of tasks whose createTask answer never reached the bot and
    that carry no callback URL; no bot can learn of them, so their charge is reported but not
    counted as unrecorded.
    """
    if guild_id is None:
        guilds = [discord.world.guild_id]
    else:
        guilds = [guild_id] if isinstance(guild_id, int) else list(guild_id)
    store = JobStore(db)
    ids = [
        r["id"]
        for guild in guilds
        for r in await db.fetch("SELECT id FROM jobs WHERE guild_id = $1", guild)
    ]
    jobs = [job for job_id in ids if (job := await store.get(job_id)) is not None]
    accounts = {job.id: JobAccount(job) for job in jobs}
    problems: list[Problem] = []

    def problem(text: str, *, settling: bool = False) -> None:
        problems.append(Problem(text, settling))

    # -- member actions → jobs → kie tasks ----------------------------------------------------
    per_interaction = Counter(j.interaction.interaction_id for j in jobs if j.interaction)
    for interaction_id, count in per_interaction.items():
        if count > 1:
            problem(f"member action (interaction {interaction_id}) made {count} jobs")
    # One snapshot: the bot may make a task while this report reads the database.
    all_tasks = kie.tasks_created()
    owners = _attribute(all_tasks, jobs)
    orphans = []
    for task in all_tasks:
        owner = owners[task.task_id]
        if owner is None:
            orphans.append(task)
        else:
            accounts[owner.id].tasks.append(task)
    for account in accounts.values():
        if len(account.tasks) > 1:
            problem(
                f"{account.name} made {len(account.tasks)} kie tasks (createTask sent more "
                f"than once): {[t.task_id for t in account.tasks]}"
            )
        task_id = account.job.task_id
        if task_id is not None and task_id not in kie.tasks:
            problem(f"{account.name} names kie task {task_id}, which kie never made")

    # -- images on Discord --------------------------------------------------------------------
    task_owner = {t.task_id: owners[t.task_id] for t in all_tasks}
    for message in discord.messages.values():
        holder = next((a for a in accounts.values() if a.job.id in str(message.components)), None)
        candidates = holder.tasks if holder is not None else all_tasks
        for attachment in message.attachments:
            found = identify(attachment.data, candidates)
            if found is not None and found[0] in task_owner:
                task_id, index = found
                owner = task_owner[task_id]
                if owner is None:
                    problem(
                        f"message {message.id} posts image {index + 1} of kie task "
                        f"{task_id}, which belongs to no job"
                    )
                else:
                    accounts[owner.id].posted.setdefault(index, []).append(message)
                continue
            if holder is None:
                problem(
                    f"message {message.id} carries {attachment.filename!r}, which is no image "
                    "kie made for any job"
                )
            else:
                holder.unidentified += 1

    # -- what each job's member got, and what it was charged ------------------------------------
    ledger = Ledger(db)
    for account in accounts.values():
        job, name = account.job, account.name
        account.reservation = await ledger.get_reservation(job.id)
        if job.fail_message:
            account.told = [
                m
                for m in discord.messages.values()
                if not m.deleted and job.fail_message in text_of(m)
            ]
        for index, messages in sorted(account.posted.items()):
            if len(messages) > 1:
                where = ", ".join(f"{m.kind} message {m.id}" for m in messages)
                problem(f"image {index + 1} of {name} posted {len(messages)} times ({where})")
        posted = account.images_posted
        if not job.state.finished:
            problem(f"{name} has not ended: it is still {job.state.value}", settling=True)
        else:
            made = account.images_made
            expected = made if made is not None else job.options.images
            if job.state is JobState.CANCELLED:
                if posted:
                    problem(f"{name} was cancelled, yet {posted} of its images were posted")
            elif job.state is JobState.DELIVERED and posted == 0:
                problem(f"{name} is delivered, but none of its images was posted")
            elif posted < expected and len(account.told) != 1:
                problem(
                    f"{name} ended {job.state.value} with {posted} of {expected} images "
                    f"posted, and its failure ({job.fail_message!r}) was shown "
                    f"{len(account.told)} times, not once"
                )
            if (job.images_delivered or 0) != posted:
                problem(f"{name} records {job.images_delivered} images delivered; {posted} posted")
        reservation = account.reservation
        if reservation is None:
            problem(f"{name} has no quota reservation")
        elif reservation.state == "reserved":
            if job.state.finished:
                problem(
                    f"quota reservation of {name} is still 'reserved' though the job ended "
                    f"{job.state.value} ({reservation.images} images held)",
                    settling=True,
                )
        elif reservation.charged != posted:
            problem(
                f"quota used {reservation.charged}, delivered {posted}: {name} "
                f"({reservation.state})"
            )

    # -- usage buckets hold exactly what their jobs charge --------------------------------------
    held: dict[tuple[int, Bucket], int] = {}
    for account in accounts.values():
        reservation = account.reservation
        if reservation is None:
            continue
        for bucket in reservation.buckets:
            key = (account.job.guild_id, bucket)
            held[key] = held.get(key, 0) + reservation.charged
    for (guild, bucket), bucket_charge in held.items():
        used = await buckets.used(db, guild, bucket)
        if used != bucket_charge:
            delivered = sum(
                a.images_posted
                for a in accounts.values()
                if a.reservation and bucket in a.reservation.buckets and a.job.guild_id == guild
            )
            problem(
                f"quota used {used} in the {bucket.scope} {bucket.period} bucket of "
                f"{bucket.target_id}, but its jobs charge {bucket_charge} (images delivered: "
                f"{delivered})"
            )
    known = set(accounts)
    reservations = [
        row
        for guild in guilds
        for row in await db.fetch(
            "SELECT job_id, state, charged FROM quota_reservations WHERE guild_id = $1", guild
        )
    ]
    for row in reservations:
        if row["job_id"] not in known:
            problem(
                f"quota reservation {row['job_id']} ({row['state']}, {row['charged']} images) "
                "has no job"
            )

    # -- credits ---------------------------------------------------------------------------------
    # A task a job names is known to the bot after all.
    unknowable = set(unknowable_tasks) - {j.task_id for j in jobs if j.task_id}
    for task in all_tasks:
        if not task.settled:
            owner = owners[task.task_id]
            whose = accounts[owner.id].name if owner else "no job"
            problem(f"kie task {task.task_id} ({whose}) has not finished yet", settling=True)
    for account in accounts.values():
        recorded = _credits(account.job.credits_consumed)
        charged = account.charged_by_kie
        if not account.tasks:
            if recorded:
                problem(f"{account.name} records {recorded} credits, but kie made no task for it")
            continue
        # A task the bot cannot know of may be missing from what the job records.
        knowable = sum(
            (
                Decimal(str(t.credits_consumed))
                for t in account.tasks
                if t.task_id not in unknowable
            ),
            Decimal(0),
        )
        if recorded in (charged, knowable) or (knowable == 0 and recorded is None):
            continue
        tasks = ", ".join(t.task_id for t in account.tasks)
        problem(
            f"{account.name} records {recorded} credits; kie charged {charged} for its task "
            f"{tasks}",
            settling=recorded is None,
        )
    for task in orphans:
        if task.credits_consumed and task.task_id not in unknowable:
            problem(
                f"kie charged {task.credits_consumed} credits for task {task.task_id} "
                f"(prompt {task.input.get('prompt')!r}), which no job records"
            )
    return MoneyReport(accounts, problems, orphans)


async def assert_money_exact(
    discord: FakeDiscord,
    kie: FakeKie,
    db: Database,
    *,
    guild_id: int | Iterable[int] | None = None,
    unknowable_tasks: Iterable[str] = (),
    context: str = "",
) -> MoneyReport:
    """Fail with every broken money guarantee (see the module doc); return the report."""
    report = await money_report(
        discord, kie, db, guild_id=guild_id, unknowable_tasks=unknowable_tasks
    )
    if report.problems:
        head = f"{context}: " if context else ""
        raise AssertionError(f"{head}money is not exact:\n{report.describe()}")
    return report
