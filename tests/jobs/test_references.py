"""Reference images (bot/jobs/references.py): kept with the job, checked, sent, explained."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from bot.i18n import ENGLISH, chinese
from bot.images import DownloadFailed
from bot.images.peek import ImageHead
from bot.jobs import references
from bot.jobs.models import JobOptions, JobState
from bot.jobs.outcomes import Failure
from bot.jobs.references import Reference, expired, expires_at, failure_for_task, problem
from bot.jobs.store import JobStore
from bot.kie import EDIT_MODEL, ImageSize, Resolution, TaskRecord, TaskState
from tests.jobs.test_engine import Rig, rig  # noqa: F401 - fixture

NOW = 1_760_000_000.0


def link(expires: float = NOW + 86_400, name: str = "cat.png") -> str:
    """A Discord attachment link with its expiry, as Discord signs them."""
    return (
        f"https://cdn.discordapp.com/ephemeral-attachments/1/2/{name}"
        f"?ex={int(expires):x}&is={int(expires - 86_400):x}&hm={'ab' * 32}&"
    )


def ref(**changes: Any) -> Reference:
    base = Reference(
        option="image",
        url=link(),
        filename="cat.png",
        size=120_000,
        content_type="image/png",
        width=640,
        height=480,
        proxy_url=link().replace("cdn.discordapp.com", "media.discordapp.net"),
    )
    return replace(base, **changes)


def peeking(head: ImageHead | Exception) -> Any:
    seen: list[str] = []

    async def peek(url: str) -> ImageHead:
        seen.append(url)
        if isinstance(head, Exception):
            raise head
        return head

    peek.seen = seen  # type: ignore[attr-defined]
    return peek


PNG = ImageHead("PNG", 640, 480)


def test_references_round_trip_through_their_column() -> None:
    """What the jobs table keeps is what comes back; a text-to-image job keeps nothing."""
    kept = (ref(), ref(option="image2", result_image=3, content_type=None, width=None))
    assert references.decode(references.encode(kept)) == kept
    assert references.encode(()) is None and references.decode(None) == ()
    # A field a later version adds is ignored by this one.
    stored = '[{"option": "image", "url": "u", "filename": "f", "size": 1, "later": true}]'
    assert references.decode(stored) == (Reference("image", "u", "f", 1),)


def test_repr_never_shows_the_signed_link() -> None:
    """Logs name a reference by option and file, never by its signed URL."""
    assert "hm=" not in repr(ref()) and "cat.png" in repr(ref())


def test_expiry_is_read_from_discords_ex_parameter() -> None:
    """`ex` is hex Unix seconds; a link without one (or a bad one) never counts as expired."""
    assert expires_at(link(expires=NOW)) == int(NOW)
    assert expires_at("https://cdn.discordapp.com/a/1/2/x.png") is None
    assert expires_at("https://cdn.discordapp.com/a/1/2/x.png?ex=zz") is None
    soon = ref(url=link(expires=NOW + 20))
    assert expired([ref(), soon], NOW) is soon  # within the 30 s margin
    assert expired([ref()], NOW) is None
    assert expired([soon], NOW, margin=10) is None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"content_type": "image/gif"}, "`image` is `image/gif`, not a JPEG, PNG or WebP"),
        ({"content_type": "text/plain; charset=utf-8"}, "`text/plain`"),
        ({"size": 10_000_001}, "`image` is 10.0 MB; kie.ai takes images of at most 10 MB"),
        ({"width": 14}, "`image` is only 14×480 pixels; kie.ai needs at least 15"),
        ({"url": link(expires=NOW + 60)}, "`image` can no longer be fetched"),
        ({"option": "image3", "height": 2}, "`image3` is only 640×2 pixels"),
        ({"result_image": 2, "size": 12_000_000}, "image 2 of the earlier result is 12.0 MB"),
    ],
)
async def test_what_discord_says_is_checked_first(changes: dict[str, Any], words: str) -> None:
    """Type, size, pixels and a dying link are refused naming the image, without a look."""
    peek = peeking(PNG)
    refusal = await problem(ref(**changes), now=NOW, peek=peek)
    assert refusal is not None and words in str(refusal)
    assert chinese()(refusal) != ENGLISH(refusal)
    assert peek.seen == []


@pytest.mark.parametrize(
    ("head", "words"),
    [
        (ImageHead("GIF", 640, 480), "`image` is really a GIF image, not a JPEG, PNG or WebP"),
        (ImageHead(None), "`image` is not a JPEG, PNG or WebP image"),
        (DownloadFailed("x: HTTP 404", url="x"), "can no longer be fetched"),
    ],
)
async def test_the_files_own_bytes_decide_next(head: ImageHead | Exception, words: str) -> None:
    """A file named as an image that isn't one, or a link that answers 404, is refused."""
    refusal = await problem(ref(), now=NOW, peek=peeking(head))
    assert refusal is not None and words in str(refusal)


async def test_a_good_reference_passes_and_the_bytes_fill_in_missing_pixels() -> None:
    """A JPEG, PNG or WebP of sane size passes; without Discord's pixels the bytes' count."""
    assert await problem(ref(), now=NOW, peek=peeking(PNG)) is None
    assert await problem(ref(), now=NOW, peek=None) is None
    unknown = ref(width=None, height=None, content_type=None)
    assert await problem(unknown, now=NOW, peek=peeking(ImageHead("WEBP", 800, 600))) is None
    tiny = await problem(unknown, now=NOW, peek=peeking(ImageHead("JPEG", 10, 10)))
    assert tiny is not None and "10×10" in str(tiny)


def failed_record() -> TaskRecord:
    return TaskRecord(
        task_id="t",
        model=EDIT_MODEL,
        state=TaskState.FAIL,
        param="{}",
        fail_code="422",
        fail_msg="image_urls[1] could not be downloaded (HTTP 404)",
    )


async def test_a_failed_edit_task_names_the_reference_kie_could_not_fetch() -> None:
    """Not kie's code: the member learns which picture is gone and what to do."""
    refs = (ref(), ref(option="image2", url=link(name="gone.png")))

    async def peek(url: str) -> ImageHead:
        if "gone" in url:
            raise DownloadFailed("gone: HTTP 404", url="gone")
        return PNG

    failed = await failure_for_task(refs, failed_record(), peek=peek)
    assert failed.failure is Failure.REFERENCE_UNREACHABLE
    assert "kie.ai could not fetch `image2`" in failed.text
    assert "422" not in failed.text and "attach the image again" in failed.text


async def test_a_failed_task_whose_references_are_fine_keeps_kies_reason() -> None:
    """Every reference still there: kie's own failure stands (here, a refused prompt)."""
    failed = await failure_for_task((ref(),), failed_record(), peek=peeking(PNG))
    assert failed.failure is Failure.PROMPT_REFUSED
    assert (await failure_for_task((), failed_record(), peek=None)).failure is (
        Failure.PROMPT_REFUSED
    )


# -- through the engine ------------------------------------------------------------------------


def edit_options(*refs: Reference) -> JobOptions:
    return JobOptions(
        prompt="make it snow",
        size=ImageSize.LANDSCAPE_4_3,
        resolution=Resolution.R1K,  # the rig expects 1K tasks to be quick
        images=2,
        seed=7,
        references=refs,
    )


async def test_an_edit_job_reaches_the_edit_model_with_its_stored_links(rig: Rig) -> None:  # noqa: F811
    """The row keeps the references; createTask sends their URLs, in order, to the edit model."""
    alive = time.time() + 3600
    refs = (ref(url=link(alive)), ref(option="image2", url=link(alive, name="b.png")))
    engine = rig.build()
    job = await rig.admitted(options=edit_options(*refs))
    assert (await JobStore(rig.db).get(job.id)).options.references == refs  # type: ignore[union-attr]
    await engine.start()
    await engine.accept(job)
    done = await rig.wait(job.id)
    await engine.shutdown()
    assert done.state is JobState.DELIVERED, done.fail_message
    [request] = rig.kie.created
    assert request.model == EDIT_MODEL
    assert request.image_urls == tuple(r.url for r in refs)
    assert (request.image_size, request.max_images, request.seed) == ("landscape_4_3", 2, 7)


async def test_a_reference_that_expired_in_line_is_never_sent(rig: Rig) -> None:  # noqa: F811
    """A link dead by the time the job's turn comes: no createTask, refunded, told which."""
    engine = rig.build()
    job = await rig.admitted(options=edit_options(ref(url=link(expires=time.time() - 5))))
    await engine.start()
    await engine.accept(job)
    done = await rig.wait(job.id)
    await engine.shutdown()
    assert done.state is JobState.FAILED and done.fail_code == "reference-expired"
    assert rig.kie.created == [] and rig.ledger.refunded == [job.id]
    [told] = rig.delivery.failures
    assert "The link to `image` expired before kie.ai could fetch it" in told.text


async def test_a_failed_edit_task_is_explained_by_a_look_at_its_references(rig: Rig) -> None:  # noqa: F811
    """kie failed the task and the picture is gone: the member reads that, not kie's code."""
    rig.kie.final = "fail"
    engine = rig.build()
    engine.peek = peeking(DownloadFailed("x: HTTP 404", url="x"))
    job = await rig.admitted(options=edit_options(ref(url=link(expires=time.time() + 3600))))
    await engine.start()
    await engine.accept(job)
    done = await rig.wait(job.id)
    await engine.shutdown()
    assert done.state is JobState.FAILED and done.fail_code == "reference-unreachable"
    assert done.credits_consumed is not None  # kie's charge for the failed task is kept
    assert "kie.ai could not fetch `image`" in rig.delivery.failures[0].text
