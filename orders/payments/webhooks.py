"""POST /stripe/webhook/: verify, store once, answer at once; a Celery task does the work."""

from django.http import HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import gateway
from . import events


@csrf_exempt
@require_POST
def stripe_webhook(request):
    try:
        event = gateway.construct_event(request.body, request.headers.get("Stripe-Signature"))
    except gateway.InvalidWebhook as exc:
        return HttpResponseBadRequest(f"Invalid webhook: {exc}", content_type="text/plain")
    if not isinstance(event.get("id"), str) or not event["id"] or not event.get("type"):
        return HttpResponseBadRequest("The event has no id or type.", content_type="text/plain")
    # A replay (already stored) is answered 200 too, so Stripe stops sending it.
    events.record_stripe_event(event=event)
    return HttpResponse("ok", content_type="text/plain")
