"""Services, reviews and answering. Permissions come from portal.permissions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from allauth.account.decorators import reauthentication_required
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.audit import events
from portal.permissions import (
    can,
    permission_required,
    require,
    require_object,
)
from reviews import evidence as evidence_services
from reviews import proposals, selectors, services, signoffs, waivers, workspace
from reviews.audits import selectors as audit_selectors
from reviews.checks import selectors as check_selectors
from reviews.checks.collectors import egress
from reviews.forms import (
    AnswerForm,
    CommentForm,
    EvidenceForm,
    MarkMetForm,
    ReviewStartForm,
    ServiceForm,
    SignOffForm,
    WaiverDecisionForm,
    WaiverRequestForm,
    WithdrawEvidenceForm,
)
from reviews.models import (
    Answer,
    Evidence,
    Review,
    ReviewState,
    ReviewVisit,
    Service,
    Waiver,
)
from reviews.pagecache import WORKSPACE
from reviews.portfolio import selectors as portfolio_selectors
from reviews.portfolio.charts import readiness_chart
from reviews.workflow import ACTION_LABELS, IllegalTransition, allowed_actions, allows

logger = logging.getLogger(__name__)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@permission_required("reviews.view_portfolio")
def services_list(request: HttpRequest) -> HttpResponse:
    """The old *My services* address: the portfolio shows a lead's teams' services now."""
    return redirect("reviews:portfolio")


@permission_required("reviews.add_service")
@require_http_methods(["GET", "POST"])
def service_create(request: HttpRequest) -> HttpResponse:
    teams = services.teams_for(_user(request))
    form = ServiceForm(request.POST or None, teams=teams)
    if request.method == "POST":
        if form.is_valid():
            service = services.service_create(by=_user(request), **form.cleaned_data)
            messages.success(request, f"Created {service.name}.")
            typed = (form["slug"].data or "").strip()
            if typed and typed != service.slug:
                messages.info(request, f"“{typed}” was taken: its address is “{service.slug}”.")
            _warn_about_refused_urls(request, form)
            return redirect(service.get_absolute_url())
        return render(request, "reviews/service_form.html", {"form": form}, status=400)
    if not teams:
        messages.warning(request, "You are not in a team yet: ask an admin to add you to one.")
    return render(request, "reviews/service_form.html", {"form": form})


def _warn_about_refused_urls(request: HttpRequest, form: ServiceForm) -> None:
    """Saved, but say so when checks will refuse an address (see checks.collectors.egress)."""
    labels = {name: str(field.label) for name, field in form.fields.items()}
    for warning in egress.service_url_warnings(form.cleaned_data, labels):
        messages.warning(request, warning)


@login_required
def service_detail(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("team"), slug=slug)
    require_object(request.user, "reviews.view_service", service)
    can_start = can(request.user, "reviews.start_review", service)
    return _service_page(request, service, ReviewStartForm() if can_start else None)


def _service_page(
    request: HttpRequest, service: Service, start_form: ReviewStartForm | None, status: int = 200
) -> HttpResponse:
    user = request.user
    can_revoke_tokens = can(user, "reviews.revoke_token", service)
    trend = portfolio_selectors.service_trend(service)
    return render(
        request,
        "reviews/service.html",
        {
            "service": service,
            "reviews": service.reviews.select_related("checklist_version__checklist"),
            "can_change": can(user, "reviews.change_service", service),
            "can_run_checks": can(user, "reviews.run_checks", service),
            "can_manage_tokens": can(user, "reviews.manage_tokens", service),
            "can_revoke_tokens": can_revoke_tokens,
            "start_form": start_form,
            **_service_settings(service),
            "standings": check_selectors.standings_for_page(service),
            "trend": trend,
            "chart": readiness_chart(
                [(p.date, p.readiness) for p in trend], f"Readiness of {service.name}"
            ),
            "tokens": service.tokens.all() if can_revoke_tokens else [],
            **audit_selectors.service_page_context(user, service),
        },
        status=status,
    )


def _service_settings(service: Service) -> dict[str, list[Any]]:
    """The service's links and integration settings: ``settings_shown`` as (label, value,
    link) for each one set, and ``not_set_up``, the labels of the rest (one line on the
    page rather than a row of dashes each)."""
    shown: list[tuple[str, str, str]] = []
    not_set_up: list[str] = []
    for name in (*ServiceForm.LINKS, *ServiceForm.INTEGRATIONS):
        label = str(ServiceForm.base_fields[name].label)
        value: str = getattr(service, name)
        if not value:
            not_set_up.append(label)
        elif name == "repository_url":
            shown.append((label, value, service.repository_link))
        else:
            shown.append((label, value, value if name in ServiceForm.LINKS else ""))
    return {"settings_shown": shown, "not_set_up": not_set_up}


@login_required
@require_http_methods(["GET", "POST"])
def service_edit(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    require_object(request.user, "reviews.change_service", service)
    form = ServiceForm(
        request.POST or None,
        instance=service,
        teams=services.teams_for(_user(request)) or [service.team],
    )
    if request.method == "POST":
        if form.is_valid():
            services.service_update(service=service, by=_user(request), **form.cleaned_data)
            messages.success(request, f"Saved {service.name}.")
            _warn_about_refused_urls(request, form)
            return redirect(service.get_absolute_url())
        return render(
            request, "reviews/service_form.html", {"form": form, "service": service}, status=400
        )
    return render(request, "reviews/service_form.html", {"form": form, "service": service})


@login_required
@require_POST
def review_start(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    require_object(request.user, "reviews.start_review", service)
    form = ReviewStartForm(request.POST)
    if form.is_valid():
        try:
            review = services.review_start(service=service, by=_user(request), **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Review started: answer each item, must-haves first.")
            return redirect(review.get_absolute_url())
    return _service_page(request, service, form, status=400)


def _review(request: HttpRequest, pk: int, perm: str) -> Review:
    try:
        review = selectors.review_for_page(pk)
    except Review.DoesNotExist:
        raise Http404("No such review.") from None
    require_object(request.user, perm, review)
    return review


@login_required
def review_detail(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The workspace: a compact overview of the items; editors open per item. Served from
    the cache while nothing it shows has changed (reviews.pagecache)."""
    # Who may read it needs only the review and its service; the page, when it is not
    # served from the cache, reads the rest.
    review = get_object_or_404(Review.objects.select_related("service"), pk=pk)
    require_object(request.user, "reviews.view_review", review)
    user = _user(request)
    visit = ReviewVisit.record(review, user)
    return WORKSPACE.serve(
        request,
        "review",
        lambda: _review_page(request, selectors.review_for_page(pk), user, visit),
        extra=f"{visit.previous_seen_at}",
    )


def _review_page(
    request: HttpRequest, review: Review, user: User, visit: ReviewVisit
) -> HttpResponse:
    reviewer = bool(signoffs.signable_roles(review, user))
    filters = workspace.filters_for(reviewer=reviewer)
    show = request.GET.get("show", "all")
    if show not in filters:
        show = "all"
    overview = workspace.overview(
        review, user, show, request.GET.get("page"), last_visit=visit.previous_seen_at
    )
    return render(
        request,
        "reviews/review.html",
        {
            "review": review,
            "overview": overview,
            "filters": filters,
            "show_label": filters[show],
            **_review_context(user, review),
            **audit_selectors.review_page_context(user, review),
            "can_change": can(user, "reviews.change_review", review),
            "actions": [
                (action, ACTION_LABELS[action])
                for action in allowed_actions(review)
                if action in ("submit", "withdraw")
            ]
            if can(user, "reviews.change_review", review)
            else [],
        },
    )


def _review_context(user: User, review: Review) -> dict[str, object]:
    """What the summary bar and every editor of ``review`` need (one query: sign-offs)."""
    signoff_list = list(review.signoffs.select_related("reviewer"))
    for signoff in signoff_list:
        signoff.review = review  # is_current compares digests without a query each
    stale = sum(1 for s in signoff_list if s.approves and not s.is_current)
    current = sum(1 for s in signoff_list if s.approves and s.is_current)
    blocker = signoffs.signoff_blocker(review)
    return {
        **_abilities(user, review),
        "signoffs": signoff_list,
        "stale_signoffs": stale,
        "current_approvals": current,
        "required_signoffs": len(review.checklist_version.required_signoff_roles),
        "sign_blocker": blocker,
        "offer_signoff": allows(review, "signoff")
        and bool(signoffs.signable_roles(review, user))
        and can(user, "reviews.sign_review", review),
        "reopen_warning": _reopen_warning(review, current),
        "today": timezone.localdate(),
    }


def _reopen_warning(review: Review, current_approvals: int) -> str:
    """On an approved review, what the first change does, in words ("" otherwise)."""
    if review.state != ReviewState.APPROVED:
        return ""
    stale = (
        f"makes {current_approvals} sign-off{'s' if current_approvals != 1 else ''} stale"
        if current_approvals
        else "it must be signed off again"
    )
    return f"This reopens the review and {stale}."


def _reopen_refused(request: HttpRequest, review: Review) -> bool:
    """A change to an approved review needs the person's say-so (the "reopen" box)."""
    return review.state == ReviewState.APPROVED and request.POST.get("reopen") != "yes"


REOPEN_REFUSAL = "Nothing was saved: tick “Reopen the review” to change an approved review."


def _abilities(user: User, review: Review) -> dict[str, bool]:
    """What ``user`` may do to ``review`` now: their role (portal.permissions) and the
    review's state (reviews.workflow.WRITES), the same rules the services enforce."""
    can_change = can(user, "reviews.change_review", review)
    return {
        # Answers, evidence and exception requests follow the same states.
        "can_edit": can_change and allows(review, "answer"),
        "can_request_exception": can_change and allows(review, "exception_request"),
        "can_comment": can(user, "reviews.comment", review) and allows(review, "comment"),
        "can_decide": can(user, "reviews.decide_waiver", review)
        and allows(review, "exception_decision"),
    }


def _answer_form(answer: Answer, owners: dict[str, object]) -> AnswerForm:
    return AnswerForm(
        owners=owners,
        initial={
            "status": answer.status,
            "justification": answer.justification,
            "notes": answer.notes,
            "owner": str(answer.owner_id or ""),
            "revision": answer.revision,
        },
        prefix=f"a{answer.pk}",
    )


def _editor_answer(review: Review, answer_pk: int) -> Answer:
    try:
        return selectors.answer_for_editor(review, answer_pk)
    except Answer.DoesNotExist:
        raise Http404("No such item in this review.") from None


def _editor(
    request: HttpRequest,
    review: Review,
    answer: Answer,
    *,
    status: int = 200,
    **extra: object,
) -> HttpResponse:
    """The item's editor: a fragment for htmx (with the row and the summary out of band),
    or the item's own page."""
    user = _user(request)
    context = _review_context(user, review)
    if context["can_edit"] and "form" not in extra:
        extra["form"] = _answer_form(answer, selectors.owner_choices(review.service))
    row = workspace.row_for(answer)
    context |= {
        "review": review,
        "answer": answer,
        "row": row,
        "automated": row.checks,
        **extra,
    }
    if request.htmx:  # type: ignore[attr-defined]
        response = render(request, "reviews/_editor_response.html", context, status=status)
    else:
        response = render(request, "reviews/item.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_safe
def item_detail(request: HttpRequest, pk: int, answer_pk: int) -> HttpResponse:
    """One item's editor: in place in the overview (htmx), or as its own page."""
    review = _review(request, pk, "reviews.view_review")
    return _editor(request, review, _editor_answer(review, answer_pk))


@login_required
@require_POST
def answer_save(request: HttpRequest, pk: int, answer_pk: int) -> HttpResponse:
    """Save one answer. With htmx a success swaps nothing but the row, the summary and the
    form's revision (what the person is typing elsewhere stays); 422 invalid, 409 conflict
    or a needed confirmation, each re-rendering the form with what was typed."""
    review = _review(request, pk, "reviews.change_review")
    answer = get_object_or_404(
        Answer.objects.select_related("item__section", "owner"), pk=answer_pk, review=review
    )
    owners = selectors.owner_choices(review.service)
    form = AnswerForm(request.POST, owners=owners, prefix=f"a{answer.pk}")
    status, conflict = 200, None
    if not form.is_valid():
        status = 422
    elif _reopen_refused(request, review):
        form.add_error(None, REOPEN_REFUSAL)
        status = 409
    else:
        try:
            answer = services.answer_update(
                answer=answer,
                change=form.change(),
                based_on_revision=form.cleaned_data["revision"],
                by=_user(request),
            )
        except ValidationError as exc:
            _add_errors(form, exc)
            status = 422
        except services.AnswerConflict as exc:
            # Keep what this person typed; show what the other person saved; the next
            # save (from this form) is a deliberate overwrite of that revision.
            conflict = exc.current
            data = request.POST.copy()
            data[f"a{answer.pk}-revision"] = str(conflict.revision)
            form = AnswerForm(data, owners=owners, prefix=f"a{answer.pk}")
            form.is_valid()
            status = 409
        except IllegalTransition as exc:
            form.add_error(None, str(exc))
            status = 409
    if not request.htmx:  # type: ignore[attr-defined]
        if status == 200:
            messages.success(request, "Answer saved.")
            return redirect(f"{review.get_absolute_url()}#answer-{answer.pk}")
        messages.error(request, "The answer was not saved: see the item below.")
    review.refresh_from_db()
    answer = _editor_answer(review, answer.pk)
    if status == 200 and request.htmx:  # type: ignore[attr-defined]
        context = _review_context(_user(request), review) | {
            "review": review,
            "answer": answer,
            "row": workspace.row_for(answer),
            "form": _answer_form(answer, owners),
        }
        response = render(request, "reviews/_saved.html", context)
        response["HX-Reswap"] = "none"
        return response
    return _editor(request, review, answer, status=status, form=form, conflict=conflict)


@login_required
@require_POST
def mark_met(request: HttpRequest, pk: int, answer_pk: int) -> HttpResponse:
    """ "Checks pass: mark as met": one click sets met and links the passing results."""
    review = _review(request, pk, "reviews.change_review")
    answer = get_object_or_404(Answer.objects.select_related("item"), pk=answer_pk, review=review)
    form = MarkMetForm(request.POST)
    problem = ""
    if not form.is_valid():
        problem = "This button is out of date: reload the page and try again."
    elif _reopen_refused(request, review):
        problem = REOPEN_REFUSAL
    else:
        try:
            proposals.mark_met_from_checks(
                answer=answer, by=_user(request), based_on_revision=form.cleaned_data["revision"]
            )
        except ValidationError as exc:
            problem = " ".join(exc.messages)
        except services.AnswerConflict:
            problem = "Someone changed this answer since the page loaded: look again, then decide."
        except IllegalTransition as exc:
            problem = str(exc)
    if not request.htmx:  # type: ignore[attr-defined]
        if problem:
            messages.error(request, problem)
        else:
            messages.success(request, "Marked as met, with the checks' results as evidence.")
        return redirect(f"{review.get_absolute_url()}#answer-{answer.pk}")
    review.refresh_from_db()
    answer = _editor_answer(review, answer.pk)
    context = _review_context(_user(request), review) | {
        "review": review,
        "answer": answer,
        "row": workspace.row_for(answer),
        "row_notice": problem or "Marked as met, with the checks' results as evidence.",
        "row_problem": bool(problem),
    }
    return render(request, "reviews/_row_response.html", context, status=409 if problem else 200)


@login_required
@require_POST
def review_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Submit or withdraw. Submitting with open must-haves lists them and asks first."""
    review = _review(request, pk, "reviews.change_review")
    if action not in ("submit", "withdraw"):
        messages.error(request, "That is not something you can do to a review here.")
        return redirect(review.get_absolute_url())
    if action == "submit" and review.item_count and review.not_started_count >= review.item_count:
        messages.error(
            request, "Nothing in this review is answered yet: answer its items before submitting."
        )
        return redirect(review.get_absolute_url())
    asks_first = (
        action == "submit"
        and "submit" in allowed_actions(review)
        and review.open_must_haves
        and review.not_started_count < review.item_count
        and request.POST.get("confirm") != "yes"
    )
    if asks_first:
        return render(
            request,
            "reviews/submit_confirm.html",
            {"review": review, "open_items": workspace.open_must_haves(review)},
        )
    try:
        services.review_transition(review=review, action=action, by=_user(request))
    except IllegalTransition as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The review is {ACTION_LABELS[action]}.")
    return redirect(review.get_absolute_url())


# --- evidence, comments, exceptions ----------------------------------------------------------


def _answer(request: HttpRequest, pk: int, answer_pk: int, perm: str) -> tuple[Review, Answer]:
    review = _review(request, pk, perm)
    answer = get_object_or_404(
        Answer.objects.select_related("item", "review"), pk=answer_pk, review=review
    )
    return review, answer


def _back(request: HttpRequest, review: Review, answer: Answer, notice: str) -> HttpResponse:
    """After a change to an item: its editor again (htmx), or its page."""
    if request.htmx:  # type: ignore[attr-defined]
        review.refresh_from_db()
        return _editor(request, review, _editor_answer(review, answer.pk), notice=notice)
    messages.success(request, notice)
    return redirect(reverse("reviews:item", args=[review.pk, answer.pk]))


def _form_error_page(
    request: HttpRequest,
    review: Review,
    answer: Answer,
    form: forms.Form,
    title: str,
    part: str = "",
    part_pk: int | None = None,
) -> HttpResponse:
    """A refused item form: in the editor, with what was typed kept (htmx), or a page.
    An unconfirmed change to an approved review is a conflict (409), as for answers."""
    unconfirmed = REOPEN_REFUSAL in form.non_field_errors()
    if request.htmx and part:  # type: ignore[attr-defined]
        return _editor(
            request,
            review,
            _editor_answer(review, answer.pk),
            status=409 if unconfirmed else 422,
            failed=part,
            failed_pk=part_pk,
            failed_title=title,
            failed_form=form,
            typed=form.data,
        )
    return render(
        request,
        "reviews/answer_form_error.html",
        {"review": review, "answer": answer, "form": form, "title": title},
        status=409 if unconfirmed else 400,
    )


def _refuse_unconfirmed_reopen(request: HttpRequest, review: Review, form: forms.Form) -> bool:
    if _reopen_refused(request, review):
        form.is_valid()
        form.add_error(None, REOPEN_REFUSAL)
        return True
    return False


@login_required
@require_POST
def evidence_add(request: HttpRequest, pk: int, answer_pk: int) -> HttpResponse:
    review, answer = _answer(request, pk, answer_pk, "reviews.change_review")
    form = EvidenceForm(request.POST, request.FILES)

    def add() -> object:
        data = form.cleaned_data
        return evidence_services.evidence_add(
            answer=answer,
            by=_user(request),
            kind=data["kind"],
            url=data["url"],
            note=data["note"],
            upload=data["file"],
            effective_date=data["effective_date"],
            fresh_until=data["fresh_until"],
        )

    if not _refuse_unconfirmed_reopen(request, review, form) and _attempt(form, add):
        return _back(request, review, answer, "Evidence added.")
    return _form_error_page(request, review, answer, form, "Evidence not added", "evidence")


@login_required
@require_POST
def evidence_withdraw(
    request: HttpRequest, pk: int, answer_pk: int, evidence_pk: int
) -> HttpResponse:
    review, answer = _answer(request, pk, answer_pk, "reviews.change_review")
    evidence = get_object_or_404(Evidence, pk=evidence_pk, answer=answer)
    form = WithdrawEvidenceForm(request.POST)
    withdrawn = not _refuse_unconfirmed_reopen(request, review, form) and _attempt(
        form,
        lambda: evidence_services.evidence_withdraw(
            evidence=evidence, by=_user(request), reason=form.cleaned_data["reason"]
        ),
    )
    if withdrawn:
        return _back(request, review, answer, "Evidence withdrawn (it stays in the record).")
    return _form_error_page(
        request, review, answer, form, "Evidence not withdrawn", "withdraw", evidence.pk
    )


@login_required
def evidence_file(request: HttpRequest, evidence_pk: int) -> HttpResponseBase:
    evidence = get_object_or_404(
        Evidence.objects.select_related("answer__review__service"), pk=evidence_pk
    )
    require_object(request.user, "reviews.view_review", evidence.answer.review)
    if not evidence.file:
        raise Http404("This evidence has no file.")
    try:
        stored = evidence.file.open("rb")
    except FileNotFoundError:
        raise Http404("The stored file is missing: ask an admin to restore it.") from None
    except Exception as exc:  # the object store is unreachable (botocore, OSError, …)
        logger.warning("evidence %s could not be read: %s", evidence.pk, exc)
        return HttpResponse(
            "The evidence store cannot be reached just now: try again in a minute.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    events.file_downloaded(
        request, what=evidence.original_name, evidence=evidence.pk, review=evidence.answer.review_id
    )
    response = FileResponse(
        stored,
        as_attachment=True,
        filename=evidence.original_name,
        content_type=evidence.content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def comment_add(request: HttpRequest, pk: int, answer_pk: int) -> HttpResponse:
    review, answer = _answer(request, pk, answer_pk, "reviews.comment")
    form = CommentForm(request.POST)
    added = _attempt(
        form,
        lambda: services.comment_add(
            answer=answer, by=_user(request), body=form.cleaned_data["body"]
        ),
    )
    if added:
        return _back(request, review, answer, "Comment added.")
    return _form_error_page(request, review, answer, form, "Comment not added", "comment")


@login_required
@require_POST
def waiver_request(request: HttpRequest, pk: int, answer_pk: int) -> HttpResponse:
    review, answer = _answer(request, pk, answer_pk, "reviews.change_review")
    form = WaiverRequestForm(request.POST)
    requested = not _refuse_unconfirmed_reopen(request, review, form) and _attempt(
        form, lambda: waivers.waiver_request(answer=answer, by=_user(request), **form.cleaned_data)
    )
    if requested:
        return _back(
            request, review, answer, "Exception requested: a security reviewer or manager decides."
        )
    return _form_error_page(request, review, answer, form, "Exception not requested", "exception")


@login_required
@require_POST
def waiver_decide(request: HttpRequest, pk: int, answer_pk: int, waiver_pk: int) -> HttpResponse:
    review, answer = _answer(request, pk, answer_pk, "reviews.view_review")
    waiver = get_object_or_404(
        Waiver.objects.select_related("answer__review"), pk=waiver_pk, answer=answer
    )
    require(request.user, "reviews.decide_waiver", waiver)
    form = WaiverDecisionForm(request.POST)
    decided = _attempt(
        form,
        lambda: waivers.waiver_decide(
            waiver=waiver,
            by=_user(request),
            approve=form.cleaned_data["decision"] == "approve",
            comment=form.cleaned_data["comment"],
        ),
    )
    if decided:
        return _back(request, review, answer, "Decision recorded.")
    return _form_error_page(
        request, review, answer, form, "Decision not recorded", "decide", waiver.pk
    )


def _add_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _attempt(form: forms.BaseForm, action: Callable[[], object]) -> bool:
    """Run a service call for a valid form; its refusals become the form's errors."""
    if not form.is_valid():
        return False
    try:
        action()
    except ValidationError as exc:
        _add_errors(form, exc)
        return False
    except IllegalTransition as exc:
        form.add_error(None, str(exc))
        return False
    return True


# --- sign-offs and the reviewer queue ------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def signoff(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a sign-off. Whatever would refuse it is said first; only then is a fresh
    re-authentication asked for (with MFA when enrolled)."""
    review = _review(request, pk, "reviews.sign_review")
    user = _user(request)
    refusal = signoffs.signoff_refusal(review, user)
    if refusal:
        raise PermissionDenied(refusal)
    if not allows(review, "signoff"):
        messages.error(
            request,
            f"This review is {review.get_state_display().lower()}: "
            "only submitted reviews are signed off.",
        )
        return redirect(review.get_absolute_url())
    if blocker := signoffs.signoff_blocker(review):
        messages.error(request, blocker)
        return redirect(review.get_absolute_url())
    response: HttpResponse = _signoff_form(request, review)  # allauth's decorator is untyped
    return response


@reauthentication_required
def _signoff_form(request: HttpRequest, review: Review) -> HttpResponse:
    roles = [(role, Role(role).label) for role in signoffs.signable_roles(review, _user(request))]
    form = SignOffForm(request.POST or None, roles=roles)
    recorded = request.method == "POST" and _attempt(
        form,
        lambda: signoffs.signoff_record(review=review, by=_user(request), **form.cleaned_data),
    )
    if recorded:
        messages.success(request, "Sign-off recorded.")
        return redirect(review.get_absolute_url())
    status = 400 if request.method == "POST" else 200
    return render(request, "reviews/signoff.html", {"review": review, "form": form}, status=status)
