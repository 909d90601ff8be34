from celery import shared_task

from . import processing


# Idempotent (a claim with a lease; publishing checks the claim is still ours), so a worker
# lost mid-transcode hands the video back, never half-published.
@shared_task(
    name="shopfeed.feed.tasks.process_video_task",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
)
def process_video_task(video_id: int) -> None:
    processing.process_video(video_id=video_id)


@shared_task(name="shopfeed.feed.tasks.sweep_videos_task", acks_late=True)
def sweep_videos_task() -> None:
    stale, _ = processing.sweep_videos()
    for video_id in stale:
        process_video_task.delay(video_id)
