"""The as-of page (a review as it stood at a moment, what changed since marked), the
audit pack download and "changes since my sign-off". All are for whoever may read the
review."""

from __future__ import annotations

import re
from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from portal.accounts.models import User
from portal.audit import events
from portal.converters import IdConverter
from portal.permissions import require_object
from reviews import selectors
from reviews.models import Review, SignOff
from reviews.record.asof import NotInRecord
from reviews.record.changed import changes_by_answer
from reviews.record.forms import MomentForm, moment_param
from reviews.record.pack import audit_pack as build_pack
from reviews.record.pack import pack_name
from reviews.record.since import review_as_of_highlighted


def _review(request: HttpRequest, pk: int) -> Review:
    try:
        review = selectors.review_for_page(pk)
    except Review.DoesNotExist:
        raise Http404("No such review.") from None
    require_object(request.user, "reviews.view_review", review)
    return review


def _moment(request: HttpRequest) -> tuple[MomentForm, datetime | None]:
    """The picker and the moment it names: now when none was asked for (the picker then
    shows now), None when what was asked is not a moment (the form says why)."""
    form = MomentForm(request.GET if "at" in request.GET else {})
    if not form.is_valid():
        return form, None
    moment = form.moment()
    # The picker shows the moment to the second (a datetime-local input takes no
    # microseconds); links carry it exactly (forms.moment_param).
    shown = timezone.localtime(moment).replace(microsecond=0, tzinfo=None)
    return MomentForm(initial={"at": shown}), moment


def _page(
    request: HttpRequest,
    review: Review,
    form: MomentForm,
    moment: datetime | None,
    status: int = 200,
) -> HttpResponse:
    """The page: the picker, then the review at the chosen moment (or why there is none)."""
    context: dict[str, object] = {
        "review": review,
        "form": form,
        "moment": moment,
        "printed_at": timezone.now(),
    }
    if moment is None:
        status = 400
    else:
        try:
            context["as_of"] = review_as_of_highlighted(review, moment)
        except NotInRecord as exc:
            context["not_in_record"] = str(exc)
            context["started_at"] = exc.started_at
        else:
            context["pack_url"] = (
                reverse("reviews:audit_pack", args=[review.pk])
                + "?"
                + urlencode({"at": moment_param(moment)})
            )
    return render(request, "reviews/record/as_of.html", context, status=status)


@login_required
@require_GET
def review_as_of(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review(request, pk)
    form, moment = _moment(request)
    return _page(request, review, form, moment)


@login_required
@require_GET
def audit_pack(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The ZIP for the moment asked (now when none); a bad moment shows the as-of page
    with the error, a moment before the review existed says so."""
    review = _review(request, pk)
    form, moment = _moment(request)
    if moment is None:
        return _page(request, review, form, moment)
    assert isinstance(request.user, User)
    try:
        pack = build_pack(review, moment, by=request.user)
    except NotInRecord:
        return _page(request, review, form, moment, status=404)
    events.exported(
        request, what=f"Audit pack of {review}", review=review.pk, moment=moment.isoformat()
    )
    return FileResponse(
        pack,
        as_attachment=True,
        filename=pack_name(review, moment),
        content_type="application/zip",
    )


@login_required
@require_GET
def review_changes_since_signoff(request: HttpRequest, pk: int) -> HttpResponse:
    """What changed in the review since the signed-in person's latest sign-off of it (or
    since the sign-off ``?signoff=<id>`` names, any of this review's), and who changed it."""
    review = _review(request, pk)
    assert isinstance(request.user, User)
    # Every sign-off of the review, newest first: a handful per review (one per role and
    # round), and the page offers them all to compare with.
    signoffs = list(
        SignOff.objects.filter(review=review)
        .select_related("reviewer")
        .order_by("-created_at", "-id")
    )
    for s in signoffs:
        s.review = review  # SignOff.is_current compares with the review already loaded
    context: dict[str, object] = {"review": review, "signoffs": signoffs}
    asked = request.GET.get("signoff")
    if asked:
        if not re.fullmatch(IdConverter.regex, asked):
            context["error"] = (
                "That is not a sign-off: choose one of this review's sign-offs from the list."
            )
            return render(request, "reviews/record/changes_since_signoff.html", context, status=400)
        chosen = next((s for s in signoffs if s.pk == int(asked)), None)
        if chosen is None:  # another review's, or none at all
            raise Http404("No such sign-off of this review.")
    else:
        chosen = next((s for s in signoffs if s.reviewer_id == request.user.pk), None)
    if chosen is not None:
        context["signoff"] = chosen
        context["mine"] = chosen.reviewer_id == request.user.pk
        context["as_of_url"] = (
            reverse("reviews:review_as_of", args=[review.pk])
            + "?"
            + urlencode({"at": moment_param(chosen.created_at)})
        )
        try:
            context["changes"] = changes_by_answer(review, chosen.created_at)
        except NotInRecord as exc:  # a sign-off older than the record (imported data)
            context["not_in_record"] = str(exc)
    else:
        context["as_of_url"] = reverse("reviews:review_as_of", args=[review.pk])
    return render(request, "reviews/record/changes_since_signoff.html", context)
